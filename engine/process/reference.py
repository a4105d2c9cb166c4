"""The seed's discrete recursions, kept as reference paths and test oracles (dense, N×N).

On a grid ``t_k`` with ``Delta_k = B(t_{k+1}) - B(t_k)``::

    Phi_{k+1}   = (I - 1/2 Delta_k A) Phi_k
    Sigma_{k+1} = (I - 1/2 Delta_k A) Sigma_k (I - 1/2 Delta_k A)^T + Delta_k I

converges to the exact ``Phi(t)``, ``Sigma(t)`` at first order in the step. The seed's
``diag_approx`` keeps only the diagonal of ``Sigma`` in node space after every step: an
approximation to measure (``diag_approx_error``), never a default.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


def drift_matrix(L, gamma: float, lam: float, dtype=torch.float64) -> torch.Tensor:
    """Dense ``A = gamma L + lam I``."""
    L = sp.csr_matrix(L).toarray() if sp.issparse(L) else np.asarray(L)
    A = gamma * L + lam * np.eye(L.shape[0])
    return torch.as_tensor(A, dtype=dtype)


def euler_phi_sigma(A: torch.Tensor, schedule, t: float, steps: int, diag_approx: bool = False):
    """``(Phi_K, Sigma_K)`` after ``steps`` uniform Euler steps from 0 to ``t``."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    n = A.shape[0]
    eye = torch.eye(n, dtype=A.dtype, device=A.device)
    Phi = eye.clone()
    Sigma = torch.zeros_like(eye)
    grid = np.linspace(0.0, float(t), steps + 1)
    for k in range(steps):
        delta = float(schedule.integral(grid[k + 1]) - schedule.integral(grid[k]))
        M = eye - 0.5 * delta * A
        Phi = M @ Phi
        Sigma = M @ Sigma @ M.T + delta * eye
        if diag_approx:
            Sigma = torch.diag(torch.diagonal(Sigma))
    return Phi, Sigma


def diag_approx_error(A: torch.Tensor, schedule, t: float, steps: int = 1000) -> float:
    """Relative Frobenius error of the seed's diagonal approximation of ``Sigma(t)``."""
    _, full = euler_phi_sigma(A, schedule, t, steps)
    _, diag = euler_phi_sigma(A, schedule, t, steps, diag_approx=True)
    return float(torch.linalg.norm(diag - full) / torch.linalg.norm(full))
