"""Training from the panel: starts, reports progress, pauses/resumes, stops, switches model."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.resources import resource_path

TINY = ["CCO", "CCN", "CCC(=O)O", "c1ccccc1O", "CC(C)O", "CCOC(=O)C", "c1ccncc1", "CC(=O)N",
        "CCCCO", "OCC(O)CO", "c1ccccc1C", "CC(C)(C)O", "NCCO", "C1CCCCC1", "C1CCOC1", "CC#N",
        "CC(=O)C", "COC", "c1ccoc1", "c1ccsc1"]


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    from engine.data.config import CorpusConfig
    from engine.data.corpus import build_corpus

    cfg = CorpusConfig(num_confs=2, min_heavy_atoms=2, max_heavy_atoms=20, shard_size=64,
                       split=(0.7, 0.15, 0.15), max_ff_iters=200)
    out = tmp_path_factory.mktemp("corpus") / "tiny"
    return Path(build_corpus(cfg, out, smiles=TINY, workers=1, progress=False))


def _setup(window, corpus, tmp_path, steps):
    panel = window.training
    panel.config_box.setEditText(str(resource_path("configs", "small_test.yaml")))
    panel.data_edit.setText(str(corpus))
    panel.out_edit.setText(str(tmp_path / "run"))
    return panel, {"optim.total_steps": steps, "run.log_every": 1, "run.val_every": 5,
                   "run.ckpt_every": 5, "data.val_size": 3}


def test_training_reports_progress_pauses_resumes_and_switches_model(window, qtbot, tiny_corpus, tmp_path):
    panel, overrides = _setup(window, tiny_corpus, tmp_path, steps=400)
    reports = []
    panel.controller.progressed.connect(reports.append)
    panel.start(overrides=overrides)
    assert panel.is_running() and not panel.start_btn.isEnabled()
    qtbot.waitUntil(lambda: sum(1 for r in reports if r.get("loss") is not None) >= 3, timeout=120000)
    assert panel.progress.value() >= 3 and panel.progress.maximum() == 400
    assert "ETA" in panel.eta.text()
    assert len(panel.train_curve.getData()[0]) >= 3           # live loss curve
    with qtbot.waitSignal(panel.controller.runEnded, timeout=60000) as ended:
        panel.pause_btn.click()
    assert ended.args == ["paused"]
    assert panel.resume_btn.isEnabled() and not panel.is_running()
    ckpt = Path(panel.controller.last_checkpoint)
    assert ckpt.is_file()
    paused_step = max(r["step"] for r in reports if "step" in r)
    reports.clear()
    panel.resume_btn.click()
    qtbot.waitUntil(lambda: any(r.get("loss") is not None for r in reports), timeout=120000)
    assert min(r["step"] for r in reports if r.get("loss") is not None) > paused_step
    with qtbot.waitSignal(panel.controller.runEnded, timeout=60000) as ended:
        panel.stop_btn.click()
    assert ended.args == ["stopped"]
    # switch the active model to the checkpoint and sample with it
    with qtbot.waitSignal(window.state.modelChanged, timeout=30000):
        panel.use_btn.click()
    assert "checkpoint.pt" in window.state.model.name
    assert "checkpoint.pt" in window.model_status.text()
    window.state.set_params(steps=5)
    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=90000,
                          check_params_cb=lambda k: k == "reverse"):
        window.run_reverse()
    traj = window.state.trajectory("reverse").trajectory
    assert traj.model_name == window.state.model.name


def test_bad_config_is_reported_not_crashing(window, qtbot, tmp_path):
    panel = window.training
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {name: nonsense}\n")
    panel.config_box.setEditText(str(bad))
    with qtbot.waitSignal(window.errorShown, timeout=60000) as err:
        panel.start()
    assert "bad.yaml" in err.args[0] or "nonsense" in err.args[0]
    assert not panel.is_running() and panel.start_btn.isEnabled()


def test_closing_the_window_stops_training_cleanly(qtbot, tiny_corpus, tmp_path):
    from gdapp.views.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    panel, overrides = _setup(win, tiny_corpus, tmp_path, steps=100000)
    reports = []
    panel.controller.progressed.connect(reports.append)
    job = panel.start(overrides=overrides)
    qtbot.waitUntil(lambda: any(r.get("loss") is not None for r in reports), timeout=120000)
    win.close()
    assert job.is_done()                                   # the worker has returned
    assert not job.worker_thread.is_alive() and not win.runner.busy()
    assert (tmp_path / "run" / "checkpoint.pt").is_file()  # stopped with a checkpoint
