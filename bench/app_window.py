"""The real main window for the app's benchmarks (bench/app_denoise.py, bench/app_fps.py):
torch configured as the app does, a QApplication, the window at 1280 × 900 with its settings
in ``settings_file`` (not the user's), shown and its first events processed."""
from __future__ import annotations

import os


def open_window(settings_file: str):
    """``(app, window)``; run under Xvfb (``QT_QPA_PLATFORM=xcb``)."""
    from PySide6.QtWidgets import QApplication

    from gdapp.app import _configure_torch
    from gdapp.views.main_window import MainWindow

    _configure_torch()
    app = QApplication.instance() or QApplication([])
    os.environ.setdefault("GDAPP_SETTINGS", settings_file)
    win = MainWindow()
    win.resize(1280, 900)
    win.show()
    app.processEvents()
    return app, win
