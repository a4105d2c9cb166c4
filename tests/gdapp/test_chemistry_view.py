"""Issue 16: what a chemist expects of the 3D view and panels — atom information on a
click, distance/angle/dihedral measuring, bond orders drawn, bad bonds named, tooltips,
version in About, undo, lattice-only controls disabled, layout at 1024×700."""
from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import click_slider_handle, make_active
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from rdkit import Chem


def _open(window, qtbot, name):
    from engine import api

    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=60000,
                          check_params_cb=lambda k: k == "forward"):
        window.open_path(str(api.demo_molecule_path().parent / f"{name}.sdf"))
    return window.state.structure


def _click_atom(qtbot, window, index):
    v = window.viewer
    x, y = v.display_positions()[index]
    qtbot.mouseClick(v.plotter.interactor, Qt.LeftButton, pos=QPoint(int(round(x)), int(round(y))))


def _front_atoms(window, k):
    """k atoms drawn well apart, each the front-most at its pixel (safe to click)."""
    v = window.viewer
    pos = v.display_positions()
    w, h = v.plotter.interactor.width(), v.plotter.interactor.height()
    chosen = []
    for i in np.argsort(np.linalg.norm(pos - [w / 2, h / 2], axis=1)):
        if v.atom_at(*pos[i]) == i and all(np.linalg.norm(pos[i] - pos[j]) > 30 for j in chosen):
            chosen.append(int(i))
        if len(chosen) == k:
            return chosen
    pytest.fail("not enough clickable atoms")


def test_clicking_an_atom_shows_element_index_and_charge(window, qtbot):
    s = _open(window, qtbot, "caffeine")
    window.player.seek(0)
    i = _front_atoms(window, 1)[0]
    with qtbot.waitSignal(window.viewer.atomInfo, timeout=5000) as info:
        _click_atom(qtbot, window, i)
    atom = s.mol.GetAtomWithIdx(i)
    text = info.args[0]
    assert text.startswith(f"{atom.GetSymbol()}{i} (index {i})")
    assert f"formal charge {atom.GetFormalCharge()}" in text.replace("+", "")
    assert window.viewer.info_text == text and text in window.statusBar().currentMessage()
    assert window.viewer.selected == [i] and window.viewer._selection.n_points == 1
    assert window.state.fixed == []                       # a plain click fixes nothing


def test_hovering_an_atom_names_it(window, qtbot):
    s = _open(window, qtbot, "caffeine")
    window.player.seek(0)
    v = window.viewer
    i = _front_atoms(window, 1)[0]
    x, y = v.display_positions()[i]
    QTest.qWait(100)
    QTest.mouseMove(v.plotter.interactor, QPoint(int(round(x)), int(round(y))))
    qtbot.waitUntil(lambda: v.hover_index == i, timeout=3000)
    atom = s.mol.GetAtomWithIdx(i)
    assert v.hover_text.startswith(f"{atom.GetSymbol()}{i} — index {i}, formal charge")
    w, h = v.plotter.interactor.width(), v.plotter.interactor.height()
    corner = QPoint(3, 3) if v.atom_at(3, 3) < 0 else QPoint(w - 3, h - 3)
    QTest.qWait(100)
    QTest.mouseMove(v.plotter.interactor, corner)
    qtbot.waitUntil(lambda: v.hover_index == -1, timeout=3000)
    assert window.state.fixed == [] and v.selected == []   # hovering picks nothing


def test_measuring_distance_angle_and_dihedral(window, qtbot):
    from gdapp import chem

    make_active(qtbot, window)
    s = _open(window, qtbot, "caffeine")
    window.player.seek(0)
    coords = window.viewer.coords
    QTest.keyClick(window.viewer, Qt.Key_M)
    assert window.menus.act_measure.isChecked() and window.viewer.measure_mode
    atoms = _front_atoms(window, 4)
    seen = []
    window.viewer.measurementChanged.connect(seen.append)
    for a in atoms:
        _click_atom(qtbot, window, a)
    d = np.linalg.norm(coords[atoms[1]] - coords[atoms[0]])
    assert f"= {d:.3f} Å" in seen[1] and seen[1].startswith("distance")
    u, w = coords[atoms[0]] - coords[atoms[1]], coords[atoms[2]] - coords[atoms[1]]
    ang = np.degrees(np.arccos(np.dot(u, w) / np.linalg.norm(u) / np.linalg.norm(w)))
    assert seen[2].startswith("angle") and f"= {ang:.1f}°" in seen[2]
    from rdkit.Chem import rdMolTransforms

    mol = s.mol_with_coords(coords)
    dih = rdMolTransforms.GetDihedralDeg(mol.GetConformer(), *atoms)
    assert seen[3].startswith("dihedral")
    assert float(seen[3].split("=")[1].strip().rstrip("°")) == pytest.approx(dih, abs=0.06)
    assert window.viewer._measure_path.n_points == 4
    assert chem.measure(coords, atoms[:2])[1] == pytest.approx(d)
    assert window.state.fixed == []
    QTest.keyClick(window.viewer, Qt.Key_M)
    assert not window.viewer.measure_mode and window.viewer._measure_path.n_points == 0


