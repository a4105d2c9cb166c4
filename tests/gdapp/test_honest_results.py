"""Issue 16, wrong results: every number the app shows or writes describes what is on
screen or what actually ran (GIF delay, quality table, Esc, exported intermediates, heat
map, status bar, file permissions)."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from PySide6.QtCore import Qt
from rdkit import Chem


def _reverse(window, qtbot, steps=10, timeout=120000):
    window.state.set_params(steps=steps)
    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=timeout,
                          check_params_cb=lambda k: k == "reverse"):
        window.run_reverse()
    return window.state.trajectory("reverse")


@pytest.mark.parametrize("fps", [20.0, 8.0])
def test_gif_frame_delay_matches_the_chosen_fps(window, qtbot, tmp_path, fps):
    from PIL import Image

    window.steering.auto.setChecked(False)
    _reverse(window, qtbot, steps=6)
    window.player.select("reverse")
    window.player.set_fps(fps)
    gif = window.export_animation(str(tmp_path / "rev.gif"))
    im = Image.open(str(gif))
    delays = []
    for k in range(im.n_frames):
        im.seek(k)
        delays.append(im.info.get("duration"))
    assert len(delays) == 7
    # a GIF stores centiseconds: the delay is 1000/fps ms rounded to 10 ms
    assert all(d is not None and abs(d - 1000.0 / fps) <= 10 for d in delays), delays


def _quality(window, qtbot):
    job = window.run_quality(posebusters=False)
    with qtbot.waitSignal(job.finished, timeout=60000):
        pass
    return {r.name: r for r in window.quality.rows}


def test_quality_table_follows_the_frame_shown(window, qtbot):
    player = window.player
    player.select("forward")
    player.seek(5)
    rows = _quality(window, qtbot)
    assert rows and "frame 6" in window.quality.title.text()
    last = player.count() - 1
    player.seek(last)
    # the old rows are gone: nothing on screen describes frame 6 beside frame 60
    assert window.quality.table.rowCount() == 0 and not window.quality.rows
    assert "frame 6," not in window.quality.title.text()
    assert f"frame {last + 1}" in window.quality.title.text()
    # with the Quality tab in front, the check follows the frame by itself
    window.docks["quality"].raise_()
    qtbot.waitUntil(lambda: bool(window.quality.rows), timeout=60000)
    assert f"frame {last + 1}" in window.quality.title.text()
    rmsd = next(r for n, r in ((r.name, r) for r in window.quality.rows) if "RMSD" in n)
    expected = window.state.trajectory("forward").frames[last]
    from engine import api
    assert float(rmsd.value) == pytest.approx(
        api.heavy_atom_rmsd(window.state.structure, expected, window.state.structure.positions),
        abs=1e-3)
    # a finished re-sample replaces the frame shown: the table empties again
    window.docks["steering"].raise_()
    _reverse(window, qtbot, steps=8)
    # (which reverse frame depends on how far the player got: it plays the new run)
    assert not window.quality.rows and "reverse frame" in window.quality.title.text(), \
        window.quality.title.text()


def test_esc_keeps_the_last_finished_run(window, qtbot):
    from gui_helpers import make_active
    from PySide6.QtTest import QTest

    from engine import api

    make_active(qtbot, window)
    window.steering.auto.setChecked(False)
    window.state.set_models(api.default_models())    # the network: 500 steps take a while
    first = _reverse(window, qtbot, steps=10)
    first_traj = first.trajectory
    assert window.spectrum.trajectory is first_traj
    window.state.set_params(steps=500)
    with qtbot.waitSignal(window.state.trajectoryStep, timeout=60000,
                          check_params_cb=lambda kind, i: kind == "reverse" and i > 0):
        job = window.run_reverse()
    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=60000,
                          check_params_cb=lambda k: k == "reverse"):
        QTest.keyClick(window, Qt.Key_Escape)
    assert job.should_stop()                          # Esc cancelled the run in flight
    qtbot.waitUntil(job.is_done, timeout=60000)
    buf = window.state.trajectory("reverse")
    assert buf is not None and buf.complete and buf.trajectory is first_traj
    assert window.player.kind == "reverse" and window.player.count() == len(first_traj.frames)
    assert "no trajectory" not in window.player.label.text()
    qtbot.waitUntil(lambda: np.allclose(window.viewer.coords, first_traj.final), timeout=5000)
    assert window.spectrum.trajectory is first_traj
    assert "cancelled" in window.statusBar().currentMessage()


def test_exported_intermediates_are_labelled_with_their_t(window, qtbot, tmp_path):
    window.steering.auto.setChecked(False)
    window.player.select("forward")
    window.player.seek(30)
    t = window.state.trajectory("forward").times[30]
    path = window.export_current(str(tmp_path / "noised.sdf"))
    mol = next(iter(Chem.SDMolSupplier(str(path), removeHs=False, sanitize=False)))
    name = window.state.structure.name
    assert mol.GetProp("_Name") == f"{name} noised t={t:.2f}"
    assert float(mol.GetProp("gdapp_t")) == pytest.approx(t, abs=1e-4)
    assert mol.GetProp("gdapp_frame") == "noised"
    assert f"t = {t:.2f}" in window.statusBar().currentMessage()
    # the input frame and the generated conformer are not called intermediates
    window.player.seek(0)
    mol = next(iter(Chem.SDMolSupplier(str(window.export_current(str(tmp_path / "in.sdf"))),
                                       removeHs=False, sanitize=False)))
    assert mol.GetProp("_Name") == name and mol.GetProp("gdapp_frame") == "input"
    buf = _reverse(window, qtbot, steps=12)
    window.player.seek(4)
    mol = next(iter(Chem.SDMolSupplier(str(window.export_current(str(tmp_path / "mid.sdf"))),
                                       removeHs=False, sanitize=False)))
    assert mol.GetProp("_Name") == f"{name} denoising intermediate {buf.label(4)}"
    assert buf.label(4) == f"diffusion 4/12, t={buf.times[4]:.3f}"
    window.player.seek(len(buf) - 1)
    mol = next(iter(Chem.SDMolSupplier(str(window.export_current(str(tmp_path / "gen.sdf"))),
                                       removeHs=False, sanitize=False)))
    assert mol.GetProp("gdapp_frame") == "generated" and "t=" not in mol.GetProp("_Name")
    assert mol.GetProp("gdapp_steps") == "12" and mol.GetProp("gdapp_sampler") == window.state.params.sampler


def test_heat_map_has_the_molecules_modes_on_a_kept_colour_scale(window, qtbot):
    """With the bundled network (λ = 0.5: the centre-of-mass mode is not null) and fixed
    atoms, the heat map used to show N modes instead of N - 1, all in one colour."""
    from engine import api

    window.steering.auto.setChecked(False)
    window.state.set_models(api.default_models())
    assert window.state.model.is_network
    window.fix_smarts("S(=O)(=O)N")
    assert window.state.fixed
    buf = _reverse(window, qtbot, steps=10)
    n = window.state.structure.n
    spectrum = window.spectrum
    assert spectrum.trajectory is buf.trajectory
    assert spectrum.mode_count() == n - 1
    lo, hi = spectrum.image.levels
    img = spectrum.image.image
    assert lo > -11.0 and hi > lo                       # not the 1e-12 floor of empty cells
    # the colours spread over the scale: neither end holds most of the cells
    assert np.mean(img >= hi) < 0.2 and np.mean(img <= lo) < 0.2


def test_status_bar_shows_the_steps_actually_taken(window, qtbot):
    window.steering.auto.setChecked(False)
    window.state.set_params(sampler="adaptive")
    buf = _reverse(window, qtbot, steps=500)
    taken = len(buf) - 1
    assert taken != 500
    text = window.run_status.text()                     # the status bar's run label
    assert f"adaptive: {taken} steps taken" in text
    assert "adaptive 500 steps" not in text
    assert "500" not in window.statusBar().currentMessage()
    window.state.set_params(sampler="ddim")
    buf = _reverse(window, qtbot, steps=12)
    assert "ddim: 12 steps" in window.run_status.text() and len(buf) == 13


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_exported_files_get_the_users_default_permissions(window, qtbot, tmp_path, umask):
    window.player.select("forward")
    window.player.seek(0)
    old = os.umask(umask)
    try:
        written = [window.export_current(str(tmp_path / f"c{s}")) for s in (".sdf", ".xyz", ".pdb")]
        written += [window.export_trajectory(str(tmp_path / f"t{s}")) for s in (".xyz", ".pdb")]
        written.append(window.export_png(str(tmp_path / "v.png")))
    finally:
        os.umask(old)
    for path in written:
        assert path is not None
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask, path
