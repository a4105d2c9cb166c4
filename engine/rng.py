"""Per-structure random streams for batched sampling.

A batch concatenates many structures into one ``(N_total, 3)`` array. With one
``torch.Generator`` for the whole batch, a structure's noise depends on which other
structures share its batch, so a molecule sampled alone, in another batch or in another
shard of the input came out differently. :class:`PerGraphGenerator` gives every structure
of the batch its own generator: the draws for structure ``j`` (rows ``ptr[j]:ptr[j+1]``)
come from generator ``j`` only. ``sample --shard K/N`` relies on it: a molecule's
conformers depend on its input index and the seed, never on the rest of the input.

:func:`randn` is what the process and the samplers call instead of ``torch.randn``; with
a plain ``torch.Generator`` (or ``None``) it *is* ``torch.randn``.
"""
from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["PerGraphGenerator", "randn", "stream_seed", "capture_rng_state", "restore_rng_state"]


def stream_seed(*key: int) -> int:
    """A 63-bit seed from a tuple of integers (e.g. ``(seed, input_index, slot, round)``);
    every distinct key gets an independent stream (``numpy.random.SeedSequence``)."""
    entropy = [int(k) & 0xFFFFFFFFFFFFFFFF for k in key]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class PerGraphGenerator:
    """One ``torch.Generator`` per structure of a concatenated batch.

    ``seeds[j]`` seeds structure ``j``; ``ptr`` (``G + 1`` offsets) says which rows it owns.
    """

    def __init__(self, seeds: Sequence[int], ptr: Sequence[int] | np.ndarray, device="cpu"):
        ptr = [int(p) for p in ptr]
        if len(ptr) != len(seeds) + 1:
            raise ValueError(f"{len(seeds)} seeds need {len(seeds) + 1} offsets, got {len(ptr)}")
        self.ptr = ptr
        self.device = torch.device(device)
        self.generators = [torch.Generator(device=self.device).manual_seed(int(s)) for s in seeds]

    def randn(self, shape, dtype=None, device=None) -> torch.Tensor:
        shape = tuple(int(s) for s in shape)
        if len(shape) < 2 or shape[-2] != self.ptr[-1]:
            raise ValueError(f"a per-structure draw needs shape (..., {self.ptr[-1]}, d), got {shape}")
        device = torch.device(device) if device is not None else self.device
        parts = [torch.randn(shape[:-2] + (b - a, shape[-1]), generator=g, dtype=dtype, device=self.device)
                 for g, a, b in zip(self.generators, self.ptr[:-1], self.ptr[1:])]
        return torch.cat(parts, dim=-2).to(device)


def randn(shape, generator=None, dtype=None, device=None) -> torch.Tensor:
    """``torch.randn(shape, generator=generator, ...)``, or per-structure draws when
    ``generator`` is a :class:`PerGraphGenerator`."""
    if isinstance(generator, PerGraphGenerator):
        return generator.randn(shape, dtype=dtype, device=device)
    return torch.randn(shape, generator=generator, dtype=dtype, device=device)


# ----------------------------------------------------------------------------- global RNG state (training resumes)
def capture_rng_state() -> dict:
    """RNG states of torch (CPU and CUDA), numpy's global generator and ``random``."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
