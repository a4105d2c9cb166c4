"""The seed's reconstruction benchmark: baselines and metrics (``bench/seed_benchmark.py``).

A clean structure ``S_0`` is noised with the exact forward process to ``S_t`` and
reconstructed as ``Ŝ_0`` by the diffusion model or by one of these baselines:

* ``heat_smoothing``        Gaussian smoothing on the graph, ``exp(−τ L) S_t`` (the heat
  kernel), optionally followed by ``Φ(t)^{-1}`` (guarded) to undo the process's shrinkage;
* ``linear_interpolation``  ``(1 − w) S_t + w · target`` with ``target`` the
  graph-neighbour average ``neighbour_average(S_t, L) = D^{-1} W S_t`` or the prior mean 0;
* ``random_reconstruction`` a draw of the prior ``N(0, Σ(1))`` (ignores ``S_t``);
* ``GaussianModeModel``     the exact denoiser for Gaussian data with a mode-diagonal
  covariance fitted to a data set (the Wiener filter in the eigenbasis), usable both as
  a one-step posterior mean ``E[S_0 | S_t]`` and as an ε-model for the samplers.

Metrics of one structure ``Ŝ_0 (N, 3)`` against ``S_0 (N, 3)``:

* ``mse``          ``‖Ŝ_0 − S_0‖²_F / (3N)`` (optionally after centring both, and after the
  optimal proper rotation of ``Ŝ_0`` onto ``S_0``, ``kabsch_align``);
* ``smoothness``   ``‖L Ŝ_0‖²_F``;
* ``energy``       ``½ ‖M^{1/2} (Ŝ_0 − S*)‖²_F`` with ``S* = S_0`` (masses ``M``, default 1).

Everything works in float64 NumPy/torch; processes are ``engine.process`` objects.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import scipy.sparse as sp
import torch

from engine.errors import InputError

__all__ = [
    "centered", "kabsch_align", "mse", "smoothness", "energy", "structure_metrics",
    "neighbour_average", "linear_interpolation", "heat_smoothing", "random_reconstruction",
    "GaussianModeModel", "tune_scalar",
]


# ----------------------------------------------------------------------------- helpers
def _coords(S, name: str = "S") -> np.ndarray:
    S = np.asarray(S.detach().cpu().numpy() if isinstance(S, torch.Tensor) else S, dtype=np.float64)
    if S.ndim != 2 or S.shape[1] != 3:
        raise InputError(f"{name} must have shape (N, 3), got {S.shape}")
    if not np.all(np.isfinite(S)):
        raise InputError(f"{name} contains NaN or infinite values")
    return S


def _same_shape(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape != b.shape:
        raise InputError(f"{what}: shapes {a.shape} and {b.shape} differ")


def centered(S) -> np.ndarray:
    """``S − mean(S)`` over the nodes, ``(N, 3)``."""
    S = _coords(S)
    return S - S.mean(axis=0, keepdims=True)


def kabsch_align(P, Q) -> np.ndarray:
    """``P`` centred and rotated (a proper rotation, no reflection) onto centred ``Q``:
    the ``R`` minimising ``‖(P − p̄) R − (Q − q̄)‖_F``. Returns the moved ``P`` ``(N, 3)``
    (centred at the origin, like the centred ``Q`` it is compared with)."""
    P, Q = centered(_coords(P, "P")), centered(_coords(Q, "Q"))
    _same_shape(P, Q, "kabsch_align")
    H = P.T @ Q
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(U @ Vt)) or 1.0
    D = np.diag([1.0, 1.0, d])
    return P @ (U @ D @ Vt)


def _prepared_pair(S_hat, S0, center: bool, align: bool):
    S_hat, S0 = _coords(S_hat, "S_hat"), _coords(S0, "S0")
    _same_shape(S_hat, S0, "reconstruction")
    if align:
        return kabsch_align(S_hat, S0), centered(S0)
    if center:
        return centered(S_hat), centered(S0)
    return S_hat, S0


# ----------------------------------------------------------------------------- metrics
def mse(S_hat, S0, *, center: bool = False, align: bool = False) -> float:
    """Mean squared error per coordinate ``‖Ŝ_0 − S_0‖²_F / (3N)``; ``center`` removes
    both means first, ``align`` (implies centring) rotates ``Ŝ_0`` optimally onto ``S_0``."""
    A, B = _prepared_pair(S_hat, S0, center, align)
    return float(np.mean((A - B) ** 2))


def _laplacian(L, n: int) -> sp.csr_matrix:
    L = sp.csr_matrix(L.detach().cpu().numpy() if isinstance(L, torch.Tensor) else L, dtype=np.float64)
    if L.shape != (n, n):
        raise InputError(f"the Laplacian has shape {L.shape}, expected ({n}, {n})")
    return L


def smoothness(S, L) -> float:
    """``‖L S‖²_F`` (the seed's graph-smoothness metric)."""
    S = _coords(S)
    return float(np.sum(np.asarray(_laplacian(L, len(S)) @ S) ** 2))


def energy(S_hat, S_ref, masses=None) -> float:
    """``½ Σ_i m_i ‖Ŝ_0,i − S*_i‖²`` (``masses (N,)``, default all 1)."""
    S_hat, S_ref = _coords(S_hat, "S_hat"), _coords(S_ref, "S_ref")
    _same_shape(S_hat, S_ref, "energy")
    m = np.ones(len(S_hat)) if masses is None else np.asarray(masses, dtype=np.float64).reshape(-1)
    if m.shape != (len(S_hat),):
        raise InputError(f"masses must have shape ({len(S_hat)},), got {m.shape}")
    return float(0.5 * np.sum(m[:, None] * (S_hat - S_ref) ** 2))


def structure_metrics(S_hat, S0, L, masses=None, *, center: bool = False,
                      align: bool = False, scale: float = 1.0) -> dict:
    """``{"mse", "smoothness", "energy"}`` of one reconstruction; ``energy`` uses
    ``S* = S_0`` after the same centring/alignment as ``mse``. ``scale`` converts units
    (e.g. Å per model unit): MSE, smoothness and energy are multiplied by ``scale²``."""
    A, B = _prepared_pair(S_hat, S0, center, align)
    s2 = float(scale) ** 2
    return {"mse": float(np.mean((A - B) ** 2)) * s2,
            "smoothness": smoothness(_coords(S_hat), L) * s2,
            "energy": energy(A, B, masses) * s2}


# ----------------------------------------------------------------------------- baselines
def neighbour_average(S, L) -> np.ndarray:
    """``D^{-1} W S`` ``(N, 3)`` with ``W = D − L`` (isolated nodes keep their value)."""
    S = _coords(S)
    L = _laplacian(L, len(S))
    deg = L.diagonal()
    W = sp.diags(deg) - L
    avg = np.asarray(W @ S)
    isolated = deg <= 0
    out = np.where(isolated[:, None], S, avg / np.where(isolated, 1.0, deg)[:, None])
    return out


def linear_interpolation(St, target, w: float) -> np.ndarray:
    """``(1 − w) S_t + w · target`` (``target`` an ``(N, 3)`` array, or 0 for the prior mean)."""
    St = _coords(St, "St")
    if not np.isfinite(w):
        raise InputError(f"interpolation weight must be finite, got {w}")
    target = np.zeros_like(St) if np.isscalar(target) and target == 0 else _coords(target, "target")
    _same_shape(St, target, "linear_interpolation")
    return (1.0 - w) * St + w * target


def _laplacian_eigenvalue(process, a: torch.Tensor) -> torch.Tensor:
    """``μ = (a − λ)/γ``: the eigenvalue of ``L`` behind an eigenvalue ``a`` of ``A``."""
    return ((a - process.lam) / process.gamma).clamp(min=0.0)


def heat_smoothing(process, St, tau: float, *, t: float | None = None, floor: float = 0.05):
    """Gaussian (heat-kernel) smoothing ``exp(−τ L) S_t`` on the process's graph; with
    ``t`` also ``Φ(t)^{-1}`` (guarded like the samplers: ``φ/(φ² + floor²)``).

    ``St`` in any layout the process takes; returns the same layout (torch). A centred
    process (molecules) drops the centre-of-mass mode, so the output is centred.
    """
    from engine.process import modes

    if not (np.isfinite(tau) and tau >= 0):
        raise InputError(f"tau must be a finite number >= 0, got {tau}")
    if t is None:
        return process.apply_mode_function(St, lambda a: torch.exp(-tau * _laplacian_eigenvalue(process, a)))
    B = process.integral(t)
    return process.apply_mode_function(
        St, lambda a: torch.exp(-tau * _laplacian_eigenvalue(process, a)) * modes.inv_phi(a, B, floor))


def random_reconstruction(process, St, generator: torch.Generator | None = None):
    """A draw of ``N(0, Σ(1))`` (the reverse process's start) in the layout of ``St``."""
    zeros = torch.zeros_like(torch.as_tensor(St, dtype=process.dtype))
    S1, _ = process.noise(zeros, 1.0, generator=generator)
    return S1


class GaussianModeModel:
    """Exact denoiser for Gaussian data ``z_0,i ~ N(m_i, v_i)`` per mode of a
    ``GraphDiffusion`` with explicit modes (dense or lattice backend).

    ``fit(process, fields)`` takes ``(M, N, 3)`` structures: ``m`` is their mean field,
    ``v_i`` the variance of mode ``i`` about it, pooled over the 3 components and the M
    samples. Then

    * ``eps(S_t, t) = σ_i (z_t − φ_i m_i) / (φ_i² v_i + σ_i²)``  (``E[ε | S_t]``),
    * ``posterior_mean(S_t, t) = m + φ_i v_i (z_t − φ_i m_i) / (φ_i² v_i + σ_i²)``
      (``E[S_0 | S_t]``, the Wiener filter; ``s0_from_eps`` of ``eps`` gives the same),

    so the object is also an ``eps_model(S_t, t)`` for ``engine.sampling.samplers``.
    """

    def __init__(self, process, mean, mode_var):
        self.process = process
        self.mean = torch.as_tensor(mean, dtype=process.dtype).reshape(process.n, 3)
        self.var = torch.as_tensor(mode_var, dtype=process.dtype).reshape(-1)
        if self.var.shape[0] != process.n or bool((self.var < 0).any()):
            raise InputError(f"mode variances must be {process.n} values >= 0")
        self.mean_modes = process.to_modes(self.mean)

    @classmethod
    def fit(cls, process, fields) -> GaussianModeModel:
        X = torch.as_tensor(fields, dtype=process.dtype)
        if X.dim() != 3 or X.shape[1:] != (process.n, 3) or X.shape[0] < 2:
            raise InputError(f"fit needs (M >= 2, {process.n}, 3) fields, got {tuple(X.shape)}")
        mean = X.mean(0)
        Z = process.to_modes(X - mean)
        return cls(process, mean, (Z ** 2).mean(dim=(0, 2)))

    def _coefficients(self, t):
        from engine.process import modes

        a = self.process.eigenvalues
        B = self.process.integral(t)
        phi, std = modes.phi(a, B), modes.std(a, B)
        denom = phi * phi * self.var + std * std
        denom = torch.where(denom > 0, denom, torch.ones_like(denom))
        return phi, std, denom

    def __call__(self, St, t):
        return self.eps(St, t)

    def eps(self, St, t):
        phi, std, denom = self._coefficients(t)
        Z = self.process.to_modes(St)
        out = (std / denom).unsqueeze(-1) * (Z - phi.unsqueeze(-1) * self.mean_modes)
        return self.process.from_modes(out)

    def posterior_mean(self, St, t):
        phi, _, denom = self._coefficients(t)
        Z = self.process.to_modes(St)
        gain = torch.where(denom > 0, phi * self.var / denom, torch.zeros_like(denom))
        out = self.mean_modes + gain.unsqueeze(-1) * (Z - phi.unsqueeze(-1) * self.mean_modes)
        return self.process.from_modes(out)

    def mmse(self, t) -> torch.Tensor:
        """Per-mode posterior variance ``v σ² / (φ² v + σ²)`` ``(N,)`` (the ideal error)."""
        phi, std, denom = self._coefficients(t)
        return self.var * std * std / denom


# ----------------------------------------------------------------------------- tuning
def tune_scalar(grid: Iterable[float], loss: Callable[[float], float]):
    """``(best value, {value: loss})`` over ``grid`` (first of the smallest on ties)."""
    losses = {}
    for value in grid:
        losses[float(value)] = float(loss(float(value)))
    if not losses:
        raise InputError("tune_scalar needs a non-empty grid")
    best = min(losses, key=lambda v: (losses[v], list(losses).index(v)))
    return best, losses
