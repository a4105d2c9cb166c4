"""Opening structures shows them in the 3D view (checked in rendered pixels)."""
from __future__ import annotations

import numpy as np
from gui_helpers import foreground_fraction

from engine import api
from engine.resources import resource_path


def _red_pixels(img):
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return int(((r > 150) & (g < 80) & (b < 80)).sum())


def test_opening_a_file_draws_its_atoms(qtbot):
    from gdapp.views.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1000, 700)
    with qtbot.waitExposed(win):   # a context manager: called bare it waits for nothing
        win.show()
    empty = win.viewer.image()
    assert foreground_fraction(empty) < 0.001          # nothing drawn yet
    path = resource_path("molecules", "aspirin.sdf")
    with qtbot.waitSignal(win.structureLoaded, timeout=30000):
        win.open_path(str(path))
    img = win.viewer.image()
    assert foreground_fraction(img) > 0.02              # atoms cover the view
    assert _red_pixels(img) > 50                        # aspirin's oxygens are drawn red
    assert win.state.structure.n == 21
    win.close()


def test_smiles_entry_opens_a_molecule(window, qtbot):
    before = window.viewer.image()
    window.smiles_edit.setText("c1ccccc1O")
    with qtbot.waitSignal(window.structureLoaded, timeout=30000):
        window.smiles_edit.returnPressed.emit()
    assert window.state.structure.n == 13               # phenol with hydrogens
    after = window.viewer.image()
    assert foreground_fraction(after) > 0.01
    assert np.abs(after.astype(int) - before.astype(int)).sum() > 0


def test_bad_file_leaves_current_structure_and_shows_error(window, qtbot, tmp_path):
    current = window.state.structure
    bad = tmp_path / "broken.sdf"
    bad.write_text("this is not\na molecule\n$$$$\n")
    with qtbot.waitSignal(window.loadFailed, timeout=30000) as blocker:
        window.open_path(str(bad))
    assert "broken.sdf" in blocker.args[0]
    assert window.state.structure is current
    assert window._error_box is not None and window._error_box.isVisible()
    assert "broken.sdf" in window._error_box.text()
    # the app stays usable: another file opens fine afterwards
    window._error_box.close()
    with qtbot.waitSignal(window.structureLoaded, timeout=30000):
        window.open_path(str(resource_path("molecules", "caffeine.sdf")))
    assert window.state.structure.n == 24


def test_unsupported_suffix_and_missing_file_are_reported(window, qtbot, tmp_path):
    current = window.state.structure
    for path, words in ((tmp_path / "x.docx", "unsupported"), (tmp_path / "nope.sdf", "does not exist")):
        if path.suffix == ".docx":
            path.write_text("x")
        with qtbot.waitSignal(window.loadFailed, timeout=30000) as blocker:
            window.open_path(str(path))
        assert words in blocker.args[0]
        assert window.state.structure is current


def test_recent_files_and_last_folder_are_remembered(window, qtbot):
    path = resource_path("molecules", "ibuprofen.sdf")
    with qtbot.waitSignal(window.structureLoaded, timeout=30000):
        window.open_path(str(path))
    assert window.settings.recent_files()[0] == str(path.resolve())
    assert window.settings.last_folder == str(path.parent)
    texts = [a.text() for a in window.menus.recent_menu.actions()]
    assert str(path.resolve()) in texts


def test_styles_change_the_rendering(window):
    images = {}
    for style in ("ball-and-stick", "licorice", "space-filling"):
        window.set_style(style)
        images[style] = foreground_fraction(window.viewer.image())
    # space-filling spheres cover more of the view than licorice sticks
    assert images["space-filling"] > images["licorice"] * 1.3
    assert all(v > 0.01 for v in images.values())


def test_dynamic_bonds_follow_the_frame(window):
    v = window.viewer
    s = window.state.structure
    stretched = s.positions.copy()
    stretched[0] += np.array([6.0, 0.0, 0.0])           # pull atom 0 far away
    v.set_dynamic_bonds(False)
    v.set_coords(stretched)
    topology_bonds = len(v.bonds_drawn)
    v.set_dynamic_bonds(True)
    v.set_coords(stretched)
    dynamic = len(v.bonds_drawn)
    assert topology_bonds == len(s.edges)
    assert dynamic < topology_bonds                     # atom 0's bonds are broken
    # on the optimised input geometry, distance-perceived bonds are the molecule's bonds
    assert len(api.dynamic_bonds(s.atomic_numbers, s.positions)) == len(s.edges)


