"""Issue 16: keys, re-sample triggers, Noise ▶, exports that say what they hold, record
picker, SMILES errors, layout — driven the way a user does (focus changes, key events,
clicks), not by calling the window's methods."""
from __future__ import annotations

import numpy as np
from gui_helpers import click_slider_handle, make_active
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from rdkit import Chem


def _finished(qtbot, window, kind, timeout=120000):
    return qtbot.waitSignal(window.state.trajectoryFinished, timeout=timeout,
                            check_params_cb=lambda k: k == kind)


def _click(qtbot, widget):
    qtbot.mouseClick(widget, Qt.LeftButton, pos=QPoint(widget.width() // 2, widget.height() // 2))


def test_enter_in_the_smiles_box_hands_the_keys_back_to_the_player(window, qtbot):
    make_active(qtbot, window)
    box = window.smiles_edit
    _click(qtbot, box)
    assert QApplication.focusWidget() is box
    box.selectAll()
    QTest.keyClicks(box, "CC(=O)Oc1ccccc1C(=O)O")
    with _finished(qtbot, window, "forward"):
        QTest.keyClick(box, Qt.Key_Return)
    assert window.state.structure.name == "CC(=O)Oc1ccccc1C(=O)O"
    focus = QApplication.focusWidget()
    assert focus is not box
    player = window.player
    QTest.keyClick(focus, Qt.Key_End)
    assert player.index == player.count() - 1
    QTest.keyClick(focus, Qt.Key_Home)
    assert player.index == 0
    QTest.keyClick(focus, Qt.Key_Right)
    assert player.index == 1
    QTest.keyClick(focus, Qt.Key_Space)
    assert player.is_playing()
    QTest.keyClick(focus, Qt.Key_Space)
    assert not player.is_playing()
    assert box.text() == Chem.MolToSmiles(Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O"))


def test_arrow_keys_move_a_focused_slider_not_the_player(window, qtbot):
    make_active(qtbot, window)
    window.steering.auto.setChecked(False)
    player = window.player
    player.select("forward")
    player.seek(10)
    slider = window.steering.lambda_E.slider
    click_slider_handle(qtbot, slider)
    assert QApplication.focusWidget() is slider
    before, value = slider.value(), window.state.params.lambda_E
    QTest.keyClick(slider, Qt.Key_Left)
    QTest.keyClick(slider, Qt.Key_Left)
    assert slider.value() == before - 2 and window.state.params.lambda_E < value
    QTest.keyClick(slider, Qt.Key_Right)
    assert slider.value() == before - 1
    assert player.index == 10                      # the player did not move


def test_steps_spin_box_reaches_every_value(window, qtbot):
    make_active(qtbot, window)
    window.steering.auto.setChecked(False)
    spin = window.steering.steps_spin
    _click(qtbot, spin)
    assert QApplication.focusWidget() is spin.findChild(type(window.smiles_edit)) or \
        QApplication.focusWidget() is spin
    QTest.keyClick(spin, Qt.Key_A, Qt.ControlModifier)
    QTest.keyClicks(spin, "50")
    QTest.keyClick(spin, Qt.Key_Return)
    assert window.state.params.steps == 50 and window.steering.steps.value() == 50
    window.player.select("forward")
    window.player.seek(3)
    QTest.keyClick(spin, Qt.Key_Up)
    assert window.state.params.steps == 51
    QTest.keyClick(spin, Qt.Key_End)
    assert window.player.index == 3


def test_fix_matches_picking_and_clear_resample(window, qtbot):
    make_active(qtbot, window)
    steer = window.steering
    steer.auto.setChecked(True)
    window.state.set_params(steps=12)
    with _finished(qtbot, window, "reverse"):
        pass                                        # the steps change re-samples
    _click(qtbot, steer.smarts)
    QTest.keyClicks(steer.smarts, "S(=O)(=O)N")
    with _finished(qtbot, window, "reverse"):
        QTest.keyClick(steer.smarts, Qt.Key_Return)
    fixed = window.state.fixed
    buf = window.state.trajectory("reverse")
    assert fixed and buf.info["fixed_atoms"] == fixed
    inp = window.state.structure.positions
    assert np.allclose(buf.frames[-1][fixed], inp[fixed], atol=1e-9)
    # picking an atom in the view re-samples too
    _click(qtbot, steer.pick_btn)
    v = window.viewer
    pos = v.display_positions()
    free = [i for i in range(len(pos)) if i not in fixed]
    centre = np.array([v.plotter.interactor.width() / 2, v.plotter.interactor.height() / 2])
    target = free[int(np.argmin(np.linalg.norm(pos[free] - centre, axis=1)))]
    x, y = pos[target]
    with _finished(qtbot, window, "reverse"):
        qtbot.mouseClick(v.plotter.interactor, Qt.LeftButton, pos=QPoint(int(round(x)), int(round(y))))
    assert len(window.state.fixed) == len(fixed) + 1
    assert window.state.trajectory("reverse").info["fixed_atoms"] == window.state.fixed
    _click(qtbot, steer.pick_btn)
    with _finished(qtbot, window, "reverse"):
        _click(qtbot, steer.clear_btn)
    assert window.state.fixed == [] and window.state.trajectory("reverse").info["fixed_atoms"] == []
    assert steer.fixed_label.text() == "no atoms fixed"


def test_noise_button_plays_the_forward_run_of_the_seed(window, qtbot):
    window.steering.auto.setChecked(False)
    seed0 = window.state.trajectory("forward").trajectory
    window.player.select("forward")
    window.player.seek(0)
    seed = window.steering.seed
    _click(qtbot, seed)
    QTest.keyClick(seed, Qt.Key_A, Qt.ControlModifier)
    QTest.keyClicks(seed, "7")
    QTest.keyClick(seed, Qt.Key_Return)
    assert window.state.params.seed == 7
    from PySide6.QtWidgets import QToolBar

    button = window.findChild(QToolBar, "toolbar_smiles").widgetForAction(window.menus.act_noise)
    shown = []
    window.state.frameShown.connect(lambda kind, i: shown.append((kind, i)))
    with _finished(qtbot, window, "forward"):
        _click(qtbot, button)
    qtbot.waitUntil(lambda: len([i for k, i in shown if k == "forward" and i > 1]) >= 3,
                    timeout=10000)
    window.player.pause()
    seed7 = window.state.trajectory("forward").trajectory
    assert seed7.seed == 7 and seed0.seed == 0
    assert not np.allclose(seed7.frames[-1], seed0.frames[-1])
    assert np.allclose(seed7.frames[0], seed0.frames[0])     # both start at the input


def test_export_all_records_say_how_each_was_made(window, qtbot, tmp_path):
    window.steering.auto.setChecked(False)
    for steps, seed in ((10, 0), (17, 7), (10, 0)):      # the third run repeats the first
        window.state.set_params(steps=steps, seed=seed)
        with _finished(qtbot, window, "reverse"):
            window.run_reverse()
    assert len(window.state.generated) == 2                  # no duplicate record
    path = window.export_generated(str(tmp_path / "gen.sdf"))
    mols = list(Chem.SDMolSupplier(str(path), removeHs=False, sanitize=False))
    assert len(mols) == 2
    assert mols[0].GetProp("_Name") != mols[1].GetProp("_Name")
    assert [m.GetProp("gdapp_seed") for m in mols] == ["0", "7"]
    assert [m.GetProp("gdapp_steps") for m in mols] == ["10", "17"]
    for m in mols:
        for key in ("gdapp_sampler", "gdapp_lambda_E", "gdapp_lambda_G", "gdapp_lambda_A",
                    "gdapp_guidance_scale", "gdapp_model", "gdapp_steps_taken"):
            assert m.HasProp(key), key
        assert m.GetProp("gdapp_model") == window.state.model.name


def test_multi_record_sdf_offers_a_record_picker(window, qtbot, tmp_path):
    from engine import api

    folder = api.demo_molecule_path().parent
    path = tmp_path / "two.sdf"
    with open(path, "w") as fh:
        for name in ("aspirin", "caffeine"):
            fh.write((folder / f"{name}.sdf").read_text())
    with _finished(qtbot, window, "forward"):
        window.open_path(str(path))
    dialog = window.opener.record_dialog
    assert dialog is not None and dialog.isVisible()
    items = dialog.comboBoxItems()
    assert len(items) == 2 and "caffeine" in items[1]
    combo = dialog.findChild(type(window.steering.sampler))
    with _finished(qtbot, window, "forward"):
        combo.setCurrentIndex(1)
        QTest.keyClick(combo, Qt.Key_Return)
    assert window.state.structure.name == "caffeine"
    assert window.smiles_edit.text() == Chem.MolToSmiles(Chem.RemoveHs(window.state.structure.mol))
    assert window.menus.act_records.isEnabled()


def test_invalid_smiles_shows_rdkits_reason_without_a_traceback(window, qtbot):
    make_active(qtbot, window)
    box = window.smiles_edit
    _click(qtbot, box)
    box.selectAll()
    QTest.keyClicks(box, "C1CC")
    with qtbot.waitSignal(window.errorShown, timeout=30000):
        QTest.keyClick(box, Qt.Key_Return)
    err = window._error_box
    assert "unclosed ring" in err.text()
    assert "Traceback" not in (err.detailedText() or "") and not err.detailedText()
    assert window.state.structure.name == "celecoxib"          # the old structure stays
