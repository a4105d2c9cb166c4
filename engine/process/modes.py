"""Per-mode scalar functions of the process: everything is diagonal in A's eigenbasis.

For an eigenvalue ``a`` of ``A = gamma L + lam I`` and an integrated rate ``dB``
(``B(t) - B(s)``):

    phi(a, dB)  = exp(-dB a / 2)                 mean factor
    var(a, dB)  = (1 - exp(-dB a)) / a           variance (limit dB at a = 0)

Every helper broadcasts over tensors ``a`` and ``dB`` and is safe at ``a = 0``.
"""
from __future__ import annotations

import torch


def _one_minus_exp_over_x(x: torch.Tensor) -> torch.Tensor:
    """``(1 - exp(-x)) / x``, equal to 1 at ``x = 0`` and accurate for tiny ``x``."""
    small = x.abs() < 1e-6
    safe = torch.where(small, torch.ones_like(x), x)
    series = 1.0 - 0.5 * x + x * x / 6.0
    return torch.where(small, series, -torch.expm1(-safe) / safe)


def phi(a: torch.Tensor, dB: torch.Tensor) -> torch.Tensor:
    return torch.exp(-0.5 * dB * a)


def var(a: torch.Tensor, dB: torch.Tensor) -> torch.Tensor:
    dB = torch.clamp(torch.as_tensor(dB), min=0.0)  # B(0) may round to -1e-17
    return dB * _one_minus_exp_over_x(dB * a)


def std(a: torch.Tensor, dB: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(var(a, dB))


def inv_phi(a: torch.Tensor, dB: torch.Tensor, floor: float) -> torch.Tensor:
    """``1/phi`` with a smooth Tikhonov guard: ``phi / (phi^2 + floor^2)``.

    Exact to relative ``(floor/phi)^2`` where ``phi >> floor``; modes whose signal has
    decayed below ``floor`` are damped instead of amplified (their ``S_0`` component is
    unknowable from ``S_t``).
    """
    p = phi(a, dB)
    return p / (p * p + floor * floor)


def inv_std(a: torch.Tensor, dB: torch.Tensor) -> torch.Tensor:
    """``1/sigma`` (0 where ``sigma = 0``, e.g. at ``t = 0``)."""
    s = std(a, dB)
    return torch.where(s > 0, 1.0 / torch.where(s > 0, s, torch.ones_like(s)), torch.zeros_like(s))


def posterior_coefficients(a, B_s, B_t):
    """Per-mode coefficients of ``q(z_s | z_t, z_0) = N(c0 z_0 + ct z_t, c_var)`` for s < t.

    With ``F = phi(t|s)``, ``Q = var(t|s)``, ``v_s = var(s)``, ``v_t = var(t) = F^2 v_s + Q``:
    ``c_var = v_s Q / v_t``, ``c0 = Q phi(s) / v_t``, ``ct = F v_s / v_t``. At s = 0 this is
    the point mass at ``z_0``.
    """
    F = phi(a, B_t - B_s)
    Q = var(a, B_t - B_s)
    v_s = var(a, B_s)
    v_t = F * F * v_s + Q
    safe = torch.where(v_t > 0, v_t, torch.ones_like(v_t))
    c_var = torch.where(v_t > 0, v_s * Q / safe, torch.zeros_like(v_t))
    c0 = torch.where(v_t > 0, Q * phi(a, B_s) / safe, torch.ones_like(v_t))
    ct = torch.where(v_t > 0, F * v_s / safe, torch.zeros_like(v_t))
    return c0, ct, c_var
