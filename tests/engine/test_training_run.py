"""The trainer end to end on a tiny corpus: learning, exact resume, NaN stop, cancel, CLI."""
from __future__ import annotations

import csv
import math
import time

import pytest
import torch
from test_training_support import build_tiny_corpus, small_config

from engine.errors import CheckpointError
from engine.training.checkpoint import load_checkpoint, load_model
from engine.training.trainer import Trainer, TrainingDiverged


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_tiny_corpus(tmp_path_factory.mktemp("corpus") / "tiny")


def read_log(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_small_test_config_learns_within_a_minute(corpus, tmp_path):
    cfg = small_config(corpus)
    events = []
    started = time.perf_counter()
    result = Trainer(cfg, tmp_path, on_progress=events.append).run()
    elapsed = time.perf_counter() - started
    assert result["status"] == "finished" and result["step"] == cfg.optim.total_steps
    assert elapsed < 60.0, f"small_test took {elapsed:.1f} s"
    vals = [float(r["loss"]) for r in read_log(tmp_path / "log.csv") if r["kind"] == "val"]
    assert len(vals) >= 3
    # the untrained network predicts ~0, so ε-MSE starts near 1; training must halve it
    assert vals[-1] < 0.5 * vals[0], vals
    assert {"train", "val", "checkpoint", "done"} <= {e["event"] for e in events}
    # the checkpoint rebuilds the network with the EMA weights
    model, config = load_model(tmp_path / "checkpoint.pt")
    assert config["model"]["name"] == "egnn" and config["process"]["coord_scale"] == 1.5
    assert not model.training


def _train_losses(path):
    return [(int(r["step"]), r["loss"]) for r in read_log(path) if r["kind"] == "train"]


def test_resume_reproduces_uninterrupted_run_exactly(corpus, tmp_path):
    overrides = {"run.deterministic": True, "optim.total_steps": 16, "run.log_every": 1,
                 "run.val_every": 8, "run.ckpt_every": 100, "loss.t_sampling": "importance"}
    full = Trainer(small_config(corpus, **overrides), tmp_path / "full").run()
    assert full["status"] == "finished"

    seen = {"step": 0}        # should_stop is also polled during set-up: stop by the step

    def note(info):
        if info.get("event") == "train":
            seen["step"] = int(info["step"])

    def stop_after_7():
        return seen["step"] >= 7

    first = Trainer(small_config(corpus, **overrides), tmp_path / "split",
                    should_stop=stop_after_7, on_progress=note).run()
    assert first["status"] == "stopped" and first["step"] == 7
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt")["step"] == 7
    second = Trainer(small_config(corpus, **overrides), tmp_path / "split", resume=True).run()
    assert second["status"] == "finished" and second["step"] == 16

    a = _train_losses(tmp_path / "full" / "log.csv")
    b = _train_losses(tmp_path / "split" / "log.csv")
    assert [s for s, _ in b] == list(range(1, 17))
    assert a == b                       # loss strings (repr of floats) identical
    wa = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    wb = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    for k in wa["model"]:
        assert torch.equal(wa["model"][k], wb["model"][k])
        assert torch.equal(wa["ema"][k], wb["ema"][k])


def test_resume_refuses_corrupt_or_missing_checkpoint(corpus, tmp_path):
    cfg = small_config(corpus, **{"optim.total_steps": 3, "run.ckpt_every": 3})
    Trainer(cfg, tmp_path).run()
    path = tmp_path / "checkpoint.pt"
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(CheckpointError, match="truncated checkpoint"):
        Trainer(small_config(corpus), tmp_path, resume=True)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        Trainer(small_config(corpus), tmp_path / "empty", resume=True)


class NaNAfter(torch.nn.Module):
    """Wraps the network; from the ``n``-th call on it returns NaN."""

    def __init__(self, net, n):
        super().__init__()
        self.net, self.n, self.calls = net, n, 0

    def forward(self, *args):
        self.calls += 1
        out = self.net(*args)
        return out * float("nan") if self.calls >= self.n else out


def test_nan_loss_stops_and_keeps_last_good_checkpoint(corpus, tmp_path):
    cfg = small_config(corpus, **{"optim.total_steps": 20, "run.ckpt_every": 4,
                                  "run.val_every": 100})
    trainer = Trainer(cfg, tmp_path)
    trainer.net = NaNAfter(trainer.net, 11)          # the 11th training step goes bad
    events = []
    trainer.on_progress = events.append
    with pytest.raises(TrainingDiverged, match=r"became nan at step 11.*step 8\)"):
        trainer.run()
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["step"] == 8
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert events[-1]["event"] == "error"


def test_cli_train_writes_checkpoint_and_log(corpus, tmp_path):
    import yaml

    from engine.cli import main
    from engine.training.config import config_to_dict
    cfg = config_to_dict(small_config(corpus, **{"optim.total_steps": 4, "run.val_every": 2}))
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    assert main(["train", "--config", str(path), "--out", str(out), "--no-progress"]) == 0
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 4
    assert [r["kind"] for r in read_log(out / "log.csv")].count("val") == 3
    assert main(["train", "--config", str(path), "--out", str(out), "--resume",
                 "--steps", "6", "--no-progress"]) == 0
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 6
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: -1\n")
    assert main(["train", "--config", str(bad), "--out", str(out)]) == 1


@pytest.mark.parametrize("overrides", [
    {"loss.kind": "dsm", "loss.weighting": "sigma2"},
    {"loss.weighting": "min_snr", "loss.t_sampling": "importance"},
    {"run.precision": "bf16"},                      # the autocast path (CPU bf16 here)
])
def test_loss_variants_and_bf16_train(corpus, tmp_path, overrides):
    cfg = small_config(corpus, **{"optim.total_steps": 4, "run.val_every": 4,
                                  "run.log_every": 1, **overrides})
    result = Trainer(cfg, tmp_path).run()
    assert result["status"] == "finished" and math.isfinite(result["val_loss"])
    losses = [float(r["loss"]) for r in read_log(tmp_path / "log.csv") if r["kind"] == "train"]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)


