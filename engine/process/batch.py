"""``GraphBatchDiffusion``: many small graphs of different sizes (a batch of molecules).

Coordinates are **concatenated** over the graphs, ``(N_total, 3)``, as the networks see
them; times are one per graph, ``(num_graphs,)`` (or a float for all). Internally each
graph's eigenbasis sits in a padded ``(num_graphs, n_max, n_max)`` tensor, so every
operation is two batched matrix products. Eigendecompositions come from the shared
cache (``backends.EIGH_CACHE``); each miss is solved on its own (a batched ``eigh`` rounds
differently by batch position, which broke exact resume across processes).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import scipy.sparse as sp
import torch

from engine.errors import GraphError, InputError
from engine.process.backends import laplacian_eigh_many
from engine.process.base import SpectralProcess
from engine.process.diffusion import default_phi_floor
from engine.process.schedules import LinearSchedule


class GraphBatchDiffusion(SpectralProcess):
    """The diffusion process on a batch of graphs, on concatenated node arrays.

    ``center=True`` (molecules) removes each graph's centre-of-mass mode; every output is
    then mean-free per graph. ``keys`` (optional, one string per graph) name the
    Laplacians in the eigendecomposition cache instead of hashing them.
    """

    def __init__(self, laplacians: Sequence, gamma: float = 1.0, lam: float = 0.0, schedule=None,
                 dtype=torch.float32, device=None, center: bool = True, keys=None,
                 phi_floor: float | None = None, max_nodes_per_graph: int = 2000):
        if len(laplacians) == 0:
            raise InputError("a batch needs at least one graph")
        if not (gamma > 0 and math.isfinite(gamma)) or not (lam >= 0 and math.isfinite(lam)):
            raise ValueError(f"need gamma > 0 and lam >= 0, got gamma={gamma}, lam={lam}")
        self.gamma, self.lam = float(gamma), float(lam)
        self.schedule = schedule if schedule is not None else LinearSchedule()
        self.dtype = dtype
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.center = bool(center)
        self.phi_floor = default_phi_floor(dtype) if phi_floor is None else float(phi_floor)
        laplacians = [sp.csr_matrix(L) for L in laplacians]
        sizes = [L.shape[0] for L in laplacians]
        for g, n in enumerate(sizes):
            if n == 0:
                raise GraphError(f"graph {g} of the batch is empty (0 nodes)")
            if n > max_nodes_per_graph:
                raise GraphError(f"graph {g} has {n} nodes; the batched dense path takes at most "
                                 f"{max_nodes_per_graph} per graph (use GraphDiffusion for large graphs)")
        self.num_graphs = len(laplacians)
        self.sizes = torch.tensor(sizes, dtype=torch.long)
        self.n_max = max(sizes)
        self.n = int(self.sizes.sum())
        eig = laplacian_eigh_many(laplacians, keys)
        U = torch.zeros(self.num_graphs, self.n_max, self.n_max, dtype=torch.float64)
        mu = torch.zeros(self.num_graphs, self.n_max, dtype=torch.float64)
        mask = torch.zeros(self.num_graphs, self.n_max, dtype=torch.float64)
        for g, ((m, u), n) in enumerate(zip(eig, sizes)):
            # a second zero eigenvalue means a second component (free with the eigh)
            if self.center and n > 1 and float(m[1]) <= 1e-9 * max(1.0, float(m[-1])):
                raise GraphError(f"graph {g} of the batch is disconnected; the centre-of-mass-free "
                                 "process needs connected graphs")
            U[g, :n, :n] = u
            mu[g, :n] = m
            mask[g, :n] = 1.0
        if self.center:
            mask[:, 0] = 0.0  # ascending eigh: mode 0 is the constant (null) mode
        self.U = U.to(dtype=dtype, device=self.device)
        self.laplacian_eigenvalues = mu.to(dtype=dtype, device=self.device)
        self.eigenvalues = self.gamma * self.laplacian_eigenvalues + self.lam  # (G, n_max)
        self.mode_mask = mask.to(dtype=dtype, device=self.device)
        self.ptr = torch.zeros(self.num_graphs + 1, dtype=torch.long)
        self.ptr[1:] = torch.cumsum(self.sizes, 0)
        self.batch = torch.repeat_interleave(torch.arange(self.num_graphs), self.sizes).to(self.device)
        self.local = (torch.arange(self.n) - self.ptr[:-1].repeat_interleave(self.sizes)).to(self.device)
        self.ptr = self.ptr.to(self.device)
        self.sizes = self.sizes.to(self.device)

    # ---------------------------------------------------------------- layout
    def pad(self, X: torch.Tensor) -> torch.Tensor:
        """``(N_total, 3)`` -> ``(num_graphs, n_max, 3)`` (zeros in the padding)."""
        out = torch.zeros(self.num_graphs, self.n_max, X.shape[-1], dtype=X.dtype, device=X.device)
        out[self.batch, self.local] = X
        return out

    def unpad(self, Xp: torch.Tensor) -> torch.Tensor:
        return Xp[self.batch, self.local]

    def graph_mean(self, X: torch.Tensor) -> torch.Tensor:
        """Per-graph mean ``(num_graphs, 3)``."""
        sums = torch.zeros(self.num_graphs, X.shape[-1], dtype=X.dtype, device=X.device)
        sums.index_add_(0, self.batch, X)
        return sums / self.sizes.to(X.dtype).unsqueeze(-1)

    def _prepare(self, coords, times):
        arrays = []
        for name, X in coords:
            X = torch.as_tensor(X).to(dtype=self.dtype, device=self.device)
            if X.shape != (self.n, 3):
                raise InputError(f"{name} has shape {tuple(X.shape)}, expected ({self.n}, 3): "
                                 f"the concatenated nodes of {self.num_graphs} graphs")
            self._check_finite(X, name)
            arrays.append(X)
        integrals = []
        for name, t in times:
            t = self._time(t, name)
            if t.dim() == 1 and t.shape[0] != self.num_graphs:
                raise InputError(f"got {t.shape[0]} times in {name} for {self.num_graphs} graphs")
            B = self.schedule.integral(t)
            integrals.append(B.reshape(-1, 1) if B.dim() == 1 else B)
        return arrays, integrals, None

    def _combine(self, terms):
        a = self.eigenvalues
        total = None
        for X, f in terms:
            c = f(a)
            if not isinstance(c, torch.Tensor):
                c = torch.as_tensor(c, dtype=self.dtype, device=self.device)
            c = c.expand_as(a) * self.mode_mask
            Z = torch.bmm(self.U.transpose(1, 2), self.pad(X)) * c.unsqueeze(-1)
            total = Z if total is None else total + Z
        assert total is not None, "combine() needs at least one term"
        return self.unpad(torch.bmm(self.U, total))

    def _finish(self, Y, ctx):
        return Y

    def _centered(self, X):
        if not self.center:
            return X
        return X - self.graph_mean(X)[self.batch]

    # ---------------------------------------------------------------- extras
    def prior_sample(self, generator: torch.Generator | None = None, start: str = "t1") -> torch.Tensor:
        """A start for reverse sampling, ``(N_total, 3)``: ``start="t1"`` draws ``S_1`` from
        ``S_0 = 0``; ``"stationary"`` draws from the harmonic prior ``N(0, A^{-1})``."""
        zeros = torch.zeros(self.n, 3, dtype=self.dtype, device=self.device)
        if start == "stationary":
            return self.harmonic_prior_sample_like(zeros, generator=generator)
        if start != "t1":
            raise InputError(f"start must be 't1' or 'stationary', got {start!r}")
        S1, _ = self.noise(zeros, 1.0, generator=generator)
        return S1

    def to_modes(self, S) -> torch.Tensor:
        """Spectral coordinates, padded: ``(num_graphs, n_max, 3)``."""
        (S,), _, _ = self._prepare([("S", S)], [])
        return torch.bmm(self.U.transpose(1, 2), self.pad(S)) * self.mode_mask.unsqueeze(-1)

    def mode_power(self, S) -> torch.Tensor:
        """``sum_c z_ic^2`` per graph and mode ``(num_graphs, n_max)`` (0 in the padding)."""
        return (self.to_modes(S) ** 2).sum(-1)
