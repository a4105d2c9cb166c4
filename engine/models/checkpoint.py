"""Checkpoint files: atomic writes, integrity checks, reading a network back. Below both the
trainer (which writes them) and the sampler and app (which read them); the RNG state a
resume restores is captured by ``engine.rng``.

File layout (so that truncation and corruption are detected before unpickling)::

    b"GDAPP-CKPT\\n"  (11 bytes magic)
    payload length    (8 bytes, little endian)
    sha256(payload)   (32 bytes)
    payload           (torch.save of a dict of plain data and tensors)

The payload dict holds ``format`` (``"gdapp-checkpoint"``), ``version``, ``step``,
``config`` (plain dict), ``model``, ``ema`` (state dicts), ``optimizer``, ``scheduler``,
``rng`` (torch/numpy/python/CUDA states), ``data`` (sampler position) and extra training
state. It is read with ``torch.load(weights_only=True)``: no arbitrary code runs.

Writes go to a temporary file in the same folder, are flushed and fsync'ed, then
``os.replace``d over the target, so a crash leaves either the old or the new file.
"""
from __future__ import annotations

import glob
import hashlib
import io
import os
import struct
from pathlib import Path

import torch

from engine.errors import CheckpointError

__all__ = ["FORMAT", "VERSION", "save_checkpoint", "load_checkpoint", "read_network", "model_from_checkpoint"]

FORMAT = "gdapp-checkpoint"
VERSION = 1
MAGIC = b"GDAPP-CKPT\n"
_HEADER = len(MAGIC) + 8 + 32


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True     # exists (another user's) or cannot tell: keep its file
    return True


def remove_stale_temporaries(path) -> list:
    """Delete ``.<name>.tmp-<pid>`` files beside ``path`` left by writers that were killed
    mid-write (their process no longer exists); returns the removed paths."""
    path = Path(path)
    removed: list = []
    if os.name == "nt":      # os.kill(pid, 0) is no existence check there (signal 0 = CTRL_C)
        return removed
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid() or _pid_alive(int(pid)):
            continue
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed


def save_checkpoint(path, state: dict) -> Path:
    """Write ``state`` (plus format tag and version) atomically to ``path``; temporaries
    of earlier writers that were killed mid-write are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    payload = dict(state)
    payload["format"] = FORMAT
    payload["version"] = VERSION
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    header = MAGIC + struct.pack("<Q", len(data)) + hashlib.sha256(data).digest()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(header)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    try:  # make the rename durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read and verify a checkpoint; raises ``CheckpointError`` saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    raw = path.read_bytes()
    if not raw.startswith(MAGIC):
        if len(raw) < len(MAGIC) and MAGIC.startswith(raw):
            raise CheckpointError(f"{path}: truncated checkpoint ({len(raw)} bytes, header incomplete)")
        raise CheckpointError(f"{path}: not a gdapp checkpoint (unknown file header); "
                              f"expected a file written by 'python -m engine train'")
    if len(raw) < _HEADER:
        raise CheckpointError(f"{path}: truncated checkpoint ({len(raw)} bytes, header incomplete)")
    (length,) = struct.unpack("<Q", raw[len(MAGIC):len(MAGIC) + 8])
    digest = raw[len(MAGIC) + 8:_HEADER]
    data = raw[_HEADER:]
    if len(data) < length:
        raise CheckpointError(f"{path}: truncated checkpoint: expected {length} bytes of data, "
                              f"found {len(data)} (interrupted copy or write?)")
    if len(data) > length:
        raise CheckpointError(f"{path}: corrupt checkpoint: {len(data) - length} unexpected "
                              f"bytes after the data")
    if hashlib.sha256(data).digest() != digest:
        raise CheckpointError(f"{path}: corrupt checkpoint: checksum mismatch (the file was "
                              f"modified or damaged)")
    try:
        payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise CheckpointError(f"{path}: corrupt checkpoint: cannot read its data ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a gdapp checkpoint (format tag missing)")
    version = payload.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {version!r} is newer than this "
                              f"program supports ({VERSION}); update gdapp")
    return payload


# ----------------------------------------------------------------------------- models
def model_from_checkpoint(payload: dict, use_ema: bool = True):
    """Build the network a checkpoint payload describes and load its (EMA) weights."""
    from engine.models import build_model
    cfg = payload.get("config") or {}
    model_cfg = cfg.get("model") or {}
    name = model_cfg.get("name")
    if not name:
        raise CheckpointError("checkpoint has no model description (config.model.name)")
    model = build_model(name, **dict(model_cfg.get("kwargs") or {}))
    weights = payload.get("ema") if use_ema and payload.get("ema") else payload.get("model")
    if weights is None:
        raise CheckpointError("checkpoint holds no model weights")
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint weights do not fit model {name!r}: {exc}") from None
    model.eval()
    return model


def read_network(path, device="cpu", use_ema: bool = True):
    """``(network, config_dict)`` from a checkpoint file, EMA weights by default, in eval mode.

    ``config_dict['process']`` holds what the sampler needs to rebuild the diffusion
    (gamma, lam, schedule, beta_min, beta_max, coord_scale).
    """
    payload = load_checkpoint(path, map_location="cpu")
    try:
        model = model_from_checkpoint(payload, use_ema)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return model.to(device), payload.get("config") or {}
