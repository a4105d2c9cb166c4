"""Take docs/screenshots/training_corpus_build.png: the Training panel while Start builds the
``base`` config's corpus (issue 15). Run under Xvfb:

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python docs/screenshots/training_corpus_build.py

The build is stopped after the shot; a corpus folder it created is removed again.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import torch  # noqa: F401  (before Qt)

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
os.environ.setdefault("GDAPP_SETTINGS", "/tmp/gdapp-screenshots.ini")
OUT = Path(__file__).resolve().parent / "training_corpus_build.png"


def main() -> int:
    from PySide6.QtWidgets import QApplication

    from gdapp.app import _configure_torch
    from gdapp.views.main_window import MainWindow
    from gdapp.views.snapshot import grab_window

    _configure_torch()
    app = QApplication.instance() or QApplication([])
    win = MainWindow()
    win.resize(1280, 900)
    win.show()

    def pump(seconds=0.3):
        t0 = time.time()
        while time.time() - t0 < seconds:
            app.processEvents()
            time.sleep(0.01)

    panel = win.training
    win.docks["training"].raise_()
    panel.config_box.setCurrentIndex(panel.config_box.findText("base"))
    pump(0.5)
    job = panel.refresh_plan()
    while not job.is_done():
        pump(0.1)
    pump(0.3)
    corpus = Path(panel.controller.plan.corpus_dir)
    existed = corpus.exists()
    reports = []
    panel.controller.progressed.connect(reports.append)
    panel.start()
    while not [r for r in reports if r.get("phase") == "conformers" and r.get("done", 0) >= 60]:
        pump(0.1)
    pump(1.0)
    grab_window(win).save(str(OUT))
    print("wrote", OUT)
    panel.stop()
    while panel.is_running():
        pump(0.1)
    pump(0.3)
    win.close()
    if not existed:
        shutil.rmtree(corpus, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
