"""gdapp: the desktop app for graph-structured diffusion of 3D structures.

Layers (import-linter holds them): ``views`` (widgets) → ``controllers`` (jobs, no widgets)
→ ``state`` (signals) / ``workers`` (threads) → ``jobs`` (slot names); everything reaches
the engine through ``engine.api`` only.
"""
__version__ = "0.1.0"
