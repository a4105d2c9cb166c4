"""Time embeddings shared by the networks."""
from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0,
                         scale: float = 1000.0) -> torch.Tensor:
    """Sinusoidal embedding of diffusion times.

    ``t`` is ``(B,)`` with values in ``[0, 1]`` (multiplied by ``scale`` so the fastest
    frequencies resolve small time differences); returns ``(B, dim)``
    ``[cos(t·f_k), sin(t·f_k)]`` with ``f_k`` geometrically spaced from 1 to 1/max_period.
    """
    if dim % 2:
        raise ValueError(f"time embedding dimension must be even, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period)
                      * torch.arange(half, dtype=t.dtype, device=t.device) / half)
    args = (t.reshape(-1, 1) * scale) * freqs.reshape(1, -1)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimeEmbedding(nn.Module):
    """``t (B,) -> (B, out_dim)``: sinusoidal features followed by a two-layer MLP."""

    def __init__(self, out_dim: int, sin_dim: int = 64):
        super().__init__()
        self.sin_dim = sin_dim
        self.mlp = nn.Sequential(nn.Linear(sin_dim, out_dim), nn.SiLU(),
                                 nn.Linear(out_dim, out_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(t, self.sin_dim))


def per_graph_times(t, num_graphs: int, like: torch.Tensor) -> torch.Tensor:
    """Normalise ``t`` (float, 0-d or ``(B,)``) to a ``(num_graphs,)`` tensor like ``like``."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.dim() == 0:
        t = t.expand(num_graphs)
    t = t.reshape(-1)
    if t.shape[0] != num_graphs:
        raise ValueError(f"expected one time per graph ({num_graphs}), got {t.shape[0]}")
    return t
