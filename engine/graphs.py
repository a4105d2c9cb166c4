"""Graph Laplacians: lattices and weighted edge lists (scipy.sparse, no model code).

``L = D - W`` with a symmetric, non-negative weighted adjacency ``W``. Every function
here returns a ``scipy.sparse.csr_matrix`` of dtype float64.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

__all__ = [
    "grid_laplacian",
    "grid_edges",
    "laplacian_from_edges",
    "laplacian_from_adjacency",
    "connected_components",
    "max_weighted_degree",
]


def _path_laplacian(n: int) -> sp.csr_matrix:
    """Laplacian of a path with ``n`` nodes (Neumann ends: degree 1 at the ends)."""
    if n == 1:
        return sp.csr_matrix((1, 1), dtype=np.float64)
    main = np.full(n, 2.0)
    main[0] = main[-1] = 1.0
    off = -np.ones(n - 1)
    return sp.diags([off, main, off], [-1, 0, 1], format="csr", dtype=np.float64)


def _check_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(int(s) for s in shape)
    if not 1 <= len(shape) <= 3:
        raise ValueError(f"grid shape must have 1, 2 or 3 dimensions, got {shape!r}")
    if any(s < 1 for s in shape):
        raise ValueError(f"grid shape must be positive in every dimension, got {shape!r}")
    return shape


def grid_laplacian(shape: int | Sequence[int]) -> sp.csr_matrix:
    """Laplacian of a 1D/2D/3D regular lattice with Neumann (free) boundaries.

    ``shape`` is ``(n,)``, ``(nx, ny)`` or ``(nx, ny, nz)``; nodes are numbered in C order
    (the last axis varies fastest), matching ``numpy.ravel``. The Laplacian is the
    Kronecker sum of path Laplacians, which the DCT-II diagonalises exactly.
    """
    shape = _check_shape(shape)
    total = None
    for axis, n in enumerate(shape):
        term = _path_laplacian(n)
        for other_axis, m in enumerate(shape):
            if other_axis < axis:
                term = sp.kron(sp.identity(m, format="csr"), term, format="csr")
            elif other_axis > axis:
                term = sp.kron(term, sp.identity(m, format="csr"), format="csr")
        total = term if total is None else total + term
    L = sp.csr_matrix(total, dtype=np.float64)
    L.grid_shape = shape  # lets GraphDiffusion pick the DCT backend (checked on use)
    return L


def grid_edges(shape: int | Sequence[int]) -> np.ndarray:
    """Nearest-neighbour edges ``(E, 2)`` of a lattice in C order (each edge once, i < j)."""
    shape = _check_shape(shape)
    index = np.arange(int(np.prod(shape))).reshape(shape)
    edges = []
    for axis in range(len(shape)):
        lo = np.take(index, np.arange(shape[axis] - 1), axis=axis).ravel()
        hi = np.take(index, np.arange(1, shape[axis]), axis=axis).ravel()
        edges.append(np.stack([lo, hi], axis=1))
    if not edges:
        return np.zeros((0, 2), dtype=np.int64)
    return np.concatenate(edges).astype(np.int64)


def laplacian_from_edges(
    n: int,
    edges: Iterable[Sequence[int]] | np.ndarray,
    weights: Iterable[float] | np.ndarray | None = None,
    *,
    symmetric_input: bool = False,
) -> sp.csr_matrix:
    """Weighted graph Laplacian of ``n`` nodes from an edge list.

    ``edges`` is ``(E, 2)``; each undirected edge is listed once (``(i, j)`` adds ``w`` to
    both ``W[i, j]`` and ``W[j, i]``; repeated edges add up). With
    ``symmetric_input=True`` the list is taken as directed entries of ``W`` that must
    already appear in both directions with equal weights (asymmetry is an error).

    Raises ``ValueError`` naming the problem for: a negative or non-finite weight, a
    self-loop, an index outside ``[0, n)``, a malformed edge array, or (with
    ``symmetric_input``) an asymmetric list.
    """
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"number of nodes must be a non-negative integer, got {n!r}")
    n = int(n)
    edges = np.asarray(list(edges) if not isinstance(edges, np.ndarray) else edges)
    if edges.size == 0:
        edges = np.zeros((0, 2), dtype=np.int64)
    if edges.ndim != 2 or edges.shape[1] != 2:
        raise ValueError(f"edges must have shape (E, 2), got {edges.shape}")
    if not np.issubdtype(edges.dtype, np.integer):
        if not np.all(np.isfinite(edges)) or np.any(edges != np.round(edges)):
            raise ValueError("edge indices must be integers")
        edges = edges.astype(np.int64)
    if weights is None:
        w = np.ones(len(edges), dtype=np.float64)
    else:
        w = np.asarray(list(weights) if not isinstance(weights, np.ndarray) else weights,
                       dtype=np.float64).reshape(-1)
        if w.shape[0] != edges.shape[0]:
            raise ValueError(f"got {edges.shape[0]} edges but {w.shape[0]} weights")
    if len(edges):
        bad = np.flatnonzero((edges < 0).any(1) | (edges >= n).any(1))
        if bad.size:
            i = bad[0]
            raise ValueError(f"edge {i} = {tuple(edges[i])} has a node index outside [0, {n})")
        loops = np.flatnonzero(edges[:, 0] == edges[:, 1])
        if loops.size:
            i = loops[0]
            raise ValueError(f"edge {i} = {tuple(edges[i])} is a self-loop")
    if not np.all(np.isfinite(w)):
        i = int(np.flatnonzero(~np.isfinite(w))[0])
        raise ValueError(f"weight {i} is not finite ({w[i]})")
    if np.any(w < 0):
        i = int(np.flatnonzero(w < 0)[0])
        raise ValueError(f"weight {i} is negative ({w[i]}); Laplacian weights must be >= 0")
    if symmetric_input:
        W = sp.coo_matrix((w, (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
        diff = abs(W - W.T)
        if diff.nnz and diff.max() > 1e-12 * max(1.0, abs(W).max()):
            r, c = diff.nonzero()
            raise ValueError(
                f"edge list is not symmetric: W[{r[0]}, {c[0]}] = {W[r[0], c[0]]} but "
                f"W[{c[0]}, {r[0]}] = {W[c[0], r[0]]}")
    else:
        rows = np.concatenate([edges[:, 0], edges[:, 1]])
        cols = np.concatenate([edges[:, 1], edges[:, 0]])
        W = sp.coo_matrix((np.concatenate([w, w]), (rows, cols)), shape=(n, n)).tocsr()
    return laplacian_from_adjacency(W)


def laplacian_from_adjacency(W) -> sp.csr_matrix:
    """``L = diag(W 1) - W`` for a symmetric non-negative adjacency (dense or sparse)."""
    W = sp.csr_matrix(W, dtype=np.float64)
    if W.shape[0] != W.shape[1]:
        raise ValueError(f"adjacency must be square, got shape {W.shape}")
    W = W.copy()
    W.setdiag(0.0)
    W.eliminate_zeros()
    if W.nnz and W.data.min() < 0:
        raise ValueError("adjacency has a negative weight")
    deg = np.asarray(W.sum(axis=1)).ravel()
    L = sp.diags(deg, format="csr") - W
    L.sum_duplicates()
    return sp.csr_matrix(L)


def connected_components(L) -> tuple[int, np.ndarray]:
    """Number of connected components and the label of each node."""
    L = sp.csr_matrix(L)
    adj = L.copy()
    adj.setdiag(0.0)
    adj.eliminate_zeros()
    return sp.csgraph.connected_components(adj != 0, directed=False)


def max_weighted_degree(L) -> float:
    """Largest diagonal entry of ``L`` (half of a Gershgorin bound on ``lambda_max(L)``)."""
    d = sp.csr_matrix(L).diagonal()
    return float(d.max()) if d.size else 0.0
