"""``sample --shard K/N``: which input molecules a shard takes.

The input is cut into blocks of ``--chunk`` consecutive molecules (by input index, counting
unreadable records too); shard K (1-based) takes blocks K-1, K-1+N, K-1+2N, ... Each
molecule's random streams depend only on the seed and its input index, and a block is
sampled in the same batches as in the unsharded run, so the shards merged by input index
(``python -m engine merge``) are the unsharded output, byte for byte (same --chunk and
--batch-size, same device). Under torchrun (RANK / WORLD_SIZE set, WORLD_SIZE > 1) and
without --shard, rank R takes shard R+1 of WORLD_SIZE and writes OUT.shard<R+1>of<N>.sdf.
"""
from __future__ import annotations

import os
import re
from pathlib import Path


class ShardError(ValueError):
    pass


def parse_shard(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m:
        raise ShardError(f"--shard must look like K/N (e.g. 2/8), got {text!r}")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= k <= n:
        raise ShardError(f"--shard {text}: K must be between 1 and N (shards are numbered 1..{max(n, 1)})")
    return k, n


def shard_from_env(env=None) -> tuple[int, int] | None:
    """``(RANK + 1, WORLD_SIZE)`` under torchrun / a launcher that sets both, else None."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env or "RANK" not in env:
        return None
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
    except ValueError:
        raise ShardError(f"RANK={env['RANK']!r} / WORLD_SIZE={env['WORLD_SIZE']!r} are not integers") from None
    if world <= 1:
        return None
    if not 0 <= rank < world:
        raise ShardError(f"RANK={rank} is outside 0..WORLD_SIZE-1={world - 1}")
    return rank + 1, world


def shard_output(out, shard: tuple[int, int]) -> Path:
    out = Path(out)
    return out.with_name(f"{out.stem}.shard{shard[0]}of{shard[1]}{out.suffix}")


def in_shard(index: int, chunk: int, shard: tuple[int, int] | None) -> bool:
    if shard is None:
        return True
    k, n = shard
    return (index // chunk) % n == k - 1


def shard_size(total: int | None, chunk: int, shard: tuple[int, int] | None) -> int | None:
    if total is None or shard is None:
        return total
    return sum(1 for i in range(total) if in_shard(i, chunk, shard))
