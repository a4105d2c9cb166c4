"""Training under faults: SIGKILL of ``python -m engine train`` and ``--resume``, repeated
kills at random times, kills during checkpoint writes, truncated/foreign checkpoints.

Already covered elsewhere (not repeated here): an in-process stop/resume reproducing the
uninterrupted losses and weights, a truncated or missing checkpoint refused by
``Trainer(resume=True)``, and NaN losses stopping the run with the last good checkpoint
kept (tests/engine/test_training_run.py); checkpoint format checks
(tests/engine/test_training_checkpoint.py).

Knobs: ``TRAIN_KILLS`` (default 3) kills in the repeated-kill test, ``CKPT_WRITE_KILLS``
(default 40) kills of a process that rewrites a checkpoint in a loop.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml
from reliability_support import ROOT, child_env, engine_cmd, env_int, read_log, record, train_losses, training_helpers

from engine.errors import CheckpointError
from engine.models.checkpoint import load_checkpoint, save_checkpoint
from engine.training.config import config_to_dict
from engine.training.trainer import Trainer

pytestmark = pytest.mark.timeout(900)

build_tiny_corpus, small_config = training_helpers()
TOTAL = 24
CKPT_EVERY = 4
BASE = {"run.deterministic": True, "optim.total_steps": TOTAL, "run.log_every": 1,
        "run.val_every": 1000, "run.ckpt_every": CKPT_EVERY, "loss.t_sampling": "importance",
        "run.device": "cpu"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_tiny_corpus(tmp_path_factory.mktemp("corpus") / "tiny")


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """An uninterrupted deterministic run (in process): its log.csv and final weights."""
    out = tmp_path_factory.mktemp("reference")
    result = Trainer(small_config(corpus, **BASE), out).run()
    assert result["status"] == "finished"
    return out


def _config_file(corpus, folder: Path, **overrides) -> Path:
    cfg = config_to_dict(small_config(corpus, **{**BASE, **overrides}))
    path = folder / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _start(cfg: Path, out: Path, resume: bool) -> subprocess.Popen:
    args = ["train", "--config", cfg, "--out", out, "--no-progress"] + (["--resume"] if resume else [])
    return subprocess.Popen(engine_cmd(*args), cwd=ROOT, env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _logged_step(out: Path) -> int:
    try:
        rows = read_log(out / "log.csv")
    except (FileNotFoundError, ValueError, KeyError):
        return 0
    steps = [int(r["step"]) for r in rows if r.get("kind") == "train" and (r.get("step") or "").isdigit()]
    return max(steps, default=0)


def _wait_for_step(proc, out: Path, step: int, timeout=240.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = _logged_step(out)
        if s >= step:
            return s
        if proc.poll() is not None:
            raise AssertionError(f"trainer exited early ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"trainer did not reach step {step} in {timeout} s")


def _kill(proc) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL


def _finish(cfg, out) -> subprocess.CompletedProcess:
    done = subprocess.run(engine_cmd("train", "--config", cfg, "--out", out, "--resume", "--no-progress"),
                          cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _assert_same_run(reference: Path, out: Path):
    a = train_losses(reference / "log.csv")
    b = train_losses(out / "log.csv")
    assert [s for s, _ in b] == list(range(1, TOTAL + 1)), "log.csv must hold every step exactly once"
    assert a == b, "losses after resume differ from the uninterrupted run"
    wa, wb = load_checkpoint(reference / "checkpoint.pt"), load_checkpoint(out / "checkpoint.pt")
    assert wa["step"] == wb["step"] == TOTAL
    for k in wa["model"]:
        assert torch.equal(wa["model"][k], wb["model"][k]), k


def test_sigkill_mid_run_then_resume_matches_uninterrupted_run(corpus, reference, tmp_path):
    """SIGKILL between two checkpoints: at most one checkpoint interval is lost and the
    resumed run's losses equal the uninterrupted run's, step for step."""
    cfg = _config_file(corpus, tmp_path)
    out = tmp_path / "run"
    proc = _start(cfg, out, resume=False)
    _wait_for_step(proc, out, 2 * CKPT_EVERY + 2)     # past the 2nd checkpoint, mid-interval
    _kill(proc)
    logged = _logged_step(out)
    saved = load_checkpoint(out / "checkpoint.pt")["step"]
    lost = logged - saved
    record(killed_after_logged_step=logged, checkpoint_step=saved, steps_lost=lost,
           ckpt_every=CKPT_EVERY)
    assert saved % CKPT_EVERY == 0 and saved >= 2 * CKPT_EVERY
    assert 0 <= lost <= CKPT_EVERY, f"lost {lost} steps, more than one checkpoint interval"
    done = _finish(cfg, out)
    assert f"finished at step {TOTAL}" in done.stdout
    _assert_same_run(reference, out)


def test_repeated_random_kills_keep_a_valid_checkpoint_and_the_same_losses(corpus, reference, tmp_path):
    """Kill the trainer again and again at random moments (checkpoint written every step,
    so kills land during writes too); after every kill checkpoint.pt loads and its step
    never goes back; the run finished with --resume equals the uninterrupted run."""
    kills = env_int("TRAIN_KILLS", 3)
    rng = random.Random(1234)
    cfg = _config_file(corpus, tmp_path, **{"run.ckpt_every": 1})
    out = tmp_path / "run"
    last_saved, last_logged, history = 0, 0, []
    for k in range(kills):
        proc = _start(cfg, out, resume=k > 0)
        _wait_for_step(proc, out, min(last_logged + 1, TOTAL - 1 - (kills - k)))
        time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is not None:       # finished before the kill: nothing to test here
            break
        _kill(proc)
        state = load_checkpoint(out / "checkpoint.pt")   # raises if a kill left a torn file
        assert state["step"] >= last_saved
        history.append({"logged": _logged_step(out), "checkpoint": state["step"]})
        assert _logged_step(out) - state["step"] <= 1
        last_saved, last_logged = state["step"], _logged_step(out)
    leftovers = sorted(p.name for p in out.glob(".checkpoint.pt.tmp-*"))
    record(kills=len(history), after_each_kill=history, temp_files_left=len(leftovers))
    assert len(history) >= 1
    _finish(cfg, out)
    _assert_same_run(reference, out)


# ------------------------------------------------------------------ kills during writes
def _rewrite_forever(path: str, size: int):
    """Child: rewrite ``path`` with steps 1, 2, 3, ... (each payload ~``size`` floats)."""
    torch.set_num_threads(1)
    step = 0
    while True:
        step += 1
        save_checkpoint(path, {"step": step, "model": {"w": torch.full((size,), float(step))}})


def test_kill_during_checkpoint_writes_leaves_old_or_new_file(tmp_path):
    """A process rewriting a multi-MB checkpoint in a loop is SIGKILLed at random times:
    every time, the file on disk is a complete checkpoint (its checksum verifies and its
    payload is self-consistent), never a torn one."""
    kills = env_int("CKPT_WRITE_KILLS", 40)
    path = tmp_path / "checkpoint.pt"
    ctx = mp.get_context("fork")
    rng = random.Random(7)
    steps, torn_tmp = [], 0
    for _ in range(kills):
        child = ctx.Process(target=_rewrite_forever, args=(str(path), 1_000_000))
        child.start()
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        state = load_checkpoint(path)
        w = state["model"]["w"]
        assert w.shape == (1_000_000,) and bool((w == float(state["step"])).all())
        steps.append(state["step"])
        leftover = list(tmp_path.glob(".checkpoint.pt.tmp-*"))
        torn_tmp += len(leftover)
        for p in leftover:                   # what a kill mid-write leaves: never the target
            p.unlink()
        path.unlink()                        # next round starts from scratch
    record(kills=kills, steps_seen=steps, kills_that_hit_a_write=torn_tmp,
           checkpoint_mib=round(8 * 1_000_000 / 2**20, 1))
    assert len(steps) == kills


# ------------------------------------------------------------------ bad checkpoints
@pytest.fixture(scope="module")
def good_checkpoint(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("good")
    Trainer(small_config(corpus, **{**BASE, "optim.total_steps": 2, "run.ckpt_every": 2}), out).run()
    return out / "checkpoint.pt"


def _bad_files(good: Path, folder: Path) -> dict[str, tuple[Path, str]]:
    raw = good.read_bytes()
    files = {}

    def put(name, data, words):
        p = folder / name / "checkpoint.pt"
        p.parent.mkdir(parents=True)
        p.write_bytes(data)
        files[name] = (p, words)

    put("empty", b"", "truncated checkpoint")
    put("header-only", raw[:30], "truncated checkpoint")
    put("cut-in-half", raw[: len(raw) // 2], "truncated checkpoint")
    put("one-byte-short", raw[:-1], "truncated checkpoint")
    put("trailing-garbage", raw + b"x" * 10, "unexpected bytes")
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0xFF
    put("bit-flip", bytes(flipped), "checksum mismatch")
    import io
    buf = io.BytesIO()
    torch.save({"state_dict": {"w": torch.zeros(3)}}, buf)
    put("plain-torch-save", buf.getvalue(), "not a gdapp checkpoint")
    put("yaml-text", b"model:\n  name: egnn\n", "not a gdapp checkpoint")
    put("random-bytes", bytes(random.Random(3).randrange(256) for _ in range(4096)), "not a gdapp checkpoint")
    return files


def test_truncated_or_foreign_checkpoint_is_refused_with_a_clear_message(good_checkpoint, corpus, tmp_path, capsys):
    """``train --resume`` (exit 1) and ``sample --checkpoint`` (exit 2) refuse each damaged
    or foreign file with one ``error:`` line saying what is wrong, no traceback."""
    from engine.cli import main
    cfg = _config_file(corpus, tmp_path)
    smi = tmp_path / "in.smi"
    smi.write_text("CCO ethanol\n")
    outcomes = {}
    for name, (path, words) in _bad_files(good_checkpoint, tmp_path).items():
        with pytest.raises(CheckpointError, match=words):
            load_checkpoint(path)
        rc_train = main(["train", "--config", str(cfg), "--out", str(path.parent), "--resume", "--no-progress"])
        err_train = capsys.readouterr().err
        rc_sample = main(["sample", str(smi), "--out", str(tmp_path / "o.sdf"), "--num-confs", "1",
                          "--steps", "2", "--checkpoint", str(path)])
        err_sample = capsys.readouterr().err
        for rc, err, want in ((rc_train, err_train, 1), (rc_sample, err_sample, 2)):
            assert rc == want, (name, rc, err)
            assert err.startswith("error: ") and str(path) in err and words in err, (name, err)
            assert "Traceback" not in err
        outcomes[name] = err_train.strip().splitlines()[-1].replace(str(path), "checkpoint.pt")[:120]
    record(files=outcomes)


def test_every_truncation_of_a_checkpoint_is_refused(good_checkpoint, tmp_path):
    """Cut a valid checkpoint at 200 places: each one raises CheckpointError (nothing else)."""
    raw = good_checkpoint.read_bytes()
    path = tmp_path / "cut.pt"
    cuts = sorted(set([0, 1, 10, 11, 19, 50, 51, len(raw) - 1]
                      + random.Random(5).sample(range(len(raw)), 192)))
    for cut in cuts:
        path.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError, match="truncated|not a gdapp"):
            load_checkpoint(path)
    record(cuts=len(cuts), checkpoint_bytes=len(raw))


def test_resume_with_a_different_model_config_is_refused(good_checkpoint, corpus, tmp_path, capsys):
    """A valid checkpoint of another network shape is refused on --resume, naming the section."""
    from engine.cli import main
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(good_checkpoint.read_bytes())
    cfg = _config_file(corpus, tmp_path, **{"model.kwargs": {"hidden": 48, "layers": 2, "max_hops": 3,
                                                             "knn": 6, "cutoff": 4.0}})
    rc = main(["train", "--config", str(cfg), "--out", str(out), "--resume", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "cannot resume" in err and "model section differs" in err, err
