"""Denoise on the bundled demo with the app's defaults, then every check of the Quality tab
(PoseBusters included); writes denoise_quality.png and prints the table (run under Xvfb):

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python docs/screenshots/denoise_quality.py
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch  # noqa: F401  (before Qt)

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
os.environ.setdefault("GDAPP_SETTINGS", "/tmp/gdapp-denoise-quality.ini")
OUT = Path(__file__).resolve().parent


def main() -> int:
    from PySide6.QtWidgets import QApplication

    from engine import api
    from gdapp.app import _configure_torch
    from gdapp.views.main_window import MainWindow
    from gdapp.views.snapshot import grab_window

    _configure_torch()
    app = QApplication.instance() or QApplication([])
    win = MainWindow()
    win.resize(1280, 860)
    win.show()
    finished = []
    win.state.trajectoryFinished.connect(finished.append)

    def pump(seconds=0.3):
        t0 = time.time()
        while time.time() - t0 < seconds:
            app.processEvents()
            time.sleep(0.01)

    def wait(kind):
        finished.clear()
        while kind not in finished:
            pump(0.05)
        pump(0.3)

    win.open_demo()
    wait("forward")
    win.run_reverse()                       # Denoise (F6) with the defaults
    wait("reverse")
    win.docks["quality"].raise_()
    job = win.run_quality(posebusters=True)
    while not job.is_done():
        pump(0.1)
    pump(0.5)
    grab_window(win).save(str(OUT / "denoise_quality.png"))
    final = win.state.trajectories["reverse"].frames[-1]
    rows = api.quality_report(win.state.structure, final)
    for r in rows:
        print(f"{r.name}: {r.value} ({'ok' if r.ok else 'FAIL' if r.ok is False else '-'})")
    win.close()
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
