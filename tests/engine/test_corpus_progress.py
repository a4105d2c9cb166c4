"""Corpus builds report progress, stop on request (worker processes included), resume, and
say beforehand what they will do (issue 15); SMILES files as corpus sources."""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import pytest

from engine import api
from engine.data.config import CorpusConfig, load_corpus_config
from engine.data.corpus import build_corpus, corpus_status, sample_build
from engine.data.sources import read_source
from engine.errors import Cancelled, ConfigError

SMILES = [s for _n, s in read_source("nci")[:24]]


def _hashes(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture
def smi_config(tmp_path):
    (tmp_path / "mols.smi").write_text("".join(f"{s} n{i}\n" for i, s in enumerate(SMILES)))
    (tmp_path / "data.yaml").write_text(
        f"sources: [mols.smi]\nnum_confs: 2\nshard_size: 4\ncache_dir: {tmp_path / 'cache'}\n")
    return load_corpus_config(tmp_path / "data.yaml")


def test_smiles_file_source_resolves_relative_to_the_yaml(smi_config, tmp_path):
    assert smi_config.sources == (str((tmp_path / "mols.smi").resolve()),)
    (tmp_path / "bad.yaml").write_text("sources: [missing.smi]\n")
    with pytest.raises(ConfigError, match="missing.smi"):
        load_corpus_config(tmp_path / "bad.yaml")


def test_stop_keeps_shards_and_the_next_build_resumes_to_identical_files(smi_config, tmp_path):
    reports, stop = [], threading.Event()

    def on_progress(info):
        reports.append(info)
        if info.get("shards_done", 0) >= 2:
            stop.set()

    status = corpus_status(smi_config)
    assert not status["built"] and status["molecules"] == len(SMILES)
    assert status["shards_total"] == 6 and status["shards_done"] == 0
    with pytest.raises(Cancelled, match="conformers"):
        build_corpus(smi_config, progress=False, workers=2, on_progress=on_progress,
                     should_stop=stop.is_set)
    phases = [r["phase"] for r in reports]
    assert "conformers" in phases and "split" not in phases   # (filtering was cached)
    conf = [r for r in reports if r["phase"] == "conformers"]
    assert all(r["total"] == len(SMILES) and r["unit"] == "molecules" for r in conf)
    assert [r["done"] for r in conf] == sorted(r["done"] for r in conf)
    assert any(r["rate"] and r["eta_s"] is not None for r in conf)
    status = corpus_status(smi_config)
    kept = status["shards_done"]
    assert kept >= 2 and not status["built"] and status["molecules_done"] == 4 * kept

    reports.clear()
    out = build_corpus(smi_config, progress=False, workers=2, on_progress=reports.append,
                       should_stop=lambda: False)
    first = next(r for r in reports if r["phase"] == "conformers")
    assert first["resumed"] == 4 * kept and first["done"] == 4 * kept
    assert reports[-1]["phase"] == "split" and reports[-1]["done"] == 6
    assert corpus_status(smi_config)["built"]
    # byte-identical to a build that was never interrupted
    fresh = build_corpus(smi_config, tmp_path / "fresh", progress=False, workers=1)
    assert _hashes(Path(out)) == _hashes(fresh)


def test_the_sample_build_is_measured_and_stoppable():
    cfg = CorpusConfig(num_confs=2)
    sample = sample_build(cfg, SMILES[:6], workers=2, sample=4)
    assert sample is not None and sample["molecules"] == 4 and sample["workers"] == 2
    assert 0 < sample["cpu_seconds_per_molecule"] < 30 and 0 < sample["seconds_per_molecule"] < 30
    assert sample_build(cfg, SMILES[:4], should_stop=lambda: True) is None
    assert sample_build(cfg, []) is None


def test_training_plan_names_the_corpus_and_its_build(tmp_path, smi_config):
    from engine.resources import resource_path

    text = resource_path("configs", "small_test.yaml").read_text()
    (tmp_path / "train.yaml").write_text(text.replace("corpus_config: data_small.yaml",
                                                      "corpus_config: data.yaml"))
    plan = api.training_plan(tmp_path / "train.yaml")
    assert plan.needs_build and plan.molecules == len(SMILES) and plan.shards_total == 6
    assert plan.corpus_config == tmp_path / "data.yaml"
    assert plan.seconds_per_molecule > 0 and plan.build_seconds > 0
    with pytest.raises(api.Cancelled):
        api.build_training_corpus(tmp_path / "train.yaml", should_stop=lambda: True)
    assert api.build_training_corpus(tmp_path / "train.yaml").joinpath("corpus.json").is_file()
    plan = api.training_plan(tmp_path / "train.yaml")
    assert not plan.needs_build and plan.build_seconds is None
    # a lattice config needs no corpus; the shipped configs are described
    assert api.training_plan(resource_path("configs", "lattice_small.yaml")).corpus_dir is None
    infos = {p.stem: api.training_config_info(p) for p in api.training_configs()}
    assert api.DEFAULT_TRAINING_CONFIG == "small_test.yaml"
    assert {"small_test", "base", "production"} <= set(infos)
    assert all(i.description for i in infos.values())
    assert "45 minutes" in infos["base"].description
    assert infos["base"].corpus_config.name == "data_full.yaml"


def test_train_stopped_during_the_build_raises_cancelled(tmp_path, smi_config):
    from engine.resources import resource_path

    text = resource_path("configs", "small_test.yaml").read_text()
    (tmp_path / "train.yaml").write_text(text.replace("corpus_config: data_small.yaml",
                                                      "corpus_config: data.yaml"))
    seen = []
    with pytest.raises(api.Cancelled):
        api.train(tmp_path / "train.yaml", tmp_path / "run", on_progress=seen.append,
                  should_stop=lambda: any(r.get("phase") == "conformers" for r in seen))
    assert any(r.get("event") == "corpus" for r in seen)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


class _SPY:
    log = Path("unset")


def _spy_check_chunk(chunk):
    """corpus._check_chunk that notes the process it runs in (a module-level function:
    the worker pool pickles it by name)."""
    from engine.data.filters import check_structure

    with open(_SPY.log, "a") as f:
        f.write(f"{os.getpid()}\n")
    return [check_structure(s) for s in chunk]


def test_large_sources_are_checked_in_worker_processes_and_cached_on_disk(tmp_path, monkeypatch):
    """The check of many SMILES runs in worker processes (it holds the GIL for seconds,
    which stalled the app's event loop); it gives the rows the in-process check gives and
    a later process reads them from ``cache_dir/filtered/`` instead of checking again."""
    from engine.data import corpus

    smiles = [s for _n, s in read_source("wehi")[:300]] + ["C1CC", "[Na+].[Cl-]"]
    (tmp_path / "many.smi").write_text("".join(f"{s} m{i}\n" for i, s in enumerate(smiles)))
    (tmp_path / "data.yaml").write_text(f"sources: [many.smi]\ncache_dir: {tmp_path / 'cache'}\n")
    config = load_corpus_config(tmp_path / "data.yaml")
    monkeypatch.setattr(corpus, "_CHECKED", {})
    monkeypatch.setattr(corpus, "FILTER_CHUNK", 40)
    serial = corpus._check_entries(smiles, None)  # below FILTER_IN_PROCESSES_FROM
    monkeypatch.setattr(corpus, "FILTER_IN_PROCESSES_FROM", 100)
    monkeypatch.setattr(corpus, "_check_chunk", _spy_check_chunk)
    monkeypatch.setattr(_SPY, "log", tmp_path / "pids.txt")
    reports = []
    selected, rejected = corpus.select_molecules(config, on_progress=reports.append)
    pids = {int(x) for x in _SPY.log.read_text().split()}
    assert pids and os.getpid() not in pids     # the check ran in worker processes only
    assert rejected["unparseable"] == 1 == sum(r[2] == "unparseable SMILES" for r in serial)
    assert rejected["multi-fragment"] == sum(str(r[2]).startswith("multi") for r in serial) >= 1
    assert {r["phase"] for r in reports} == {"filter"}
    files = list((tmp_path / "cache" / "filtered").glob("*.json"))
    assert len(files) == 1
    assert [tuple(r) for r in json.loads(files[0].read_text())] == serial

    # a new process (empty in-memory cache) reads the file and checks nothing
    monkeypatch.setattr(corpus, "_CHECKED", {})
    monkeypatch.setattr(corpus, "_check_entries", lambda *a: pytest.fail("checked again"))
    assert corpus.select_molecules(config) == (selected, rejected)
    # a changed source file is checked again
    (tmp_path / "many.smi").write_text("".join(f"{s} m{i}\n" for i, s in enumerate(smiles[:50])))
    monkeypatch.setattr(corpus, "_CHECKED", {})
    with pytest.raises(pytest.fail.Exception, match="checked again"):
        corpus.select_molecules(config)


def test_checking_in_worker_processes_stops_on_request(tmp_path, monkeypatch):
    from engine.data import corpus

    smiles = [s for _n, s in read_source("nci")[:600]]
    monkeypatch.setattr(corpus, "FILTER_IN_PROCESSES_FROM", 100)
    monkeypatch.setattr(corpus, "FILTER_CHUNK", 20)
    calls = []
    progress = corpus._Progress(None, lambda: calls.append(1) or len(calls) > 3)
    t0 = time.monotonic()
    with pytest.raises(Cancelled, match="filter"):
        corpus._check_entries(smiles, progress)
    assert time.monotonic() - t0 < 5