def test_double_bonds_are_drawn_as_two_sticks(window, qtbot):
    s = _open(window, qtbot, "caffeine")
    window.menus.act_dynamic.setChecked(False)
    window.menus.toggle_dynamic(False)
    window.player.seek(0)
    v = window.viewer
    kek = Chem.Mol(s.mol)
    Chem.Kekulize(kek, clearAromaticFlags=True)
    orders = [kek.GetBondBetweenAtoms(int(i), int(j)).GetBondTypeAsDouble() for i, j in s.edges]
    doubles = sum(1 for o in orders if o == 2)
    assert doubles >= 2                                       # caffeine: two C=O at least
    sticks = len(s.edges) + doubles                          # one per single, two per double
    assert v._bonds.n_points == 2 * sticks                   # two half-cylinders per stick
    # the C=O sticks are thinner and side by side, the same length as the bond
    o_idx = [k for k, (i, j) in enumerate(s.edges)
             if orders[k] == 2 and {s.atomic_numbers[i], s.atomic_numbers[j]} == {6, 8}]
    assert o_idx
    radii = np.asarray(v._bonds.point_data["scale"])[:, 1]
    assert radii.min() < radii.max()
    # and the picture differs from drawing every bond as one stick
    with_orders = v.image()
    v._bond_orders[:] = 1
    v.set_coords(v.coords)
    plain = v.image()
    assert np.abs(with_orders.astype(int) - plain.astype(int)).sum() > 0


def test_quality_names_bad_bonds_and_shows_the_inputs_energy(window, qtbot):
    window.player.select("forward")
    window.player.seek(window.player.count() - 1)
    job = window.run_quality(posebusters=False)
    with qtbot.waitSignal(job.finished, timeout=60000):
        pass
    rows = window.quality.rows
    outliers = int(next(r for r in rows if r.name.startswith("bond-length outliers")).value)
    named = [r for r in rows if r.name.strip().startswith("bad bond")]
    assert outliers > 0 and len(named) == min(outliers, 8)
    s = window.state.structure
    sym = {i: a.GetSymbol() for i, a in enumerate(s.mol.GetAtoms())}
    for r in named:
        pair = r.name.split()[-1]
        a, b = pair.split("–")
        i, j = int(a.lstrip(sym[int(''.join(c for c in a if c.isdigit()))])), int(''.join(c for c in b if c.isdigit()))
        d = np.linalg.norm(window.viewer.coords[i] - window.viewer.coords[j])
        assert r.value.startswith(f"{d:.2f} Å")
    e_in = next(r for r in rows if r.name.startswith("MMFF energy of the input"))
    from rdkit.Chem import AllChem

    mol = Chem.Mol(s.mol)
    props = AllChem.MMFFGetMoleculeProperties(mol)
    ff = AllChem.MMFFGetMoleculeForceField(mol, props)
    assert float(e_in.value) == pytest.approx(ff.CalcEnergy(), abs=0.1)


def test_tooltips_version_and_fixed_atom_grammar(window, qtbot):
    from engine import api
    from gdapp import __version__

    st = window.steering
    for w, word in ((st.lambda_E, "energy"), (st.lambda_G, "smooth"), (st.lambda_A, "bond"),
                    (st.scale, "λ")):
        assert word in w.toolTip()
    for i, name in enumerate(api.sampler_names()):
        tip = st.sampler.itemData(i, Qt.ToolTipRole)
        assert tip and tip.startswith(name) and len(tip) > len(name) + 20
    box = window.show_about()
    assert f"gdapp {__version__}" in box.text()
    box.close()
    window.state.set_fixed([3])
    assert st.fixed_label.text() == "1 atom fixed"
    window.state.set_fixed([3, 4])
    assert st.fixed_label.text() == "2 atoms fixed"


def test_undo_fixed_atoms_and_slider_changes(window, qtbot):
    make_active(qtbot, window)
    window.steering.auto.setChecked(False)
    window.fix_smarts("S(=O)(=O)N")
    fixed = list(window.state.fixed)
    assert fixed
    slider = window.steering.lambda_E.slider
    click_slider_handle(qtbot, slider)
    start_pos, start_value = slider.value(), window.state.params.lambda_E
    for _ in range(5):
        QTest.keyClick(slider, Qt.Key_Left)
    assert slider.value() == start_pos - 5 and window.state.params.lambda_E != start_value
    QTest.keyClick(window.viewer, Qt.Key_Z, Qt.ControlModifier)     # one step: the slider
    assert window.state.params.lambda_E == start_value and slider.value() == start_pos
    assert window.state.fixed == fixed
    QTest.keyClick(window.viewer, Qt.Key_Z, Qt.ControlModifier)     # then the fixed atoms
    assert window.state.fixed == [] and window.viewer.fixed == []
    QTest.keyClick(window.viewer, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert window.state.fixed == fixed


def test_lattice_disables_smarts_etkdg_and_posebusters(window, qtbot):
    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=60000,
                          check_params_cb=lambda k: k == "forward"):
        window.build_lattice((8, 8), "spin")
    st, q = window.steering, window.quality
    for w in (st.smarts, st.smarts_btn, st.compare, q.posebusters):
        assert not w.isEnabled() and ("lattice" in w.toolTip().lower())
    _open(window, qtbot, "caffeine")
    for w in (st.smarts, st.smarts_btn, st.compare, q.posebusters):
        assert w.isEnabled()


def test_layout_at_1024x700_and_shortcut_list(window, qtbot):
    from PySide6.QtWidgets import QLabel

    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024, timeout=5000)
    QTest.qWait(200)
    left = window.docks["spectrum"]
    assert left.width() >= 250
    assert window.viewer.width() >= 360
    window.resize(1280, 860)
    QTest.qWait(200)
    assert left.width() >= 250
    dialog = window.show_shortcuts()
    label = dialog.findChild(QLabel)
    assert label.alignment() & Qt.AlignLeft
    assert "<table>" in label.text() and "Play / pause" in label.text()
    dialog.close()


def test_smiles_box_shows_the_file_opened(window, qtbot):
    s = _open(window, qtbot, "caffeine")
    assert window.smiles_edit.text() == Chem.MolToSmiles(Chem.RemoveHs(s.mol))
