"""The screenshots of issue 27's corners (run under Xvfb):

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots/make_corner_screenshots.py

quality_peptide_running.png  the 108-atom peptide's Quality check while PoseBusters' energy
                             check runs (cheap rows and PoseBusters' quick checks shown)
quality_peptide.png          the same check finished (long SMILES elided in the title)
smiles_failed.png            a SMILES that did not open: kept in the box, marked red
lattice_opened.png           a 16×16 spin lattice right after it opened (framed)
training_loss_key.png        the Training panel after small_test: the loss key above the plot
"""
from __future__ import annotations

import sys
import time

from app_session import AppSession

PEPTIDE = ("CC(C)(C)OC(=O)N[C@@H](Cc1ccccc1)C(=O)N[C@@H](CC(C)C)C(=O)N[C@@H](Cc1c[nH]c2ccccc12)"
           "C(=O)N1CCC[C@H]1C(=O)OCc1ccccc1")


def main() -> int:
    from engine import api

    session = AppSession("/tmp/gdapp-corner-screenshots.ini")
    win, wait, pump, shot = session.win, session.wait, session.pump, session.shot
    win.steering.auto.setChecked(False)
    win.open_smiles(PEPTIDE)
    wait("forward")
    win.player.select("forward")
    win.player.seek(0)
    win.docks["quality"].raise_()
    pump(0.2)
    job = win.run_quality(posebusters=True)
    t0 = time.time()
    while not job.is_done():
        rows = win.quality.rows
        if (any(r.name.startswith("PB: ") and r.value != api.QUALITY_PENDING for r in rows)
                and any(r.value == api.QUALITY_PENDING for r in rows)):
            break
        pump(0.02)
    print(f"PoseBusters' quick checks after {time.time() - t0:.2f} s")
    shot("quality_peptide_running.png", settle=0.05)
    while not job.is_done():
        pump(0.05)
    pump(0.3)
    print(f"all rows after {time.time() - t0:.2f} s")
    shot("quality_peptide.png")

    win.smiles_edit.setText("CC(=O)Oc1ccccc1C(=O")
    win.smiles_edit.returnPressed.emit()
    while win._error_box is None or not win._error_box.isVisible():
        pump(0.05)
    win._error_box.close()
    shot("smiles_failed.png")

    win.docks["steering"].raise_()
    win.build_lattice((16, 16), "spin")
    wait("forward")
    win.player.select("forward")
    win.player.seek(0)
    shot("lattice_opened.png")

    win.docks["training"].raise_()
    panel = win.training
    panel.config_box.setEditText(str(api.resource_path("configs", "small_test.yaml")))
    panel.start()
    ended = []
    panel.controller.runEnded.connect(ended.append)
    while not ended:
        pump(0.1)
    shot("training_loss_key.png")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
