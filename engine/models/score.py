"""Score-network view of an ε-network: ``s = −Σ(t)^{-1/2} ε̂`` (docs/math.md §2)."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["ScoreNetwork"]


class ScoreNetwork(nn.Module):
    """Wraps an ε-network; ``forward(x, t, graph, process) -> score`` (same shape as ``x``).

    ``process`` is the diffusion the batch was noised with (``GraphBatchDiffusion`` for
    concatenated molecules, ``GraphDiffusion`` for one lattice); its ``score_from_eps``
    applies ``−Σ(t)^{-1/2}`` per eigenmode, so ε- and score-parameterisations are
    interchangeable. ``eps(x, t, graph)`` gives the wrapped network's ε̂.
    """

    def __init__(self, eps_model: nn.Module):
        super().__init__()
        self.eps_model = eps_model

    @property
    def kind(self) -> str:
        return getattr(self.eps_model, "kind", "molecule")

    def eps(self, x: torch.Tensor, t, graph) -> torch.Tensor:
        return self.eps_model(x, t, graph)

    def forward(self, x: torch.Tensor, t, graph, process) -> torch.Tensor:
        return process.score_from_eps(self.eps_model(x, t, graph), t)
