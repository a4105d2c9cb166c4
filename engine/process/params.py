"""The forward process of a structure: :class:`ProcessParams` (what a checkpoint or the app
sets) and :func:`make_process` (the ``GraphDiffusion`` for one structure).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.structures import Structure


@dataclass(frozen=True)
class ProcessParams:
    """Parameters of the forward process (docs/math.md §1). ``lam=None``: 0 for molecules
    (centre of mass removed), 0.1 for lattices."""

    gamma: float = 1.0
    lam: float | None = None
    schedule: str = "linear"
    beta_min: float = 0.1
    beta_max: float = 20.0
    cosine_s: float = 0.008
    cosine_end: float = 10.0


def make_process(structure: Structure, params: ProcessParams | None = None, device=None,
                 phi_floor: float | None = None):
    """``engine.process.GraphDiffusion`` for the structure (float64, centred for molecules).

    ``phi_floor`` guards ``Φ^{-1}`` in ``s0_from_eps``; reverse sampling uses
    ``SAMPLING_PHI_FLOOR`` so that an imperfect ε̂ is amplified at most ``1/(2 floor)``
    times in modes whose signal has decayed (their ``S_0`` part is unknowable anyway).
    """
    import torch

    params = params or ProcessParams()
    from engine.process import GraphDiffusion
    from engine.process.schedules import schedule_from_config

    schedule = schedule_from_config(params)
    molecule = structure.is_molecule
    lam = params.lam if params.lam is not None else (0.0 if molecule else 0.1)
    return GraphDiffusion(structure.laplacian, gamma=params.gamma, lam=lam, schedule=schedule,
                          dtype=torch.float64, device=device, center=molecule,
                          phi_floor=phi_floor)
