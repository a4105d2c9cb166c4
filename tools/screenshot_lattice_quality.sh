#!/usr/bin/env bash
# docs/screenshots/lattice_quality.png: the Quality tab's per-frame lattice metrics after
# the forward run of a 16x16 spin lattice, taken from an Xvfb screen with xwd
# (apt-get install -y x11-apps imagemagick xvfb).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/screenshots/lattice_quality.png}
export QT_QPA_PLATFORM=xcb
xvfb-run -a -s "-screen 0 1280x860x24" bash -c '
.venv/bin/python - <<PYEOF
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from gdapp.app import _configure_torch
from gdapp.views.main_window import MainWindow

_configure_torch()
app = QApplication(sys.argv)
win = MainWindow()
win.resize(1280, 860)
win.move(0, 0)
win.show()
section = win.quality.lattice

def shoot():
    import os, subprocess
    app.processEvents()
    subprocess.run("xwd -root -display " + os.environ["DISPLAY"] + " | convert xwd:- '"$out"'",
                   shell=True, check=True)
    app.quit()

def lattice_loaded(kind):
    if kind != "forward" or win.state.structure is None or win.state.structure.is_molecule:
        return
    win.docks["quality"].raise_()
    def wait():
        if section.table.rowCount() == len(win.state.trajectories["forward"].frames):
            win.state.trajectoryFinished.disconnect(lattice_loaded)
            QTimer.singleShot(2000, shoot)
        else:
            QTimer.singleShot(100, wait)
    wait()

win.state.trajectoryFinished.connect(lattice_loaded)
win.build_lattice((16, 16), "spin", seed=1)
QTimer.singleShot(120000, app.quit)
app.exec()
PYEOF
'
echo "wrote $out"
