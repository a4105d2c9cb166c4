"""Lattices in the app: the builder dialog, the physical systems, the bundled lattice model."""
from __future__ import annotations

import numpy as np
from gui_helpers import foreground_fraction
from PySide6.QtWidgets import QDialogButtonBox

from engine import api
from engine.data.lattice import topological_charge


def _build_via_dialog(window, qtbot, system, shape, seed=0):
    dialog = window.lattice_dialog()
    dialog.set_system(system)
    dialog.set_shape(shape)
    dialog.seed_box.setValue(seed)
    assert dialog.buttons.button(QDialogButtonBox.Ok).isEnabled(), dialog.problem_text()
    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=60000,
                          check_params_cb=lambda k: k == "forward"):
        dialog.accept()
    return dialog


def test_dialog_lists_the_physical_systems_and_refuses_impossible_shapes(window, qtbot):
    dialog = window.lattice_dialog()
    names = [dialog.system_box.itemData(i) for i in range(dialog.system_box.count())]
    assert names == api.lattice_systems()
    assert {"spin", "skyrmion", "elastic", "deformation", "random"} <= set(names)
    dialog.set_system("skyrmion")
    dialog.set_shape((30,))
    assert not dialog.buttons.button(QDialogButtonBox.Ok).isEnabled()
    assert "2D" in dialog.problem.text()
    dialog.set_shape((12, 12))
    assert not dialog.buttons.button(QDialogButtonBox.Ok).isEnabled()
    assert "at least 20" in dialog.problem.text()
    dialog.set_shape((24, 24))
    assert dialog.buttons.button(QDialogButtonBox.Ok).isEnabled()
    assert "skyrmion" in dialog.description.text()
    dialog.reject()


def test_dialog_builds_a_spin_lattice_and_the_lattice_model_runs_the_reverse_trajectory(
        window, qtbot):
    network = window.state.models.get("lattice")
    assert network is not None and network.path.endswith("lattice_spin.pt")
    assert len(network.lattice["shape"]) == 2
    shape = (20, 14)                           # any 2D grid: the network is local
    dialog = _build_via_dialog(window, qtbot, "spin", shape, seed=4)
    assert dialog.model_label.text() == network.name
    dialog.set_shape((6, 5, 4))                # a 3D spin lattice: no trained network
    assert dialog.model_label.text().startswith("harmonic prior (no network;")
    s = window.state.structure
    assert s.kind == "lattice" and s.system == "spin" and s.grid_shape == shape
    assert np.allclose(np.linalg.norm(s.positions, axis=1), 1.0)       # unit spins
    assert window.state.model is network
    assert window.model_status.text() == f"model: {network.name}"

    steps = []
    window.state.trajectoryStep.connect(lambda kind, i: steps.append(i) if kind == "reverse" else None)
    window.state.set_params(steps=30, sampler="ddim")
    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=90000,
                          check_params_cb=lambda k: k == "reverse"):
        window.run_reverse()
    buf = window.state.trajectory("reverse")
    traj = buf.trajectory
    assert traj.model_name == network.name and len(buf) == 31
    assert steps and steps == sorted(steps) and steps[-1] == 30
    assert np.all(np.isfinite(traj.frames)) and np.all(np.isfinite(traj.mode_energies))
    # the player advances through the reverse frames and the view follows them
    player = window.player
    player.select("reverse")
    player.set_mode("once")
    player.seek(0)
    shown = []
    window.state.frameShown.connect(lambda kind, i: shown.append(i))
    player.play()
    qtbot.waitUntil(lambda: len(shown) >= 5, timeout=10000)
    player.pause()
    assert shown[:3] == [1, 2, 3]
    assert np.allclose(window.viewer.coords, buf.frames[player.index])
    assert not np.allclose(buf.frames[player.index], buf.frames[0])


def test_other_systems_fall_back_to_the_labelled_harmonic_prior(window, qtbot):
    network = window.state.models["lattice"]
    _build_via_dialog(window, qtbot, "elastic", (10, 8))
    s = window.state.structure
    assert s.system == "elastic" and s.n == 80
    model = window.state.model
    assert model.name.startswith("harmonic prior (no network;") and network.name in model.name
    assert window.model_status.text() == f"model: {model.name}"
    window.state.set_params(steps=10)
    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=60000,
                          check_params_cb=lambda k: k == "reverse"):
        window.run_reverse()
    traj = window.state.trajectory("reverse").trajectory
    assert traj.model_name == model.name and np.all(np.isfinite(traj.frames))


def test_skyrmion_and_deformation_lattices_draw(window, qtbot):
    _build_via_dialog(window, qtbot, "skyrmion", (24, 24), seed=1)
    s = window.state.structure
    assert round(topological_charge(s.positions, s.grid_shape)) <= -1
    window.menus.toggle_arrows(True)
    assert foreground_fraction(window.viewer.image()) > 0.01
    window.menus.toggle_arrows(False)
    _build_via_dialog(window, qtbot, "deformation", (12, 6, 4))
    assert window.state.structure.n == 288
    assert foreground_fraction(window.viewer.image()) > 0.01


def test_edges_are_drawn_for_small_lattices_and_on_request_for_large_ones(window, qtbot):
    from gdapp.views.viewer import LARGE_LATTICE

    window.build_lattice((12, 10), "random")
    qtbot.waitUntil(lambda: window.state.structure.n == 120, timeout=60000)
    v = window.viewer
    assert window.menus.act_edges.isChecked() and v._line_actor.GetVisibility()
    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=60000,
                          check_params_cb=lambda k: k == "forward"):
        window.build_lattice((60, 40), "spin")
    assert window.state.structure.n > LARGE_LATTICE
    assert not window.menus.act_edges.isChecked() and not v._line_actor.GetVisibility()
    without = foreground_fraction(v.image())
    window.menus.act_edges.trigger()                       # E
    assert v._line_actor.GetVisibility() and foreground_fraction(v.image()) > without
    window.menus.act_arrows.trigger()                      # arrows: no points, no edges
    assert not v._line_actor.GetVisibility() and v._arrow_actor.GetVisibility()
    window.menus.act_arrows.trigger()
