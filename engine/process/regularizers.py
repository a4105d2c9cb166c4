"""Regularisers on the denoised estimate Ŝ_0 (docs/math.md §4), differentiable torch functions.

Used as training terms and, by the sampler, as guidance (``−∇_{S_t} R(Ŝ_0(S_t))``), so
every function accepts three layouts and returns one value per structure:

* ``(N, 3)`` one structure, ``batch=None``          → a 0-d tensor;
* ``(N, 3)`` concatenated graphs with ``batch (N,)`` → ``(num_graphs,)``;
* ``(B, N, 3)`` a batch of structures on one graph  → ``(B,)``.

Terms (``M`` diagonal masses, ``S*`` reference structure, ``L`` graph Laplacian):

* ``energy``      E  = ½ ‖M^{1/2}(Ŝ_0 − S*)‖²_F
* ``smoothness``  G  = ‖L Ŝ_0‖²_F
* ``alignment``   Al = Σ_(i,j) w_ij (1 − cos∠(Ŝ_0,j − Ŝ_0,i, u*_ij)); with ``ref_dirs=None``
  the lattice form Σ w_ij (1 − cos∠(Ŝ_0,i, Ŝ_0,j)) between neighbouring vectors.
* ``combined``    R  = λ_E E + λ_G G + λ_A Al (weights ``lambda_E``, ``lambda_G``, ``lambda_A``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["energy", "smoothness", "alignment", "combined", "RegularizerContext",
           "laplacian_operator", "reference_directions"]

_EPS = 1e-12


def _reduce_nodes(per_node: torch.Tensor, batch, num_graphs) -> torch.Tensor:
    """Sum a per-node quantity ``(N,)`` or ``(B, N)`` to one value per structure."""
    if per_node.dim() == 2:
        return per_node.sum(-1)
    if batch is None:
        return per_node.sum()
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if batch.numel() else 0
    return per_node.new_zeros(num_graphs).index_add_(0, batch, per_node)


def _check_coords(S: torch.Tensor, name: str = "S0_hat") -> None:
    if S.dim() not in (2, 3) or S.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (N, 3) or (B, N, 3), got {tuple(S.shape)}")


def energy(S0_hat: torch.Tensor, S_ref: torch.Tensor, masses: torch.Tensor | None = None,
           batch: torch.Tensor | None = None, num_graphs: int | None = None) -> torch.Tensor:
    """``½ Σ_i m_i ‖Ŝ_0,i − S*_i‖²``; ``masses (N,)`` (``None``: all 1), ``S_ref`` like ``S0_hat``."""
    _check_coords(S0_hat)
    if S_ref.shape[-2:] != S0_hat.shape[-2:]:
        raise ValueError(f"S_ref shape {tuple(S_ref.shape)} does not match S0_hat {tuple(S0_hat.shape)}")
    per_node = ((S0_hat - S_ref) ** 2).sum(-1)
    if masses is not None:
        per_node = per_node * masses.to(per_node.dtype)
    return 0.5 * _reduce_nodes(per_node, batch, num_graphs)


def laplacian_operator(laplacians, dtype=torch.float32, device=None) -> Callable:
    """A function ``X -> L X`` for ``X (N, 3)`` or ``(B, N, 3)``.

    ``laplacians``: one scipy sparse matrix / dense or sparse torch tensor, or a list of
    scipy matrices (one per graph of a concatenated batch → block-diagonal operator).
    """
    import scipy.sparse as sp
    if isinstance(laplacians, (list, tuple)):
        L = sp.block_diag([sp.csr_matrix(m) for m in laplacians], format="coo")
    else:
        L = laplacians
    if sp.issparse(L):
        L = sp.coo_matrix(L)
        idx = torch.from_numpy(np.vstack([L.row, L.col]).astype(np.int64))
        L = torch.sparse_coo_tensor(idx, torch.from_numpy(L.data), L.shape,
                                    check_invariants=False).coalesce()
    L = L.to(dtype=dtype, device=device)

    def apply(X: torch.Tensor) -> torch.Tensor:
        if X.dim() == 2:
            return L @ X.to(L.dtype) if not L.is_sparse else torch.sparse.mm(L, X.to(L.dtype))
        b, n, c = X.shape
        flat = X.to(L.dtype).permute(1, 0, 2).reshape(n, b * c)
        out = torch.sparse.mm(L, flat) if L.is_sparse else L @ flat
        return out.reshape(n, b, c).permute(1, 0, 2)

    apply.matrix = L  # type: ignore[attr-defined]  # the operator, for callers that need it
    return apply


def smoothness(S0_hat: torch.Tensor, laplacian_apply, batch: torch.Tensor | None = None,
               num_graphs: int | None = None) -> torch.Tensor:
    """``‖L Ŝ_0‖²_F`` per structure; ``laplacian_apply`` is ``X -> L X`` (see
    ``laplacian_operator``) or anything ``laplacian_operator`` accepts."""
    _check_coords(S0_hat)
    if not callable(laplacian_apply):
        laplacian_apply = laplacian_operator(laplacian_apply, S0_hat.dtype, S0_hat.device)
    LS = laplacian_apply(S0_hat)
    return _reduce_nodes((LS ** 2).sum(-1).to(S0_hat.dtype), batch, num_graphs)


def _cosine(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    norms = ((u * u).sum(-1) * (v * v).sum(-1)).clamp(min=_EPS ** 2)
    return (u * v).sum(-1) / torch.sqrt(norms)


def alignment(S0_hat: torch.Tensor, edges: torch.Tensor, ref_dirs: torch.Tensor | None = None,
              weights: torch.Tensor | None = None, batch: torch.Tensor | None = None,
              num_graphs: int | None = None) -> torch.Tensor:
    """``Σ w_ij (1 − cos∠(Ŝ_0,j − Ŝ_0,i, u*_ij))`` per structure.

    ``edges (E, 2)`` node pairs ``(i, j)``; ``ref_dirs (E, 3)`` reference directions
    ``u*_ij`` (any length) — or ``None`` for the lattice form ``1 − cos∠(Ŝ_0,i, Ŝ_0,j)``;
    ``weights (E,)`` (``None``: all 1). With ``batch``, an edge counts for the graph of
    its first node.
    """
    _check_coords(S0_hat)
    edges = torch.as_tensor(edges, dtype=torch.long, device=S0_hat.device)
    if edges.dim() != 2 or edges.shape[1] != 2:
        raise ValueError(f"edges must have shape (E, 2), got {tuple(edges.shape)}")
    i, j = edges[:, 0], edges[:, 1]
    Si, Sj = S0_hat[..., i, :], S0_hat[..., j, :]
    if ref_dirs is None:
        cos = _cosine(Si, Sj)
    else:
        if ref_dirs.shape[-2:] != (edges.shape[0], 3):
            raise ValueError(f"ref_dirs must have shape (E, 3) = ({edges.shape[0]}, 3), "
                             f"got {tuple(ref_dirs.shape)}")
        cos = _cosine(Sj - Si, ref_dirs.to(S0_hat.dtype))
    per_edge = 1.0 - cos
    if weights is not None:
        per_edge = per_edge * weights.to(per_edge.dtype)
    if per_edge.dim() == 2:
        return per_edge.sum(-1)
    if batch is None:
        return per_edge.sum()
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if batch.numel() else 0
    return per_edge.new_zeros(num_graphs).index_add_(0, batch[i], per_edge)


def reference_directions(S_ref: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Unit vectors ``(S*_j − S*_i)/‖·‖`` ``(E, 3)`` of a reference structure."""
    edges = torch.as_tensor(edges, dtype=torch.long, device=S_ref.device)
    d = S_ref[..., edges[:, 1], :] - S_ref[..., edges[:, 0], :]
    return d / torch.sqrt((d * d).sum(-1, keepdim=True) + _EPS)


