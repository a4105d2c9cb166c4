"""Player, steering re-sampling, conditional generation, ETKDG comparison, quality."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt


def _reverse(window, qtbot, trigger=None, timeout=90000):
    """A reverse run as a slider's re-sample makes it (the player follows the newest frame
    and lands on the result; Denoise ▶ plays it through: test_denoise_watch.py)."""
    trigger = trigger or (lambda: window.run_reverse(play=False))
    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=timeout,
                          check_params_cb=lambda k: k == "reverse"):
        trigger()
    buf = window.state.trajectory("reverse")
    assert buf is not None and buf.complete
    return buf


def test_playing_advances_frames(window, qtbot):
    player = window.player
    player.select("forward")
    player.set_mode("loop")
    player.seek(0)
    shown = []
    window.state.frameShown.connect(lambda kind, i: shown.append(i))
    first = window.viewer.coords.copy()
    player.play()
    qtbot.waitUntil(lambda: len(shown) >= 10, timeout=10000)
    player.pause()
    assert shown[:3] == [1, 2, 3]
    assert not np.allclose(window.viewer.coords, first)      # the view shows a later frame
    buf = window.state.trajectory("forward")
    assert np.allclose(window.viewer.coords, buf.frames[player.index])
    assert f"frame {player.index + 1}/{len(buf)}" in player.label.text()


def test_player_once_stops_and_bounce_turns(window, qtbot):
    player = window.player
    player.select("forward")
    player.set_fps(120)
    player.set_mode("once")
    player.seek(len(window.state.trajectory("forward")) - 3)
    player.play()
    qtbot.waitUntil(lambda: not player.is_playing(), timeout=5000)
    assert player.index == player.count() - 1
    player.set_mode("bounce")
    seen = []
    window.state.frameShown.connect(lambda kind, i: seen.append(i))
    player.play()
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=5000)
    player.pause()
    assert seen[0] == player.count() - 2 and seen[1] == player.count() - 3


def test_reverse_trajectory_streams_into_the_player(window, qtbot):
    steps = []
    window.state.trajectoryStep.connect(lambda kind, i: steps.append((kind, i)))
    window.state.set_params(steps=400)
    buf = _reverse(window, qtbot)
    assert len(buf) == 401
    streamed = [i for k, i in steps if k == "reverse"]
    assert len(streamed) >= 2                                # frames arrived while running
    assert streamed == sorted(streamed) and streamed[-1] == 400
    assert buf.times[0] == 1.0 and buf.times[-1] == 0.0
    assert window.player.kind == "reverse"
    assert np.allclose(window.viewer.coords, buf.frames[-1])
    assert window.spectrum.trajectory is buf.trajectory


def test_slider_change_resamples_from_the_same_seed(window, qtbot):
    window.steering.auto.setChecked(True)
    first_steps = window.state.params.steps
    first = _reverse(window, qtbot).trajectory.final.copy()
    # moving the steps slider re-samples in the background (debounced)
    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=90000,
                          check_params_cb=lambda k: k == "reverse"):
        window.steering.steps.setValue(12)
    changed = window.state.trajectory("reverse").trajectory
    assert changed.meta["steps"] == 12 and changed.seed == first_seed(window)
    assert not np.allclose(changed.final, first)
    # moving it back reproduces the first result exactly (same seed)
    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=90000,
                          check_params_cb=lambda k: k == "reverse"):
        window.steering.steps.setValue(first_steps)
    assert np.allclose(window.state.trajectory("reverse").trajectory.final, first)


def first_seed(window):
    return window.state.params.seed


def test_guidance_slider_changes_the_sample(window, qtbot):
    window.steering.auto.setChecked(False)
    window.state.set_params(steps=15)
    plain = _reverse(window, qtbot).trajectory.final.copy()
    window.steering.lambda_E.set_value(5.0)
    assert window.state.params.lambda_E > 1.0
    guided = _reverse(window, qtbot).trajectory.final
    ref = window.state.structure.positions
    # energy guidance pulls the sample towards the input structure
    def dist(x):
        return np.linalg.norm((x - x.mean(0)) - (ref - ref.mean(0)))
    assert dist(guided) < dist(plain)


def test_new_request_cancels_the_run_in_flight(window, qtbot):
    window.state.set_params(steps=400)
    job1 = window.run_reverse()
    window.state.set_params(steps=10)
    buf = _reverse(window, qtbot)
    assert job1.should_stop()
    assert len(buf) == 11


def test_picked_and_smarts_atoms_stay_fixed(window, qtbot):
    v = window.viewer
    window.steering.pick_btn.setChecked(True)
    assert v.pick_mode
    pos = v.display_positions()
    # click on the atom drawn nearest the centre of the view
    centre = np.array([v.plotter.interactor.width() / 2, v.plotter.interactor.height() / 2])
    target = int(np.argmin(np.linalg.norm(pos - centre, axis=1)))
    picked = []
    v.atomPicked.connect(picked.append)
    x, y = pos[target]
    qtbot.mouseClick(v.plotter.interactor, Qt.LeftButton, pos=QPoint(int(round(x)), int(round(y))))
    assert len(picked) == 1
    assert picked[0] in window.state.fixed
    window.steering.pick_btn.setChecked(False)
    window.steering.smarts.setText("S(=O)(=O)N")         # the sulfonamide group
    window.steering.smarts_btn.click()
    fixed = window.state.fixed
    assert len(fixed) >= 5 and picked[0] in fixed
    assert v._halo.n_points == len(fixed)                 # highlighted in the view
    window.state.set_params(steps=20)
    final = _reverse(window, qtbot).trajectory.final
    inp = window.state.structure.positions
    assert np.allclose(final[fixed], inp[fixed], atol=1e-9)
    free = np.setdiff1d(np.arange(len(inp)), fixed)
    assert np.abs(final[free] - inp[free]).max() > 0.1


def test_invalid_smarts_shows_an_error(window):
    window.fix_smarts("[C")
    assert window._error_box is not None and "SMARTS" in window._error_box.text()
    assert window.state.fixed == []


def test_etkdg_overlay_and_rmsd(window, qtbot):
    with qtbot.waitSignal(window.state.referenceChanged, timeout=60000):
        window.steering.compare.setChecked(True)
    ref = window.state.reference
    assert ref is not None and ref.shape == window.state.structure.positions.shape
    qtbot.waitUntil(lambda: "RMSD" in window.steering.rmsd_label.text(), timeout=30000)
    assert "Å" in window.steering.rmsd_label.text()
    assert len(window.viewer._overlay_actors) >= 1
    window.steering.compare.setChecked(False)
    assert window.state.reference is None and not window.viewer._overlay_actors


def _quality_rows(window, qtbot):
    job = window.run_quality(posebusters=False)
    with qtbot.waitSignal(job.finished, timeout=60000):
        pass
    return {r.name: r for r in window.quality.rows}


def test_quality_panel_reports_checks_of_the_frame_shown(window, qtbot):
    window.player.select("forward")
    window.player.seek(0)                               # frame 0 is the input itself
    rows = _quality_rows(window, qtbot)
    rmsd = next(r for n, r in rows.items() if "RMSD" in n)
    assert float(rmsd.value) < 1e-3
    assert any("clashes" in n for n in rows) and any("MMFF" in n for n in rows)
    assert window.quality.table.rowCount() == len(rows)
    clashes = next(r for n, r in rows.items() if "clashes" in n)
    assert clashes.value == "0" and clashes.ok
    window.player.seek(window.player.count() - 1)       # fully noised frame
    rows = _quality_rows(window, qtbot)
    rmsd = next(r for n, r in rows.items() if "RMSD" in n)
    assert float(rmsd.value) > 0.5
    outliers = next(r for n, r in rows.items() if "outliers" in n)
    assert int(outliers.value) > 0 and outliers.ok is False


def test_worker_exception_is_shown_and_app_stays_usable(window, qtbot):
    def boom(job):
        raise RuntimeError("simulated engine failure")

    with qtbot.waitSignal(window.errorShown, timeout=10000) as blocker:
        job = window.runner.start("test", boom, failed=lambda m, tb: window.show_error("Job failed", m, tb))
    assert "simulated engine failure" in blocker.args[0]
    assert job.error.startswith("RuntimeError")
    window._error_box.close()
    buf = _reverse(window, qtbot)                         # still works
    assert buf.complete


def test_cancel_jobs_cancels_every_slot_but_training(window, qtbot):
    """Cancel (Esc) stops a job in any slot the window runs — the RMSD of the ETKDG
    comparison included; the training panel's jobs stop through its own buttons."""
    from gdapp.job_slots import JobSlot

    assert set(JobSlot.CANCELLABLE) == set(JobSlot.ALL) - set(JobSlot.TRAINING)
    assert JobSlot.RMSD in JobSlot.CANCELLABLE

    def wait_for_stop(job):
        while not job.should_stop():
            job._stop.wait(0.01)
        return None

    jobs = {slot: window.runner.start(slot, wait_for_stop) for slot in JobSlot.CANCELLABLE}
    window.cancel_jobs()
    for slot, job in jobs.items():
        assert job.wait(10.0), slot
        assert job.should_stop(), slot
    qtbot.waitUntil(lambda: not window.runner.busy(), timeout=10000)


def test_job_progress_never_shows_more_than_100_percent(window):
    """Denoise with a polish streams one frame more than steps + 1 (4 of 3 with 2 steps):
    the status bar's progress said "133 %"."""
    window.statusBar().set_progress(4, 3)
    assert window.job_progress.text() == "100 %"
    window.statusBar().set_progress(1, 3)
    assert window.job_progress.text() == "33 %"