def test_lattice_builds_and_draws_points_and_arrows(window, qtbot):
    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=60000,
                          check_params_cb=lambda k: k == "forward"):
        window.build_lattice((12, 10), "random")
    s = window.state.structure
    assert s.kind == "lattice" and s.n == 120
    points = foreground_fraction(window.viewer.image())
    window.menus.act_arrows.setChecked(True)
    window.menus.toggle_arrows(True)
    arrows = foreground_fraction(window.viewer.image())
    assert points > 0.01 and arrows > 0.005
    assert window.viewer._arrow_actor.GetVisibility() and not window.viewer._point_actor.GetVisibility()


def test_screenshot_png_holds_the_view(window, tmp_path):
    from PIL import Image

    out = window.export_png(str(tmp_path / "view.png"))
    img = np.asarray(Image.open(out))
    assert img.shape[0] > 100 and foreground_fraction(img) > 0.02


def _chain_sdf(path, carbons):
    """H-(CH2)n-H with zigzag coordinates in one SDF record (3n + 2 atoms)."""
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    mol = Chem.AddHs(Chem.MolFromSmiles("C" * carbons))
    conf = Chem.Conformer(mol.GetNumAtoms())
    for atom in mol.GetAtoms():
        i = atom.GetIdx()
        if atom.GetAtomicNum() == 6:
            conf.SetAtomPosition(i, Point3D(1.25 * i, 0.45 * (i % 2), 0.0))
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() == 1:
            c = atom.GetNeighbors()[0].GetIdx()
            k = sum(1 for n in mol.GetAtomWithIdx(c).GetNeighbors()
                    if n.GetAtomicNum() == 1 and n.GetIdx() < atom.GetIdx())
            p = conf.GetAtomPosition(c)
            conf.SetAtomPosition(atom.GetIdx(), Point3D(p.x, p.y - 0.6 if k else p.y + 0.6,
                                                        0.9 if k % 2 == 0 else -0.9))
    mol.AddConformer(conf, assignId=True)
    Chem.MolToMolFile(mol, str(path))


def test_a_large_molecule_is_drawn_at_a_lower_level_of_detail(window, qtbot, tmp_path):
    """Above LARGE_MOLECULE atoms the viewer draws point sprites and line bonds: the atoms
    show in the pixels, frames update in place and styles still apply."""
    from gdapp.views.viewer import LARGE_MOLECULE

    path = tmp_path / "chain.sdf"
    carbons = LARGE_MOLECULE // 3 + 20
    _chain_sdf(path, carbons)
    with qtbot.waitSignal(window.structureLoaded, timeout=60000):
        window.open_path(str(path))
    viewer = window.viewer
    assert window.state.structure.n == 3 * carbons + 2 > LARGE_MOLECULE
    assert viewer.level_of_detail == "points"
    img = viewer.image()
    assert foreground_fraction(img) > 0.003             # a thin 600 Å chain across the view
    assert viewer._bonds.n_lines > 3 * carbons          # C-C and C-H bonds as line cells
    moved = viewer.coords + np.array([3.0, 0.0, 0.0])
    viewer.set_coords(moved)
    assert np.allclose(viewer._atoms.points, moved)
    # a scrambled frame: large molecules keep their bond graph (no per-frame perception)
    viewer.set_dynamic_bonds(True)
    viewer.set_coords(np.random.default_rng(0).normal(scale=30.0, size=moved.shape))
    assert viewer._bonds.n_lines == len(window.state.structure.edges)
    small = viewer._point_actor.GetProperty().GetPointSize()
    viewer.set_style("space-filling")
    assert viewer._bonds.n_lines == 0 or not viewer._bond_actor.GetVisibility()
    assert viewer._point_actor.GetProperty().GetPointSize() > small      # bigger sprites
    viewer.set_overlay(viewer.coords + 1.0)                 # the ETKDG ghost, also as sprites
    assert len(viewer._overlay_actors) == 2
    assert all(a.GetMapper().GetInput().n_points == viewer.structure.n for a in viewer._overlay_actors)
    viewer.set_overlay(None)
    assert not viewer._overlay_actors
    # a small molecule goes back to full detail
    with qtbot.waitSignal(window.structureLoaded, timeout=30000):
        window.open_path(str(resource_path("molecules", "aspirin.sdf")))
    assert viewer.level_of_detail == "full"
