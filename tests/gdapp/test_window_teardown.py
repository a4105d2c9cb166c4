"""A test's main window is destroyed in that test's teardown (tests/conftest.py), not in
the next test's first event loop, where it was torn down while the next window was being
built and drawn. The two tests run in file order: the first opens a window, the second
looks for it."""
from __future__ import annotations


def test_a_window_is_opened(window):
    assert window.isVisible()


def test_the_previous_tests_window_is_gone_before_this_test_starts(qtbot):
    from PySide6.QtWidgets import QApplication

    left = [type(w).__name__ for w in QApplication.topLevelWidgets()]
    assert "MainWindow" not in left
