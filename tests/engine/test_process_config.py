"""Every process setting of a config reaches the trainer's and the sampler's process.

A λ or a cosine ``B(1)`` that the molecule task or ``generate`` silently replaced by a
default would train one process and sample another; these tests pin that down.
"""
from __future__ import annotations

import math

import pytest
import torch
from rdkit import Chem
from test_training_support import build_tiny_corpus, small_config

import engine.process
from engine.api import ProcessParams
from engine.models.denoiser import Denoiser, load_denoiser
from engine.process.schedules import CosineSchedule, LinearSchedule, schedule_from_config
from engine.sampling.generate import generate_conformers
from engine.training.config import ConfigError, ProcessConfig
from engine.training.tasks import MoleculeTask
from engine.training.trainer import Trainer


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_tiny_corpus(tmp_path_factory.mktemp("corpus") / "tiny")


@pytest.mark.parametrize("source", [
    {"schedule": "cosine", "cosine_s": 0.02, "cosine_end": 14.0},
    ProcessConfig(schedule="cosine", cosine_s=0.02, cosine_end=14.0),
    ProcessParams(schedule="cosine", cosine_s=0.02, cosine_end=14.0),
])
def test_schedule_from_config_reads_cosine_settings_from_every_config_kind(source):
    sched = schedule_from_config(source)
    assert isinstance(sched, CosineSchedule)
    assert sched.s == 0.02
    assert sched.integral(1.0) == pytest.approx(14.0, rel=1e-12)


def test_schedule_from_config_linear_and_defaults():
    sched = schedule_from_config({"schedule": "linear", "beta_min": 0.2, "beta_max": 30.0})
    assert isinstance(sched, LinearSchedule)
    assert sched.integral(1.0) == pytest.approx(0.2 + 0.5 * (30.0 - 0.2))
    assert schedule_from_config({}).integral(1.0) == pytest.approx(0.1 + 0.5 * 19.9)
    assert schedule_from_config({"schedule": "cosine"}).integral(1.0) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="unknown schedule 'sigmoid'"):
        schedule_from_config({"schedule": "sigmoid"})


def test_process_config_validates_cosine_end():
    with pytest.raises(ConfigError, match="cosine_end"):
        ProcessConfig(schedule="cosine", cosine_end=0.0).validate("process")


def test_molecule_task_trains_the_configured_lambda_and_schedule(corpus):
    cfg = small_config(corpus, **{"process.lam": 0.7, "process.schedule": "cosine",
                                  "process.cosine_end": 14.0})
    task = MoleculeTask(cfg, build_ok=False)
    batch = task.collate([task.train_set[i] for i in range(3)])
    prep = task.prepare(batch, torch.device("cpu"))
    proc = prep.process
    assert proc.lam == pytest.approx(0.7)
    assert float(proc.schedule.integral(1.0)) == pytest.approx(14.0, rel=1e-9)
    # the smallest process eigenvalue is λ (the Laplacian's null mode)
    assert float(proc.eigenvalues[:, 0].min()) == pytest.approx(0.7, abs=1e-5)


def test_generation_samples_with_the_lambda_the_model_was_trained_with(corpus, tmp_path, monkeypatch):
    cfg = small_config(corpus, **{"optim.total_steps": 6, "process.lam": 0.5,
                                  "process.schedule": "cosine", "process.cosine_end": 12.0})
    Trainer(cfg, tmp_path).run()
    model = load_denoiser(tmp_path / "checkpoint.pt", "cpu")
    assert model.lam == pytest.approx(0.5)
    assert float(model.schedule().integral(1.0)) == pytest.approx(12.0, rel=1e-9)

    built = []
    real = engine.process.GraphBatchDiffusion

    def recording(*args, **kwargs):
        proc = real(*args, **kwargs)
        built.append(proc)
        return proc

    monkeypatch.setattr(engine.process, "GraphBatchDiffusion", recording)
    mol = Chem.MolFromSmiles("CCOC(=O)C")
    a = generate_conformers([mol], 2, model, steps=6, seed=1, stereo="ignore")[0]
    assert built and all(p.lam == pytest.approx(0.5) for p in built)
    assert all(float(p.schedule.integral(1.0)) == pytest.approx(12.0, rel=1e-9) for p in built)

    # the same weights sampled as if λ were 0 give other coordinates: λ is really used
    config0 = dict(model.config, process=dict(model.process_config, lam=0.0))
    model0 = Denoiser(model.network, config0, model.device, model.name)
    b = generate_conformers([mol], 2, model0, steps=6, seed=1, stereo="ignore")[0]
    xa = a.GetConformer(0).GetPositions()
    xb = b.GetConformer(0).GetPositions()
    assert math.isfinite(float(abs(xa).sum())) and abs(xa - xb).max() > 1e-3
