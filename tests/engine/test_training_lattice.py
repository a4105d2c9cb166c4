"""The lattice network trains through the same trainer (fields injected, no data module needed)."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from test_training_support import CONFIGS

from engine.errors import ConfigError
from engine.models.checkpoint import read_network
from engine.training.config import load_config
from engine.training.tasks import LatticeTask
from engine.training.trainer import Trainer


def spin_waves(count, shape, seed):
    """Unit vectors rotating in a plane along a random wave vector: ``(count, N, 3)``."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1).reshape(-1, len(shape))
    out = np.zeros((count, grid.shape[0], 3), dtype=np.float32)
    for m in range(count):
        k = rng.normal(0, 0.4, len(shape))
        phase = grid @ k + rng.uniform(0, 2 * np.pi)
        out[m, :, 0], out[m, :, 1] = np.cos(phase), np.sin(phase)
    return torch.from_numpy(out)


def lattice_cfg(**run):
    cfg = load_config(CONFIGS / "lattice_small.yaml")
    cfg.model.kwargs = {"hidden": 32, "layers": 2, "heads": 2, "attention_hops": 2}
    cfg.data.batch_size = 16
    cfg.optim.total_steps = 80
    cfg.optim.warmup_steps = 10
    cfg.optim.lr = 3e-3
    cfg.optim.ema_decay = 0.9
    cfg.run.val_every = 40
    cfg.run.ckpt_every = 80
    cfg.run.threads = 1
    for k, v in run.items():
        setattr(cfg.run, k, v)
    return cfg


def test_lattice_model_learns_spin_waves(tmp_path):
    cfg = lattice_cfg()
    shape = (6, 6)
    task = LatticeTask(cfg, spin_waves(256, shape, 0), spin_waves(32, shape, 1), shape)
    result = Trainer(cfg, tmp_path, task=task).run()
    assert result["status"] == "finished"
    with open(tmp_path / "log.csv", newline="") as fh:
        vals = [float(r["loss"]) for r in csv.DictReader(fh) if r["kind"] == "val"]
    assert vals[-1] < 0.8 * vals[0], vals
    model, config = read_network(tmp_path / "checkpoint.pt")
    assert model.kind == "lattice" and config["process"]["lam"] == pytest.approx(0.1)


def test_lattice_task_checks_shapes_and_lambda():
    cfg = lattice_cfg()
    with pytest.raises(ConfigError, match=r"expected \(M, 36, 3\)"):
        LatticeTask(cfg, spin_waves(8, (5, 5), 0), spin_waves(4, (6, 6), 1), (6, 6))
    cfg.process.lam = 0.0
    with pytest.raises(ConfigError, match="lam must be > 0"):
        LatticeTask(cfg, spin_waves(8, (6, 6), 0), spin_waves(4, (6, 6), 1), (6, 6))


def test_lattice_config_runs_on_the_data_module(tmp_path):
    cfg = lattice_cfg()
    cfg.data.lattice = {"kind": "spin", "shape": [5, 5], "n_samples": 80, "correlation_length": 2.0}
    cfg.optim.total_steps = 6
    cfg.run.val_every = 3
    task = LatticeTask.from_config(cfg)
    assert task.shape == (5, 5) and len(task.train_set) + len(task.val_set) == 80
    result = Trainer(cfg, tmp_path).run()
    assert result["status"] == "finished" and result["val_loss"] is not None
    cfg.data.lattice = {"kind": "spin", "shape": [5, 5], "n_samples": 80, "corelation_length": 2.0}
    with pytest.raises(ConfigError, match="unknown parameter"):
        LatticeTask.from_config(cfg)
    cfg.data.lattice = {"kind": "spin"}
    with pytest.raises(ConfigError, match="needs shape, n_samples"):
        LatticeTask.from_config(cfg)
