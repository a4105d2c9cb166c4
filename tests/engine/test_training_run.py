"""The trainer end to end on a tiny corpus: learning, exact resume, NaN stop, cancel, CLI."""
from __future__ import annotations

import csv
import math
import time

import pytest
import torch
from test_training_support import build_tiny_corpus, small_config

from engine.errors import CheckpointError
from engine.models.checkpoint import load_checkpoint, read_network
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
    model, config = read_network(tmp_path / "checkpoint.pt")
    assert config["model"]["name"] == "egnn" and config["process"]["coord_scale"] == 1.5
    assert not model.training


def _train_losses(path):
    return [(int(r["step"]), r["loss"]) for r in read_log(path) if r["kind"] == "train"]


# the network options of issue 25 (self-conditioning, v output, virtual node)
OPTIONS = {"hidden": 32, "layers": 2, "max_hops": 3, "knn": 6, "cutoff": 4.0,
           "self_cond": True, "parameterization": "v", "global_context": True}


@pytest.mark.parametrize("options", [False, True], ids=["plain", "self-cond+v+global"])
def test_resume_reproduces_uninterrupted_run_exactly(corpus, tmp_path, options):
    overrides = {"run.deterministic": True, "optim.total_steps": 16, "run.log_every": 1,
                 "run.val_every": 8, "run.ckpt_every": 100, "loss.t_sampling": "importance"}
    if options:      # the self-conditioning coin is drawn per (seed, step): resumed alike
        overrides.update({"model.kwargs": dict(OPTIONS), "loss.weighting": "min_snr"})
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
    {"model.kwargs": dict(OPTIONS), "loss.weighting": "min_snr", "loss.self_cond_prob": 1.0},
    {"model.kwargs": dict(OPTIONS), "run.precision": "bf16", "loss.self_cond_prob": 1.0},
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
    from engine.models.checkpoint import save_checkpoint

    Trainer(small_config(corpus, **{"optim.total_steps": 3}), tmp_path).run()
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    for key in ("cosine_s", "cosine_end"):
        state["config"]["process"].pop(key)
    save_checkpoint(tmp_path / "checkpoint.pt", state)
    result = Trainer(small_config(corpus, **{"optim.total_steps": 5}), tmp_path, resume=True).run()
    assert result["status"] == "finished" and result["step"] == 5
    with pytest.raises(CheckpointError, match="process"):
        Trainer(small_config(corpus, **{"optim.total_steps": 7, "process.lam": 0.3}), tmp_path, resume=True)


def _dense_modes(lap, gamma, lam, B):
    """Per-mode ``(U, a, φ, σ)`` of one graph without its centre-of-mass mode (by hand)."""
    L = torch.from_numpy(lap.toarray()).double()
    mu, U = torch.linalg.eigh(L)
    a = gamma * mu[1:] + lam
    phi = torch.exp(-0.5 * B * a)
    sigma = torch.sqrt((1 - torch.exp(-B * a)) / a)
    return U[:, 1:], a, phi, sigma


def test_v_network_is_trained_on_its_own_target_weighted_by_min_snr(corpus, tmp_path):
    """One batch by hand: per molecule, target v = U diag(σa) Uᵀ S₀ − U diag(φ) Uᵀ ε, the
    loss the mean over atoms and coordinates of (v̂ − v)², weighted by
    min(snr, γ)/(snr + 1) with snr = e^{−B}/(1 − e^{−B}); and the ε̂ it returns is the one
    whose Ŝ₀ is Φ S_t + Σ^{1/2} v̂."""
    from engine.training.trainer import _TRAIN_TAG
    cfg = small_config(corpus, **{"model.kwargs": dict(OPTIONS, self_cond=False),
                                  "process.lam": 0.5, "process.schedule": "cosine",
                                  "loss.weighting": "min_snr", "loss.snr_gamma": 2.0})
    trainer = Trainer(cfg, tmp_path)
    batch = next(trainer._batches())
    prep = trainer.task.prepare(batch, trainer.device)
    St, eps, t, _ = trainer._noised(prep, _TRAIN_TAG, 0)
    per, eps_hat = trainer._per_graph_loss(trainer.net, prep, St, eps, t)
    per, eps_hat = per.detach(), eps_hat.detach()
    with torch.no_grad():
        out = trainer.net(St, t, prep.graph).double()
    p = cfg.process
    ptr = batch.ptr.tolist()
    for g, lap in enumerate(batch.laplacians):
        lo, hi = ptr[g], ptr[g + 1]
        B = float(trainer.task.schedule.integral(t[g].double()))
        U, a, phi, sigma = _dense_modes(lap, p.gamma, p.lam, B)
        S0, e, x = prep.x0[lo:hi].double(), eps[lo:hi].double(), St[lo:hi].double()
        v = U @ ((sigma * a)[:, None] * (U.T @ S0)) - U @ (phi[:, None] * (U.T @ e))
        assert float(per[g]) == pytest.approx(float(((out[lo:hi] - v) ** 2).mean()), rel=1e-4, abs=1e-7)
        # ε̂ = Σ^{-1/2}(S_t − Φ Ŝ₀) with Ŝ₀ = Φ S_t + Σ^{1/2} v̂
        s0 = U @ (phi[:, None] * (U.T @ x)) + U @ (sigma[:, None] * (U.T @ out[lo:hi]))
        want = U @ ((U.T @ x - phi[:, None] * (U.T @ s0)) / sigma[:, None])
        assert torch.allclose(eps_hat[lo:hi].double(), want, atol=2e-4)
        snr = math.exp(-B) / (1 - math.exp(-B))
        w = min(snr, 2.0) / (snr + 1.0)
        from engine.training.losses import time_weight
        got = time_weight("min_snr", t[g:g + 1], trainer.task.schedule, target="v", snr_gamma=2.0)
        assert float(got) == pytest.approx(w, rel=1e-5)