@dataclass
class RegularizerContext:
    """What the regularisers need besides Ŝ_0. Any field may be ``None`` when its term's
    weight is 0. ``batch``/``num_graphs`` describe a concatenation (else leave ``None``)."""

    S_ref: torch.Tensor | None = None
    masses: torch.Tensor | None = None
    laplacian_apply: Callable | None = None
    edges: torch.Tensor | None = None
    ref_dirs: torch.Tensor | None = None
    edge_weights: torch.Tensor | None = None
    batch: torch.Tensor | None = None
    num_graphs: int | None = None


def combined(S0_hat: torch.Tensor, ctx: RegularizerContext, lambda_E: float = 0.0,
             lambda_G: float = 0.0, lambda_A: float = 0.0) -> torch.Tensor:
    """``R = λ_E E + λ_G G + λ_A Al`` per structure; terms with weight 0 are skipped.

    A non-zero weight whose inputs are missing from ``ctx`` raises ``ValueError``.
    """
    total = None

    def add(value):
        nonlocal total
        total = value if total is None else total + value

    if lambda_E:
        if ctx.S_ref is None:
            raise ValueError("energy regularizer (lambda_E != 0) needs ctx.S_ref")
        add(lambda_E * energy(S0_hat, ctx.S_ref, ctx.masses, ctx.batch, ctx.num_graphs))
    if lambda_G:
        if ctx.laplacian_apply is None:
            raise ValueError("smoothness regularizer (lambda_G != 0) needs ctx.laplacian_apply")
        add(lambda_G * smoothness(S0_hat, ctx.laplacian_apply, ctx.batch, ctx.num_graphs))
    if lambda_A:
        if ctx.edges is None:
            raise ValueError("alignment regularizer (lambda_A != 0) needs ctx.edges")
        add(lambda_A * alignment(S0_hat, ctx.edges, ctx.ref_dirs, ctx.edge_weights,
                                 ctx.batch, ctx.num_graphs))
    if total is None:
        zero = S0_hat.sum() * 0.0
        if S0_hat.dim() == 3:
            return zero.expand(S0_hat.shape[0])
        if ctx.batch is not None:
            n = ctx.num_graphs if ctx.num_graphs is not None else int(ctx.batch.max()) + 1
            return zero.expand(n)
        return zero
    return total
