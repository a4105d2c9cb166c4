"""The controllers (trajectory runs, ETKDG comparison, quality checks) driven without a window."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from test_training_panel import tiny_corpus  # noqa: F401  (fixture)


def _controller(qtbot):
    from engine import api
    from gdapp.controllers import AnalysisController
    from gdapp.state import AppState

    state = AppState()
    state.set_structure(api.structure_from_smiles("CC(=O)Oc1ccccc1C(=O)O"))
    controller = AnalysisController(state)
    return state, controller


def test_quality_check_without_a_window(qtbot):
    state, controller = _controller(qtbot)
    coords = state.structure.positions
    with qtbot.waitSignal(controller.qualityReady, timeout=60000) as ready:
        job = controller.check_quality(coords, "input", posebusters=False)
    assert job is not None
    structure, checked, label, rows = ready.args
    assert structure is state.structure and label == "input"
    assert np.array_equal(checked, coords)
    names = {r.name: r for r in rows}
    rmsd = next(r for n, r in names.items() if "RMSD" in n)
    assert float(rmsd.value) < 1e-3
    assert any("clashes" in n for n in names)
    controller.runner.shutdown(10.0)


def test_etkdg_comparison_without_a_window(qtbot):
    state, controller = _controller(qtbot)
    texts = []
    controller.rmsdChanged.connect(texts.append)
    with qtbot.waitSignal(state.referenceChanged, timeout=60000):
        assert controller.set_compare(True) is not None
    assert state.reference is not None and state.reference.shape == state.structure.positions.shape
    qtbot.waitUntil(lambda: any("RMSD" in t for t in texts), timeout=30000)
    assert "input ↔ ETKDG" in texts[-1] and "Å" in texts[-1]
    controller.set_compare(False)
    assert state.reference is None and texts[-1] == "—"
    controller.runner.shutdown(10.0)


# ----------------------------------------------------------------------- trajectory runs
def _trajectories(qtbot, smiles="CCO"):
    from engine import api
    from gdapp.controllers import TrajectoryController
    from gdapp.state import AppState

    state = AppState()
    state.set_structure(api.structure_from_smiles(smiles))
    controller = TrajectoryController(state)
    return state, controller


def _kind_is(kind):
    return lambda k, *_: k == kind


def test_forward_and_reverse_runs_without_a_window(qtbot):
    from gdapp.controllers.trajectories import FORWARD_FRAMES

    state, controller = _trajectories(qtbot)
    streamed = {"forward": [], "reverse": []}
    progress = {"forward": [], "reverse": []}
    controller.framesAdded.connect(lambda kind, n: streamed[kind].append(n))
    controller.progress.connect(lambda kind, done, total: progress[kind].append((done, total)))

    with qtbot.waitSignal(controller.runFinished, timeout=60000,
                          check_params_cb=_kind_is("forward")) as finished:
        job = controller.run_forward()
    assert job is not None and job.name == "forward"
    forward = state.trajectory("forward")
    assert forward.complete and len(forward) == FORWARD_FRAMES
    assert forward.frames[0].shape == state.structure.positions.shape
    assert streamed["forward"] and streamed["forward"][-1] == FORWARD_FRAMES    # frames streamed in
    assert progress["forward"][-1] == (FORWARD_FRAMES, FORWARD_FRAMES)
    assert finished.args[1]["seed"] == state.params.seed

    state.set_params(steps=6, seed=3)
    with qtbot.waitSignal(controller.runFinished, timeout=60000,
                          check_params_cb=_kind_is("reverse")) as finished:
        assert controller.run_reverse() is not None
    reverse = state.trajectory("reverse")
    assert reverse.complete and len(reverse) == 7
    assert streamed["reverse"] and 0 < streamed["reverse"][0] <= 7
    assert progress["reverse"][-1][1] == 7
    info = finished.args[1]
    assert info["steps"] == 6 and info["seed"] == 3 and info["steps_taken"] == 6
    assert reverse.info == info
    assert len(state.generated) == 1 and np.array_equal(state.generated[0], reverse.frames[-1])
    assert state.trajectory("forward").complete          # the forward run is untouched
    qtbot.waitUntil(lambda: not controller.runner.busy(), timeout=10000)
    controller.runner.shutdown(10.0)


def test_cancel_stops_a_trajectory_run_without_a_window(qtbot, monkeypatch):
    """A long reverse run is stopped by cancel: the job ends as cancelled, its partial frames
    are dropped and nothing more streams in."""
    from engine import api

    real = api.reverse_trajectory

    def slow(structure, *args, on_frame=None, **kw):      # ~5 ms a step: it cannot end first
        def cb(frame):
            on_frame(frame)
            time.sleep(0.005)
        return real(structure, *args, on_frame=cb, **kw)

    monkeypatch.setattr(api, "reverse_trajectory", slow)
    state, controller = _trajectories(qtbot)
    state.set_params(steps=3000)
    finished = []
    controller.runFinished.connect(lambda kind, info: finished.append(kind))
    job = controller.run_reverse()
    assert controller.running("reverse") is job
    qtbot.waitUntil(lambda: len(state.trajectory("reverse") or []) >= 3, timeout=30000)
    with qtbot.waitSignal(controller.runCancelled, timeout=10000) as cancelled:
        controller.cancel()
    assert cancelled.args == ["reverse"]
    assert job.is_done() and controller.running("reverse") is None
    assert state.trajectory("reverse") is None and not state.generated    # partial run dropped
    qtbot.wait(100)
    assert not finished and not controller.runner.busy()
    controller.runner.shutdown(10.0)


# ----------------------------------------------------------------------- loading
def test_structure_controller_loads_a_smiles_without_a_window(qtbot):
    from gdapp.controllers import StructureController

    controller = StructureController()
    with qtbot.waitSignal(controller.loaded, timeout=60000) as loaded:
        job = controller.open_smiles("CCO")
    assert job is not None and job.name == "load"
    structures, path, remember = loaded.args
    assert len(structures) == 1 and structures[0].is_molecule and structures[0].n == 9
    assert path is None and remember is False
    assert controller.records == structures
    controller.runner.shutdown(10.0)


def test_structure_controller_reports_rdkits_reason_for_a_bad_smiles(qtbot):
    from gdapp.controllers import StructureController

    controller = StructureController()
    loaded = []
    controller.loaded.connect(lambda *args: loaded.append(args))
    with qtbot.waitSignal(controller.failed, timeout=60000) as failed:
        controller.open_smiles("C1CC(")
    what, message, tb = failed.args
    assert what == "SMILES 'C1CC('"
    assert "cannot parse SMILES" in message and "syntax error" in message
    assert tb == ""                     # a user error: its message, no traceback
    assert not loaded and controller.records == []
    controller.runner.shutdown(10.0)


def test_structure_controller_opens_every_record_of_a_file_and_builds_a_lattice(qtbot, tmp_path):
    from engine import api
    from gdapp.controllers import StructureController

    controller = StructureController()
    demo = str(api.demo_molecule_path())
    with qtbot.waitSignal(controller.loaded, timeout=60000) as loaded:
        controller.open_path(demo)
    structures, path, remember = loaded.args
    assert path == demo and remember is True and structures[0].is_molecule
    with qtbot.waitSignal(controller.failed, timeout=60000) as failed:
        controller.open_path(tmp_path / "missing.sdf", remember=False)
    assert failed.args[0] == str(tmp_path / "missing.sdf")
    assert controller.records == structures           # a failed load keeps the last records
    with qtbot.waitSignal(controller.loaded, timeout=60000) as loaded:
        controller.build_lattice((4, 4), "spin")
    (lattice,), path, remember = loaded.args
    assert not lattice.is_molecule and lattice.n == 16 and path is None
    controller.runner.shutdown(10.0)


# ----------------------------------------------------------------------- training
def _training(qtbot):
    from gdapp.controllers import TrainingController
    from gdapp.state import AppState

    state = AppState()
    return state, TrainingController(state)


def test_training_controller_plans_trains_pauses_resumes_and_activates_the_checkpoint(
        qtbot, tiny_corpus, tmp_path):
    from engine.resources import resource_path

    state, controller = _training(qtbot)
    config = str(resource_path("configs", "small_test.yaml"))
    with qtbot.waitSignal(controller.planReady, timeout=60000) as ready:
        assert controller.refresh_plan(config, str(tiny_corpus)) is not None
    assert ready.args[0] is controller.plan and not controller.plan.needs_build
    reports, ended = [], []
    controller.progressed.connect(reports.append)
    controller.runEnded.connect(ended.append)
    overrides = {"optim.total_steps": 100000, "run.log_every": 1, "run.val_every": 5,
                 "run.ckpt_every": 5, "data.val_size": 3}
    job = controller.start(config, str(tmp_path / "run"), str(tiny_corpus), overrides=overrides)
    assert job is not None and controller.is_running() and controller.mode == "running"
    assert controller.start(config, str(tmp_path / "run")) is None          # one run at a time
    assert controller.refresh_plan(config) is None                         # no plan while it runs
    qtbot.waitUntil(lambda: sum(1 for r in reports if r.get("loss") is not None) >= 3, timeout=120000)
    assert controller.phase == "train"
    assert [h["loss"] for h in controller.history if "loss" in h] == \
        [r["loss"] for r in reports if r.get("loss") is not None]
    with qtbot.waitSignal(controller.runEnded, timeout=60000):
        assert controller.pause() and controller.mode == "pausing"
    assert ended == ["paused"] and controller.mode == "paused" and not controller.is_running()
    assert controller.end_text == "paused — Resume continues"
    assert Path(controller.last_checkpoint).is_file()
    paused_step = max(r["step"] for r in reports if "step" in r)
    reports.clear()
    controller.start(config, str(tmp_path / "run"), str(tiny_corpus), resume=True, overrides=overrides)
    qtbot.waitUntil(lambda: any(r.get("loss") is not None for r in reports), timeout=120000)
    assert min(r["step"] for r in reports if r.get("loss") is not None) > paused_step
    with qtbot.waitSignal(controller.runEnded, timeout=60000):
        controller.stop()
    assert ended == ["paused", "stopped"] and controller.mode == "idle" and controller.phase == ""
    with qtbot.waitSignal(state.modelChanged, timeout=30000):
        model = controller.use_checkpoint()
    assert state.model is model and "checkpoint.pt" in model.name
    controller.runner.shutdown(10.0)


def test_training_controller_reports_a_bad_config(qtbot, tmp_path):
    state, controller = _training(qtbot)
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {name: nonsense}\n")
    ended = []
    controller.runEnded.connect(lambda how: ended.append((how, controller.mode)))
    with qtbot.waitSignal(controller.failed, timeout=60000) as failed:
        controller.start(str(bad), str(tmp_path / "run"))
    assert "bad.yaml" in failed.args[0] or "nonsense" in failed.args[0]
    assert ended == [("failed", "idle")]           # the run has ended when the error comes
    assert controller.end_text == "failed" and not controller.is_running()
    with qtbot.waitSignal(controller.failed, timeout=10000) as failed:
        assert controller.use_checkpoint(str(tmp_path / "missing.pt")) is None
    assert "cannot use checkpoint" in failed.args[0]
    controller.runner.shutdown(10.0)
