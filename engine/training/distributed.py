"""DistributedDataParallel plumbing and the resumable, rank-aware batch plan.

Under ``torchrun --nproc_per_node=K`` the environment holds ``WORLD_SIZE``/``RANK``/
``LOCAL_RANK``; ``init_distributed`` then starts a process group (gloo on CPU, nccl on
CUDA). Every rank sees the same global batch order: each epoch is a permutation of the
data set seeded by ``(seed, epoch)``; global batch k is ``perm[k·K·b : (k+1)·K·b]`` and rank
r takes every K-th element from position r — so the union over ranks of one step is the
same set of samples a single process with batch ``K·b`` would use (this is what makes a
K-rank run match a one-process run with the same global batch).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "init_distributed", "BatchPlan", "all_reduce_sum", "barrier",
           "shutdown_distributed"]


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistInfo:
    """Start the process group when launched by torchrun (``WORLD_SIZE > 1``)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world, local)


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized():
        t = t.clone()
        dist.all_reduce(t)
    return t


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


class BatchPlan:
    """Index batches for one rank, reproducible from ``(seed, epoch, position)``.

    ``batches(epoch, start)`` yields the rank's index lists for global batches
    ``start, start+1, …`` of that epoch; ``per_epoch`` global batches per epoch (the last
    partial global batch is dropped so every rank has the same batch size).
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int, dist_info: DistInfo,
                 shuffle: bool = True):
        self.n = int(num_samples)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.dist = dist_info
        self.shuffle = shuffle
        self.global_batch = self.batch_size * dist_info.world_size
        self.per_epoch = self.n // self.global_batch
        if self.per_epoch == 0:
            from engine.errors import ConfigError
            raise ConfigError(
                f"the training set has {self.n} samples, fewer than one global batch "
                f"({self.batch_size} x {dist_info.world_size} ranks); lower data.batch_size")

    def permutation(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.n)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + int(epoch))
        return torch.randperm(self.n, generator=gen)

    def batches(self, epoch: int, start: int = 0):
        perm = self.permutation(epoch)
        r, k = self.dist.rank, self.dist.world_size
        for b in range(start, self.per_epoch):
            chunk = perm[b * self.global_batch:(b + 1) * self.global_batch]
            yield chunk[r::k].tolist()
