"""Learning-rate schedule and exponential moving average of the weights."""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

__all__ = ["warmup_cosine", "EMA"]


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float = 0.05):
    """LR multiplier: linear ramp over ``warmup_steps`` then cosine decay to ``min_ratio``."""
    def factor(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return factor


class EMA:
    """Shadow copy of a model whose parameters track ``decay``-weighted averages.

    The effective decay ramps up as ``min(decay, (1 + n) / (10 + n))`` over the first
    updates so early weights do not dominate. ``decay == 0`` copies the weights.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = float(decay)
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        for shadow, p in zip(self.model.parameters(), model.parameters()):
            shadow.mul_(d).add_(p.detach(), alpha=1.0 - d)
        for shadow_buffer, b in zip(self.model.buffers(), model.buffers()):
            shadow_buffer.copy_(b)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.updates = int(state["updates"])
