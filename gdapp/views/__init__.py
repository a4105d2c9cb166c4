"""Widgets of the main window (GUI thread only)."""
