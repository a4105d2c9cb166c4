"""The main window for the screenshot scripts in this folder (run under Xvfb): one
QApplication, one MainWindow at 1280×860, and the helpers every script needs."""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch  # noqa: F401  (before Qt)

OUT = Path(__file__).resolve().parent


class AppSession:
    def __init__(self, settings_file: str, size=(1280, 860)):
        os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
        os.environ.setdefault("GDAPP_SETTINGS", settings_file)
        from PySide6.QtWidgets import QApplication

        from gdapp.app import _configure_torch
        from gdapp.views.main_window import MainWindow

        _configure_torch()
        self.app = QApplication.instance() or QApplication([])
        self.win = MainWindow()
        self.win.resize(*size)
        self.win.show()
        self.finished: list = []
        self.win.state.trajectoryFinished.connect(self.finished.append)

    def pump(self, seconds: float = 0.3):
        t0 = time.time()
        while time.time() - t0 < seconds:
            self.app.processEvents()
            time.sleep(0.01)

    def wait(self, kind: str):
        """Until a trajectory of ``kind`` finishes (counted from the last wait)."""
        self.finished.clear()
        while kind not in self.finished:
            self.pump(0.05)
        self.pump(0.3)

    def shot(self, name: str, settle: float = 0.3):
        from gdapp.views.snapshot import grab_window

        self.pump(settle)
        grab_window(self.win).save(str(OUT / name))
        print("wrote", OUT / name)
