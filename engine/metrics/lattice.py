"""Per-frame metrics of a lattice trajectory (the seed's lattice metrics; regularisers of docs/math.md §4).

For each frame ``S`` against the input ``S₀`` on the lattice graph (Laplacian ``L``,
edges ``(i, j)``):

* ``mse``         ‖S − S₀‖²_F / (3N)            (mean squared error to the input)
* ``smoothness``  ‖L S‖²_F                      (graph smoothness)
* ``energy``      ½ ‖S − S₀‖²_F                 (the energy regulariser, unit masses)
* ``alignment``   Σ_(i,j) (1 − cos∠(S_i, S_j))  (the lattice alignment regulariser)
* ``norm_error``  mean_i |‖S_i‖ − 1|            (spin systems only: unit vectors)
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["lattice_frame_metrics", "METRIC_NAMES"]

METRIC_NAMES = ("mse", "smoothness", "energy", "alignment", "norm_error")


def lattice_frame_metrics(frames: Sequence[np.ndarray], S0: np.ndarray, laplacian, edges: np.ndarray,
                          spin: bool = False, times: Sequence[float] | None = None) -> list[dict]:
    """One dict per frame: ``frame``, ``t`` (or None), the metrics above (``norm_error``
    ``None`` unless ``spin``)."""
    S0 = np.asarray(S0, dtype=np.float64)
    n = S0.shape[0]
    if S0.shape != (n, 3):
        raise ValueError(f"the input field must have shape (N, 3), got {S0.shape}")
    L = sp.csr_matrix(laplacian, dtype=np.float64)
    if L.shape != (n, n):
        raise ValueError(f"the Laplacian has shape {L.shape}, expected ({n}, {n})")
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    out = []
    for k, frame in enumerate(frames):
        S = np.asarray(frame, dtype=np.float64)
        if S.shape != (n, 3):
            raise ValueError(f"frame {k} has shape {S.shape}, expected ({n}, 3)")
        diff = S - S0
        sq = float(np.sum(diff * diff))
        if len(edges):
            a, b = S[edges[:, 0]], S[edges[:, 1]]
            norms = np.sqrt(np.maximum(np.sum(a * a, 1) * np.sum(b * b, 1), 1e-24))
            alignment = float(np.sum(1.0 - np.sum(a * b, 1) / norms))
        else:
            alignment = 0.0
        out.append({
            "frame": k,
            "t": None if times is None else float(times[k]),
            "mse": sq / (3 * n),
            "smoothness": float(np.sum(np.asarray(L @ S) ** 2)),
            "energy": 0.5 * sq,
            "alignment": alignment,
            "norm_error": float(np.mean(np.abs(np.linalg.norm(S, axis=1) - 1.0))) if spin else None,
        })
    return out
