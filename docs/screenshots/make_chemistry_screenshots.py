"""Screenshots of the chemistry in the 3D view (issue 16): atom information on a click,
a dihedral measurement, bond orders. Run under Xvfb:

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python docs/screenshots/make_chemistry_screenshots.py
"""
from __future__ import annotations

from app_session import AppSession


def main() -> int:
    import numpy as np

    from engine import api

    session = AppSession("/tmp/gdapp-chem-screenshots.ini")
    win, pump, finished = session.win, session.pump, session.finished

    def shot(name):
        session.shot(name, settle=0.4)

    win.steering.auto.setChecked(False)
    win.open_path(str(api.demo_molecule_path().parent / "caffeine.sdf"))
    while "forward" not in finished:
        pump(0.05)
    win.player.select("forward")
    win.player.seek(0)
    win.viewer.plotter.camera.zoom(1.25)
    win.viewer.render()
    pump(0.5)
    v = win.viewer
    s = win.state.structure

    def click(i):
        x, y = v.display_positions()[i]
        v.click_at(x, y)
        pump(0.2)

    # bond orders: caffeine's two C=O and the ring C=C / C=N drawn as two sticks
    shot("bond_orders.png")
    # atom information: a plain click on a carbonyl oxygen
    oxygen = int(np.flatnonzero(s.atomic_numbers == 8)[0])
    click(oxygen)
    shot("atom_pick_info.png")
    # measuring: M, then four atoms of the ring → a dihedral
    win.menus.act_measure.setChecked(True)
    win.menus.toggle_measure(True)
    # a methyl hydrogen's dihedral about its C–N bond: H–C(methyl)–N–C(ring)
    mol = s.mol
    methyl = next(a for a in mol.GetAtoms() if a.GetAtomicNum() == 6
                  and sum(n.GetAtomicNum() == 1 for n in a.GetNeighbors()) == 3)
    h = next(n.GetIdx() for n in methyl.GetNeighbors() if n.GetAtomicNum() == 1)
    n = next(x for x in methyl.GetNeighbors() if x.GetAtomicNum() == 7)
    c = next(x.GetIdx() for x in n.GetNeighbors() if x.GetIdx() != methyl.GetIdx())
    path = [h, methyl.GetIdx(), n.GetIdx(), c]
    for i in path:
        click(i)
    shot("measure_dihedral.png")
    win.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
