"""Hooks on the clean estimate ``S0_hat``: regulariser guidance and fixed atoms.

A hook is ``transform_s0(S0_hat, S_t, t) -> S0_hat`` (see ``samplers``). Both hooks here
work on every layout the processes take.

- ``RegularizerGuidance``: gradient steps on the proximal objective
  ``1/2 ||y - S0_hat||^2 + scale * R(y)`` with ``R = lambda_E E + lambda_G G + lambda_A Al``
  (``engine.process.regularizers``), step ``1 / (1 + scale * Lip)``, ``Lip`` an upper bound
  on the Lipschitz constant of ``grad R``. The weights act by their value: the move away
  from ``S0_hat`` grows monotonically with every weight and with ``scale``, and never
  overshoots a quadratic term (a step of ``scale / Lip`` once made the weight cancel, so
  only on/off mattered). In score terms the first step adds a multiple of
  ``-Sigma(t)^{-1} Phi(t) grad R`` to the score: the guidance ``-grad_{S_t} R(S0_hat(S_t))``
  with the network's Jacobian replaced by ``Phi(t)^{-1}``, exact for a data-independent
  denoiser and bounded at large t.
- ``EnergyGuidance``: moves ``S0_hat`` towards lower chemical energy
  (``engine.chem.energy``, the molecule form of ``lambda_E``) below a start time: a few
  gradient steps on the proximal objective ``1/2 ||y - S0_hat||^2 + lambda E(y)``, so
  ``lambda = 0`` leaves the network's estimate alone, a larger ``lambda`` moves it further
  towards the energy minimum (monotonically), and no weight overshoots.
- ``Expansion``: scales ``S0_hat`` about each molecule's centroid by a constant factor,
  which corrects the trained molecule networks' estimates for being too compact
  (``engine.defaults.DEFAULT_EXPANSION``).
- ``FixedAtoms``: replaces the fixed rows of ``S0_hat`` by their known coordinates, so the
  sample (which is ``S0_hat`` at t = 0) holds them exactly. ``harmonic_conditional`` is the
  exact Gaussian conditional of the harmonic prior given the fixed rows.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from engine.errors import InputError
from engine.process.regularizers import RegularizerContext, combined

__all__ = ["RegularizerGuidance", "EnergyGuidance", "Expansion", "FixedAtoms", "PoseAlignment",
           "GraphSmoothing", "LateHook", "hop_laplacians", "acts", "compose", "harmonic_conditional"]


def acts(scale: float, *weights: float) -> bool:
    """The one test of "this guidance does something": a non-zero overall ``scale`` and at
    least one non-zero weight (``engine.api.Guidance``, ``RegularizerGuidance`` and
    ``EnergyGuidance`` all ask it)."""
    return bool(scale != 0 and any(w != 0 for w in weights))


def compose(*hooks):
    """Chain ``transform_s0`` hooks left to right (``None`` entries are skipped)."""
    chain = [h for h in hooks if h is not None]
    if not chain:
        return None
    if len(chain) == 1:
        return chain[0]

    def chained(x0, x, t):
        for h in chain:
            x0 = h(x0, x, t)
        return x0

    return chained


@dataclass
class RegularizerGuidance:
    """Sampling-time guidance by the regularisers of docs/math.md §4 (weights changeable without retraining).

    ``laplacian`` (scipy, block-diagonal for a concatenated batch) is needed for
    ``lambda_G``; ``ctx`` carries ``S_ref``/``masses`` (E) and ``edges``/``ref_dirs`` (Al).
    ``steps`` gradient steps are taken per sampler step.
    """

    ctx: RegularizerContext
    lambda_E: float = 0.0
    lambda_G: float = 0.0
    lambda_A: float = 0.0
    scale: float = 1.0
    laplacian: sp.spmatrix | None = None
    steps: int = 1
    lipschitz: float = field(init=False, default=0.0)

    def __post_init__(self):
        for name in ("lambda_E", "lambda_G", "lambda_A", "scale"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise InputError(f"{name} must be a finite number >= 0, got {value}")
        if self.lambda_G and self.ctx.laplacian_apply is None:
            if self.laplacian is None:
                raise InputError("lambda_G needs the graph Laplacian")
            from engine.process.regularizers import laplacian_operator

            self.ctx.laplacian_apply = laplacian_operator(self.laplacian, torch.float64)
        lip = 0.0
        if self.lambda_E:
            m = self.ctx.masses
            lip += self.lambda_E * (float(m.max()) if m is not None else 1.0)
        if self.lambda_G:
            if self.laplacian is None:
                raise InputError("lambda_G needs the graph Laplacian (for its step size)")
            degree = float(np.abs(sp.csr_matrix(self.laplacian).diagonal()).max())
            lip += self.lambda_G * 2.0 * (2.0 * degree) ** 2  # grad G = 2 L^T L S, ||L|| <= 2 d_max
        if self.lambda_A:
            # 1 - cos on an edge has curvature <= ~2/|d|^2; scaled units keep |d| ~ 1
            w = self.ctx.edge_weights
            lip += self.lambda_A * 4.0 * (float(w.max()) if w is not None else 1.0)
        self.lipschitz = lip

    @property
    def active(self) -> bool:
        return acts(self.scale, self.lipschitz)     # lipschitz > 0: some weight acts

    def __call__(self, x0, x, t):
        if not self.active:
            return x0
        step = 1.0 / (1.0 + self.scale * self.lipschitz)
        y = x0
        for _ in range(self.steps):
            with torch.enable_grad():
                z = y.detach().to(torch.float64).requires_grad_(True)
                R = combined(z, self.ctx, self.lambda_E, self.lambda_G, self.lambda_A).sum()
                (grad,) = torch.autograd.grad(R, z)
            y = y - step * ((y - x0) + self.scale * torch.nan_to_num(grad).to(y.dtype))
        return y


# The most one guidance step moves an atom (Å).
GUIDANCE_MAX_MOVE = 0.5


@dataclass
class EnergyGuidance:
    """Steer ``S0_hat`` (model units, concatenated molecules) with a ``ChemicalEnergy`` (Å).

    Acts at sampler times ``t <= t_start``: descent on ``1/2 ||y - S0_hat||^2 + E(y *
    coord_scale)`` for a "time" proportional to ``weight``: ``K = ceil(steps * weight)``
    steps of ``steps * weight / K`` times the stable step ``1 / (1 + lip)`` (``lip``
    bounding the curvature of E in model units). So the weight acts by its value over its
    whole range, 0.001 to 10: ``weight = 1`` is ``steps`` stable steps, 0.1 a tenth of one
    such descent, 10 ten times as long; the result moves monotonically towards lower
    energy as ``weight`` grows, and no step overshoots. No atom moves more than
    ``steps * GUIDANCE_MAX_MOVE`` per call (a trust region). ``fixed`` rows never move.
    """

    energy: Any                      # engine.chem.energy.ChemicalEnergy
    weight: float
    coord_scale: float = 1.0
    t_start: float = 0.5
    steps: int = 2
    fixed: torch.Tensor | None = None

    def __post_init__(self):
        if not np.isfinite(self.weight) or self.weight < 0:
            raise InputError(f"energy guidance weight must be a finite number >= 0, got {self.weight}")
        from engine.chem.energy import curvature_bound

        self.lipschitz = curvature_bound() * self.coord_scale ** 2

    @property
    def active(self) -> bool:
        return self.steps > 0 and acts(self.weight, 1.0)

    def __call__(self, x0, x, t):
        if not self.active or float(t) > self.t_start:
            return x0
        budget = self.steps * float(self.weight)       # stable steps' worth of descent
        count = max(1, math.ceil(budget - 1e-9))
        step = (budget / count) / (1.0 + self.lipschitz)
        scale = self.coord_scale
        y = x0
        cap = GUIDANCE_MAX_MOVE / scale * self.steps / count
        for _ in range(count):
            _, grad = self.energy.gradient(y * scale)
            direction = (y - x0) + scale * grad.to(y.dtype)
            if self.fixed is not None and len(self.fixed):
                direction[self.fixed] = 0
            move = step * direction
            # a trust region: the energy's curvature bound holds near valid structures; on
            # an early, collapsed estimate (t near 1) its planarity volumes grow like the
            # sixth power of the size and one step threw atoms metres away (NaN next step)
            length = torch.linalg.vector_norm(move, dim=-1, keepdim=True)
            y = y - move * torch.clamp(cap / length.clamp_min(1e-12), max=1.0)
        return y


@dataclass
class Expansion:
    """Scale ``S0_hat`` by ``factor`` about the centroid of each graph (``batch (N,)``
    graph index of every row, ``num_graphs`` graphs; concatenated ``(N, 3)`` layout)."""

    factor: float
    batch: torch.Tensor
    num_graphs: int

    def __post_init__(self):
        if not np.isfinite(self.factor) or self.factor <= 0:
            raise InputError(f"expansion must be a finite number > 0, got {self.factor}")

    def __call__(self, x0, x, t):
        if self.factor == 1.0:
            return x0
        batch = self.batch.to(x0.device)
        sums = x0.new_zeros(self.num_graphs, x0.shape[-1]).index_add_(0, batch, x0)
        counts = torch.bincount(batch, minlength=self.num_graphs).clamp(min=1).to(x0.dtype)
        centre = (sums / counts[:, None])[batch]
        return centre + self.factor * (x0 - centre)


@dataclass
class FixedAtoms:
    """Hold ``indices`` at ``coords`` (model units, the process's layout of those rows)."""

    indices: torch.Tensor
    coords: torch.Tensor

    def __post_init__(self):
        self.indices = torch.as_tensor(self.indices, dtype=torch.long).reshape(-1)
        self.coords = torch.as_tensor(self.coords)
        if self.coords.shape[-2:] != (len(self.indices), 3):
            raise InputError(f"fixed coordinates must be ({len(self.indices)}, 3), got {tuple(self.coords.shape)}")
        if not bool(torch.isfinite(self.coords).all()):
            raise InputError("fixed coordinates contain NaN or infinite values")

    def __call__(self, x0, x, t):
        x0 = x0.clone()
        x0[..., self.indices, :] = self.coords.to(dtype=x0.dtype, device=x0.device)
        return x0


def harmonic_conditional(A, fixed: Sequence[int], x_fixed: np.ndarray):
    """Exact conditional of the harmonic prior ``p(S) ∝ exp(-1/2 tr S^T A S)`` given fixed rows.

    Returns ``(free, mean (U, 3), cov (U, U))`` with ``mean = -A_UU^{-1} A_UK x_K`` and
    ``cov = A_UU^{-1}`` (``A_UU`` is invertible for a connected graph with at least one
    fixed node, even when ``A`` is the singular Laplacian).
    """
    A = np.asarray(A.toarray() if sp.issparse(A) else A, dtype=np.float64)
    n = A.shape[0]
    known = np.asarray(sorted(set(int(i) for i in fixed)), dtype=np.int64)
    if known.size == 0 or known.min() < 0 or known.max() >= n:
        raise InputError(f"fixed indices must be a non-empty subset of [0, {n})")
    if known.size >= n:
        raise InputError("every node is fixed: nothing left to generate")
    free = np.setdiff1d(np.arange(n), known)
    A_uu = A[np.ix_(free, free)]
    A_uk = A[np.ix_(free, known)]
    mean = -np.linalg.solve(A_uu, A_uk @ np.asarray(x_fixed, dtype=np.float64))
    cov = np.linalg.inv(A_uu)
    return free, mean, 0.5 * (cov + cov.T)


class _PerGraphMatrices:
    """Dense ``(G, n, n)`` matrices, one per graph of a concatenation, applied to
    concatenated ``(N, 3)`` rows (``batch (N,)`` graph of each row, in graph order)."""

    def __init__(self, batch: torch.Tensor, num_graphs: int):
        self.batch = torch.as_tensor(batch, dtype=torch.long).reshape(-1)
        self.num_graphs = int(num_graphs)
        counts = torch.bincount(self.batch, minlength=self.num_graphs)
        starts = torch.cumsum(counts, 0) - counts
        self.pos = torch.arange(len(self.batch)) - starts[self.batch]      # row within its graph
        self.n_max = int(counts.max()) if len(counts) else 0

    def dense(self, pairs: torch.Tensor, values: torch.Tensor, diagonal: torch.Tensor | None = None):
        """``(G, n, n)`` from entries at concatenated row pairs ``(P, 2)``."""
        out = torch.zeros(self.num_graphs, self.n_max, self.n_max, dtype=values.dtype)
        if len(pairs):
            g = self.batch[pairs[:, 0]]
            out.index_put_((g, self.pos[pairs[:, 0]], self.pos[pairs[:, 1]]), values, accumulate=True)
        if diagonal is not None:
            out[self.batch, self.pos, self.pos] += diagonal
        return out

    def apply(self, mats: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        padded = x.new_zeros(self.num_graphs, self.n_max, x.shape[-1])
        padded[self.batch.to(x.device), self.pos.to(x.device)] = x
        out = torch.bmm(mats.to(x), padded)
        return out[self.batch.to(x.device), self.pos.to(x.device)]


def _graph_laplacians(graphs: _PerGraphMatrices, edges: torch.Tensor, weights: torch.Tensor):
    """Per-graph dense Laplacians ``(G, n, n)`` of weighted edges (concatenated indices)."""
    i, j = edges[:, 0], edges[:, 1]
    pairs = torch.cat([torch.stack([i, j], 1), torch.stack([j, i], 1),
                       torch.stack([i, i], 1), torch.stack([j, j], 1)])
    values = torch.cat([-weights, -weights, weights, weights])
    return graphs.dense(pairs, values)


@dataclass
class PoseAlignment:
    """λ_A for molecules: align the estimate's bonds with the input's bond directions,
    the input turned onto the estimate first (a proper Kabsch rotation, mass-weighted),
    so the sample's orientation stays the network's own and only its shape is steered.

    One exact step of the proximal objective ``½‖y − Ŝ₀‖² + w Σ_b (1 − cos∠(y_b, R u*_b))``
    with ``1 − cos`` replaced by its quadratic model ``½‖y_b/ℓ*_b − (ℓ_b/ℓ*_b) R u*_b‖²``
    (``y_b`` a bond vector, ``ℓ_b`` its length in ``Ŝ₀``, ``ℓ*_b`` in the input): the step
    is the linear solve ``(I + w Bᵀ W B) y = Ŝ₀ + w Bᵀ W (ℓ R u*)``, ``W = diag(1/ℓ*²)``,
    with no step size to tune. The alignment of the result never gets worse as ``w``
    grows, and as ``w → ∞`` it becomes the input pose with the estimate's bond lengths.
    Concatenated ``(N, 3)`` layout (``batch``: the graph of every row); ``weights (G,)``
    per graph (0: a molecule without an input pose)."""

    reference: torch.Tensor          # (N, 3) input poses, each graph centred, model units
    bonds: torch.Tensor              # (E, 2) concatenated indices
    batch: torch.Tensor              # (N,)
    num_graphs: int
    weights: torch.Tensor | float    # (G,) or a float: w per graph
    masses: torch.Tensor | None = None

    def __post_init__(self):
        w = torch.as_tensor(self.weights, dtype=torch.float64)
        self.weights = w.expand(self.num_graphs).clone() if w.dim() == 0 else w.reshape(-1)
        if not bool(torch.isfinite(self.weights).all()) or bool((self.weights < 0).any()):
            raise InputError("alignment weights must be finite numbers >= 0")
        self.bonds = torch.as_tensor(self.bonds, dtype=torch.long).reshape(-1, 2)
        self.reference = torch.as_tensor(self.reference, dtype=torch.float64)
        self.graphs = _PerGraphMatrices(self.batch, self.num_graphs)
        d = self.reference[self.bonds[:, 1]] - self.reference[self.bonds[:, 0]]
        self.ref_len = torch.linalg.vector_norm(d, dim=-1).clamp_min(1e-6)
        self.ref_dirs = d / self.ref_len[:, None]
        edge_w = self.weights[self.graphs.batch[self.bonds[:, 0]]] / self.ref_len ** 2
        lap = _graph_laplacians(self.graphs, self.bonds, edge_w)
        eye = torch.eye(self.graphs.n_max, dtype=torch.float64).expand_as(lap)
        self.solve = torch.linalg.inv(eye + lap)             # (I + w Bᵀ W B)^-1 per graph
        self.edge_w = edge_w
        m = self.masses if self.masses is not None else torch.ones(len(self.reference))
        self.masses = torch.as_tensor(m, dtype=torch.float64).reshape(-1)

    @property
    def active(self) -> bool:
        return bool((torch.as_tensor(self.weights) > 0).any()) and len(self.bonds) > 0

    def rotations(self, x0: torch.Tensor) -> torch.Tensor:
        """``(G, 3, 3)``: the proper rotation that best turns each graph's input pose onto ``x0``."""
        b, G, m = self.graphs.batch, self.num_graphs, torch.as_tensor(self.masses)
        tot = torch.zeros(G, dtype=torch.float64).index_add_(0, b, m).clamp_min(1e-12)
        cx = torch.zeros(G, 3, dtype=torch.float64).index_add_(0, b, m[:, None] * x0) / tot[:, None]
        cr = torch.zeros(G, 3, dtype=torch.float64).index_add_(0, b, m[:, None] * self.reference) / tot[:, None]
        P, Q = self.reference - cr[b], x0 - cx[b]
        H = torch.zeros(G, 3, 3, dtype=torch.float64).index_add_(0, b, m[:, None, None] * P[:, :, None] * Q[:, None, :])
        U, _, Vh = torch.linalg.svd(H)
        d = torch.sign(torch.linalg.det(Vh.transpose(1, 2) @ U.transpose(1, 2)))
        D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
        return Vh.transpose(1, 2) @ D @ U.transpose(1, 2)

    def misalignment(self, x: torch.Tensor) -> torch.Tensor:
        """``(G,)`` mean ``1 − cos`` between each graph's bonds in ``x`` and the input's,
        after the best rotation (the observable λ_A lowers)."""
        x = torch.as_tensor(x, dtype=torch.float64)
        R = self.rotations(x)
        g = self.graphs.batch[self.bonds[:, 0]]
        u = torch.einsum("eij,ej->ei", R[g], self.ref_dirs)
        e = x[self.bonds[:, 1]] - x[self.bonds[:, 0]]
        cos = (e * u).sum(-1) / torch.linalg.vector_norm(e, dim=-1).clamp_min(1e-12)
        total = torch.zeros(self.num_graphs, dtype=torch.float64).index_add_(0, g, 1.0 - cos)
        return total / torch.bincount(g, minlength=self.num_graphs).clamp(min=1)

    def __call__(self, x0, x, t):
        if not self.active:
            return x0
        y0 = x0.detach().to(torch.float64).cpu()
        R = self.rotations(y0)
        g = self.graphs.batch[self.bonds[:, 0]]
        length = torch.linalg.vector_norm(y0[self.bonds[:, 1]] - y0[self.bonds[:, 0]], dim=-1)
        target = self.edge_w[:, None] * length[:, None] * torch.einsum("eij,ej->ei", R[g], self.ref_dirs)
        rhs = y0.clone()
        rhs.index_add_(0, self.bonds[:, 1], target)
        rhs.index_add_(0, self.bonds[:, 0], -target)
        y = self.graphs.apply(self.solve, rhs)
        return y.to(dtype=x0.dtype, device=x0.device)


@dataclass
class GraphSmoothing:
    """λ_G: the exact proximal step of the graph smoothness ``w ‖L y‖²``:
    ``y = (I + 2 w L²)^-1 Ŝ₀`` per graph, every Laplacian mode shrunk by ``1/(1 + 2 w μ²)``
    (``μ`` its eigenvalue), so the smoothness of the result never gets worse as ``w``
    grows. ``laplacians``: dense per-graph ``(G, n, n)`` (see :func:`hop_laplacians`)."""

    laplacians: torch.Tensor
    batch: torch.Tensor
    num_graphs: int
    weights: torch.Tensor | float

    def __post_init__(self):
        w = torch.as_tensor(self.weights, dtype=torch.float64)
        self.weights = w.expand(self.num_graphs).clone() if w.dim() == 0 else w.reshape(-1)
        if not bool(torch.isfinite(self.weights).all()) or bool((self.weights < 0).any()):
            raise InputError("smoothness weights must be finite numbers >= 0")
        self.graphs = _PerGraphMatrices(self.batch, self.num_graphs)
        L = torch.as_tensor(self.laplacians, dtype=torch.float64)
        eye = torch.eye(L.shape[-1], dtype=torch.float64).expand_as(L)
        self.solve = torch.linalg.inv(eye + 2.0 * self.weights[:, None, None] * (L @ L))

    @property
    def active(self) -> bool:
        return bool((torch.as_tensor(self.weights) > 0).any())

    def __call__(self, x0, x, t):
        if not self.active:
            return x0
        y = self.graphs.apply(self.solve, x0.detach().to(torch.float64).cpu())
        return y.to(dtype=x0.dtype, device=x0.device)


def hop_laplacians(bonds: torch.Tensor, batch: torch.Tensor, num_graphs: int, hops: int = 3) -> torch.Tensor:
    """Per-graph dense Laplacians ``(G, n, n)`` of the graph that joins every pair of atoms
    at most ``hops`` bonds apart (``bonds (E, 2)`` concatenated indices, ``batch (N,)``)."""
    graphs = _PerGraphMatrices(batch, num_graphs)
    bonds = torch.as_tensor(bonds, dtype=torch.long).reshape(-1, 2)
    adj = graphs.dense(torch.cat([bonds, bonds.flip(1)]), torch.ones(2 * len(bonds), dtype=torch.float64))
    eye = torch.eye(graphs.n_max, dtype=torch.float64).expand_as(adj)
    reach = eye.clone()
    for _ in range(hops):
        reach = ((reach + reach @ adj) > 0).to(torch.float64)
    reach = reach - eye
    real = torch.zeros(num_graphs, graphs.n_max, dtype=torch.float64)
    real[graphs.batch, graphs.pos] = 1.0
    reach = reach * real[:, :, None] * real[:, None, :]
    return torch.diag_embed(reach.sum(-1)) - reach


@dataclass
class LateHook:
    """``hook`` acting only at sampler times ``t <= t_start`` (the estimate is left alone before)."""

    hook: Callable
    t_start: float

    def __call__(self, x0, x, t):
        return self.hook(x0, x, t) if float(t) <= self.t_start else x0
