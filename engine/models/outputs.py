"""What a molecule network's output means, and the two estimates made from it.

A network's ``parameterization`` (``EGNNEpsNet(parameterization=...)``; ``eps`` when it
has none) says how its output ``out`` relates to the noised ``S_t`` (docs/training.md,
"Parameterisations and self-conditioning"):

* ``eps``: ``out = ε̂``; ``Ŝ₀ = Φ⁻¹(S_t − Σ^{1/2} ε̂)``, with ``Φ⁻¹`` guarded by a floor;
* ``v``: ``out = v̂``, the preconditioned estimate ``Ŝ₀ = Φ S_t + Σ^{1/2} v̂`` and
  ``ε̂ = σ a S_t − φ v̂`` per mode (``SpectralProcess.s0_from_v`` / ``eps_from_v``); no
  ``Φ⁻¹``, hence no guard.

``process`` is the ``GraphBatchDiffusion`` of the batch (any ``SpectralProcess``).
"""
from __future__ import annotations

import torch

__all__ = ["parameterization", "uses_self_cond", "eps_from_output", "s0_from_output",
           "target_of"]


def parameterization(network) -> str:
    """``eps`` or ``v`` (networks without the attribute predict ε)."""
    return str(getattr(network, "parameterization", "eps"))


def uses_self_cond(network) -> bool:
    """Whether ``network`` takes the previous estimate Ŝ₀ (``forward(..., self_cond=)``)."""
    return bool(getattr(network, "self_cond", False))


def eps_from_output(kind: str, process, St, t, out: torch.Tensor) -> torch.Tensor:
    """ε̂ from the network's output ``out`` at ``(S_t, t)``."""
    if kind == "eps":
        return out
    if kind == "v":
        return process.eps_from_v(St, t, out)
    raise ValueError(f"unknown parameterization {kind!r}")


def s0_from_output(kind: str, process, St, t, out: torch.Tensor,
                   phi_floor: float | None = None) -> torch.Tensor:
    """Ŝ₀ from the network's output; ``phi_floor`` guards ``Φ⁻¹`` of the ``eps`` form
    (default: the process's floor)."""
    if kind == "eps":
        return process.s0_from_eps(St, t, out, phi_floor=phi_floor)
    if kind == "v":
        return process.s0_from_v(St, t, out)
    raise ValueError(f"unknown parameterization {kind!r}")


def target_of(kind: str, process, S0, t, eps) -> torch.Tensor:
    """The training target of the output: ``eps`` itself, or ``v = σ a S₀ − φ ε``."""
    if kind == "eps":
        return eps
    if kind == "v":
        return process.v_target(S0, t, eps)
    raise ValueError(f"unknown parameterization {kind!r}")
