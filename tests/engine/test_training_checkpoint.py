"""Checkpoint files: atomic round trip, RNG capture, refusal of truncated/foreign/corrupt files."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from engine.errors import CheckpointError
from engine.models.checkpoint import load_checkpoint, read_network, save_checkpoint
from engine.rng import capture_rng_state, restore_rng_state


def _state():
    model = torch.nn.Linear(3, 2)
    return {"step": 7, "model": model.state_dict(), "config": {"a": 1}}


def test_round_trip_and_no_temp_files_left(tmp_path):
    state = _state()
    path = save_checkpoint(tmp_path / "ckpt.pt", state)
    payload = load_checkpoint(path)
    assert torch.equal(payload["model"]["weight"], state["model"]["weight"])
    assert payload["step"] == 7 and payload["format"] == "gdapp-checkpoint" and payload["version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_overwrite_is_atomic_replacement(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"step": 1})
    save_checkpoint(path, {"step": 2})
    assert load_checkpoint(path)["step"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_temporaries_of_killed_writers_are_removed_and_live_ones_kept(tmp_path):
    """A writer killed mid-write leaves ``.ckpt.pt.tmp-<pid>``; the next save removes it
    when that process is gone, and leaves a live writer's file alone."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)                      # exited: its pid is free
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / f".ckpt.pt.tmp-{dead_pid}").write_bytes(b"half a checkpoint")
        (tmp_path / f".ckpt.pt.tmp-{live.pid}").write_bytes(b"being written")
        (tmp_path / ".other.pt.tmp-1").write_bytes(b"not ours")
        save_checkpoint(tmp_path / "ckpt.pt", {"step": 3})
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == sorted(["ckpt.pt", f".ckpt.pt.tmp-{live.pid}", ".other.pt.tmp-1"])
    finally:
        live.kill()
        live.wait()


def test_truncated_file_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", _state())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated checkpoint: expected"):
        load_checkpoint(path)
    path.write_bytes(data[:20])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path)


def test_corrupt_file_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", _state())
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(path)


def test_foreign_files_are_refused(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save({"model": torch.zeros(2)}, plain)         # a torch file, but not ours
    with pytest.raises(CheckpointError, match="not a gdapp checkpoint"):
        load_checkpoint(plain)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a gdapp checkpoint"):
        load_checkpoint(text)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_newer_version_is_refused(tmp_path, monkeypatch):
    import engine.models.checkpoint as ck
    monkeypatch.setattr(ck, "VERSION", 99)
    path = save_checkpoint(tmp_path / "ckpt.pt", {"step": 1})
    monkeypatch.setattr(ck, "VERSION", 1)
    with pytest.raises(CheckpointError, match="version 99 is newer"):
        load_checkpoint(path)


def test_rng_state_round_trip(tmp_path):
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    state = capture_rng_state()
    save_checkpoint(tmp_path / "rng.pt", {"rng": state})
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(9), np.random.seed(9), random.seed(9)
    restore_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], got[0])
    assert np.array_equal(expected[1], got[1]) and expected[2] == got[2]


def test_read_network_builds_registered_network(tmp_path):
    from engine.models import build_model
    model = build_model("lattice", hidden=8, layers=1, heads=2)
    cfg = {"model": {"name": "lattice", "kwargs": {"hidden": 8, "layers": 1, "heads": 2}}}
    path = save_checkpoint(tmp_path / "m.pt", {"config": cfg, "model": model.state_dict(),
                                               "ema": None})
    loaded, config = read_network(path)
    assert config == cfg
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    bad = {"model": {"name": "lattice", "kwargs": {"hidden": 16, "layers": 1, "heads": 2}}}
    path = save_checkpoint(tmp_path / "bad.pt", {"config": bad, "model": model.state_dict()})
    with pytest.raises(CheckpointError, match="do not fit model 'lattice'"):
        read_network(path)