def test_self_conditioning_steps_feed_the_networks_own_estimate(corpus, tmp_path):
    """On a self-conditioning step the input is Ŝ₀ of the network's own (zero-input) output,
    guarded as the sampler guards it; on the others zeros; the coin's share follows
    ``loss.self_cond_prob``."""
    from engine.defaults import SAMPLING_PHI_FLOOR
    from engine.training.trainer import _TRAIN_TAG
    cfg = small_config(corpus, **{"model.kwargs": dict(OPTIONS, parameterization="eps", global_context=False)})
    trainer = Trainer(cfg, tmp_path)
    batch = next(trainer._batches())
    prep = trainer.task.prepare(batch, trainer.device)
    St, eps, t, _ = trainer._noised(prep, _TRAIN_TAG, 0)
    sc = trainer._self_cond_input(trainer.model, prep, St, t, True)
    with torch.no_grad():
        first = trainer.model(St, t, prep.graph, self_cond=torch.zeros_like(St))
    assert torch.equal(sc, prep.process.s0_from_eps(St, t, first, phi_floor=SAMPLING_PHI_FLOOR))
    assert not sc.requires_grad
    assert torch.equal(trainer._self_cond_input(trainer.model, prep, St, t, False), torch.zeros_like(St))
    coins = [trainer._use_self_cond(_TRAIN_TAG, k) for k in range(400)]
    assert 0.4 < sum(coins) / 400 < 0.6
    assert coins == [trainer._use_self_cond(_TRAIN_TAG, k) for k in range(400)]


def test_network_options_are_checked_in_the_config(tmp_path):
    from engine.errors import ConfigError
    from engine.training.config import config_from_dict
    base = {"data": {"cache_dir": str(tmp_path)}, "model": {"name": "egnn", "kwargs": {}}}
    for kwargs, match in [({"parameterization": "x0"}, "parameterization"),
                          ({"self_cond": "yes"}, "self_cond must be true or false"),
                          ({"global_context": 1}, "global_context must be true or false")]:
        with pytest.raises(ConfigError, match=match):
            config_from_dict({**base, "model": {"name": "egnn", "kwargs": kwargs}})
    with pytest.raises(ConfigError, match="eps_mse"):
        config_from_dict({**base, "model": {"name": "egnn", "kwargs": {"parameterization": "v"}},
                          "loss": {"kind": "dsm"}})
    with pytest.raises(ConfigError, match="self_cond_prob"):
        config_from_dict({**base, "loss": {"self_cond_prob": 1.5}})
    cfg = config_from_dict({**base, "model": {"name": "egnn", "kwargs": {"self_cond": True,
                                                                         "parameterization": "v"}}})
    assert cfg.loss.self_cond_prob == 0.5 and cfg.loss.snr_gamma == 5.0


def test_keep_every_keeps_a_checkpoint_per_multiple(corpus, tmp_path):
    cfg = small_config(corpus, **{"optim.total_steps": 6, "run.keep_every": 3, "run.val_every": 100,
                                  "run.ckpt_every": 100})
    Trainer(cfg, tmp_path).run()
    kept = sorted(p.name for p in tmp_path.glob("checkpoint_*.pt"))
    assert kept == ["checkpoint_3.pt", "checkpoint_6.pt"]
    assert load_checkpoint(tmp_path / "checkpoint_3.pt")["step"] == 3
    model, _ = read_network(tmp_path / "checkpoint_3.pt")
    assert not model.training