def test_regularisers_enter_the_training_loss(corpus, tmp_path):
    base = {"optim.total_steps": 1, "run.val_every": 100, "run.log_every": 1}
    plain = Trainer(small_config(corpus, **base), tmp_path / "plain").run()
    reg = Trainer(small_config(corpus, **base, **{"loss.lambda_E": 1.0, "loss.lambda_G": 1.0,
                                                  "loss.lambda_A": 1.0}), tmp_path / "reg").run()
    assert plain["status"] == reg["status"] == "finished"
    a, = [float(r["loss"]) for r in read_log(tmp_path / "plain" / "log.csv") if r["kind"] == "train"]
    b, = [float(r["loss"]) for r in read_log(tmp_path / "reg" / "log.csv") if r["kind"] == "train"]
    assert math.isfinite(b) and b > a          # same batch and noise, plus non-negative terms


def test_checkpoint_without_newer_process_keys_still_resumes(corpus, tmp_path):
    """A checkpoint written before ``cosine_s``/``cosine_end`` existed resumes (the keys
    take their defaults); a real process change is still refused."""
    from engine.training.checkpoint import save_checkpoint

    Trainer(small_config(corpus, **{"optim.total_steps": 3}), tmp_path).run()
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    for key in ("cosine_s", "cosine_end"):
        state["config"]["process"].pop(key)
    save_checkpoint(tmp_path / "checkpoint.pt", state)
    result = Trainer(small_config(corpus, **{"optim.total_steps": 5}), tmp_path, resume=True).run()
    assert result["status"] == "finished" and result["step"] == 5
    with pytest.raises(CheckpointError, match="process"):
        Trainer(small_config(corpus, **{"optim.total_steps": 7, "process.lam": 0.3}), tmp_path, resume=True)
