"""Take the screenshots in this folder from the running app (run under Xvfb):

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python docs/screenshots/make_screenshots.py [--lattice-only]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from app_session import OUT, AppSession


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="take the screenshots of docs/app.md")
    ap.add_argument("--lattice-only", action="store_true", help="only the lattice screenshots")
    args = ap.parse_args(argv)
    session = AppSession("/tmp/gdapp-screenshots.ini")
    win, wait, pump, shot = session.win, session.wait, session.pump, session.shot

    if not args.lattice_only:
        molecule_shots(win, wait, pump, shot)
    lattice_shots(win, wait, pump, shot)
    win.close()
    return 0


def molecule_shots(win, wait, pump, shot):
    win.open_demo()
    wait("forward")
    win.player.select("forward")
    win.player.seek(30)
    shot("forward_noising.png")
    win.state.set_params(steps=60)
    win.run_reverse()
    wait("reverse")
    win.docks["steering"].raise_()
    shot("reverse_denoised.png")
    # fixed atoms + ETKDG overlay
    win.fix_smarts("c1ccc(cc1)S(=O)(=O)N")
    win.run_reverse()
    wait("reverse")
    win.steering.compare.setChecked(True)
    t0 = time.time()
    while "RMSD" not in win.steering.rmsd_label.text() and time.time() - t0 < 60:
        pump(0.1)
    shot("conditional_and_etkdg.png")
    win.steering.compare.setChecked(False)
    # quality panel on the generated structure
    win.docks["quality"].raise_()
    job = win.run_quality(posebusters=True)
    while not job.is_done():
        pump(0.1)
    shot("quality.png")
    # styles
    win.state.set_fixed([])
    win.player.select("forward")
    win.player.seek(0)
    win.set_style("space-filling")
    shot("space_filling.png")
    win.set_style("ball-and-stick")
    large_molecule_shot(win, wait, pump, shot)


def large_molecule_shot(win, wait, pump, shot):
    """A 20,003-atom chain: the viewer's lower level of detail (sprites, line bonds)."""
    import tempfile

    sys.path.insert(0, str(OUT.parents[1] / "tests" / "reliability"))
    from reliability_support import polyethylene_pdb

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "polyethylene.pdb"
        polyethylene_pdb(path, 6667)
        win.open_path(str(path))
        wait("forward")
        win.player.select("forward")
        win.player.seek(0)
        shot("large_molecule_lod.png")


def lattice_shots(win, wait, pump, shot):
    # the builder dialog
    dialog = win.lattice_dialog()
    dialog.set_system("skyrmion")
    dialog.set_shape((32, 32))
    pump(0.5)
    dialog.grab().save(str(OUT / "lattice_dialog.png"))
    print("wrote", OUT / "lattice_dialog.png")
    dialog.reject()
    # 10^4-site elastic lattice (thermal + deformation) as line-segment arrows
    win.menus.act_arrows.setChecked(True)
    win.menus.toggle_arrows(True)
    win.build_lattice((100, 100), "elastic", seed=0)
    wait("forward")
    win.player.seek(0)
    shot("lattice_elastic.png")
    win.menus.act_arrows.setChecked(False)
    win.menus.toggle_arrows(False)
    # bending, twist and shear of a bar, with edges
    win.build_lattice((30, 8, 6), "deformation", seed=4)
    wait("forward")
    win.player.seek(0)
    shot("lattice_deformation.png")
    # skyrmions (arrows coloured by m_z)
    win.menus.act_arrows.setChecked(True)
    win.menus.toggle_arrows(True)
    win.build_lattice((32, 32), "skyrmion", seed=3)
    wait("forward")
    win.player.seek(0)
    shot("lattice_skyrmion.png")
    # spin texture denoised by the bundled lattice network
    win.build_lattice((16, 16), "spin", seed=1)
    wait("forward")
    win.state.set_params(steps=60, sampler="ancestral", seed=2)
    win.run_reverse()
    wait("reverse")
    win.docks["spectrum"].raise_()
    shot("lattice_arrows_2d.png")


if __name__ == "__main__":
    sys.exit(main())
