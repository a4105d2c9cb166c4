"""``GraphDiffusion``: the exact graph-Laplacian diffusion process on one graph.

SDE ``dS = -1/2 beta(t) A S dt + sqrt(beta(t)) dW`` with ``A = gamma L + lam I``; transition
``S_t = Phi(t|s) S_s + Sigma(t|s)^{1/2} eps``, ``Phi = exp(-1/2 dB A)``,
``Sigma = A^{-1}(I - exp(-dB A))``, ``dB = B(t) - B(s)``. Coordinates are ``(N, 3)`` or
``(batch, N, 3)``; times are a float or a ``(batch,)`` tensor in ``[0, 1]``.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch

from engine.errors import InputError
from engine.process import modes
from engine.process.backends import (
    DCT_AUTO_MIN_NODES,
    DENSE_AUTO_MAX_NODES,
    Backend,
    ChebyshevBackend,
    DenseEigenBackend,
    LatticeDCTBackend,
)
from engine.process.base import SpectralProcess
from engine.process.schedules import LinearSchedule

BACKENDS = ("auto", "dense", "dct", "chebyshev")
# The Φ and Σ matrices are only built for graphs up to this size.
DENSE_MATRIX_MAX_NODES = 20_000


def default_phi_floor(dtype) -> float:
    return 1e-10 if dtype == torch.float64 else 1e-4


def _detect_grid_shape(L):
    shape = getattr(L, "grid_shape", None)
    if shape is None:
        return None
    from engine.graphs import grid_laplacian

    ref = grid_laplacian(shape)
    if ref.shape != L.shape or (abs(sp.csr_matrix(L) - ref)).max() > 1e-12:
        return None  # modified after construction: not a plain lattice any more
    return tuple(shape)


class GraphDiffusion(SpectralProcess):
    """The diffusion process on one graph with Laplacian ``L`` (scipy.sparse or dense).

    Parameters:
        L: Laplacian ``(N, N)``; ``grid_laplacian`` results are recognised as lattices.
        gamma: ``A = gamma L + lam I`` with ``gamma > 0``.
        lam: ``A = gamma L + lam I`` with ``lam >= 0``.
        schedule: an object with ``beta(t)`` and ``integral(t)`` (default ``LinearSchedule()``).
        dtype: of every tensor the process returns.
        device: of every tensor the process returns.
        backend: ``"auto"`` (lattice of ≥ 512 sites → ``"dct"``, N ≤ 3000 → ``"dense"``, else
            ``"chebyshev"``) or one of them forced.
        center: remove the centre-of-mass (null) mode, for molecules (needs a connected graph;
            use ``lam=0``). Every output then has zero mean over the nodes.
        grid_shape: the lattice shape when ``L`` is a lattice Laplacian built elsewhere.
        phi_floor: guard of ``Phi^{-1}`` in ``s0_from_eps`` (see ``modes.inv_phi``).
        chebyshev_tol: the Chebyshev backend's bound on the expansion's tail (default 1e-10 in
            float64, 1e-6 in float32).
    """

    def __init__(self, L, gamma: float = 1.0, lam: float = 0.1, schedule=None,
                 dtype=torch.float64, device=None, backend: str = "auto", center: bool = False,
                 grid_shape=None, phi_floor: float | None = None, chebyshev_tol: float | None = None):
        if not (isinstance(gamma, (int, float)) and gamma > 0 and math.isfinite(gamma)):
            raise ValueError(f"gamma must be a finite number > 0, got {gamma!r}")
        if not (isinstance(lam, (int, float)) and lam >= 0 and math.isfinite(lam)):
            raise ValueError(f"lam must be a finite number >= 0, got {lam!r}")
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
        if sp.issparse(L):
            L = L.tocsr() if not hasattr(L, "grid_shape") else L
        elif isinstance(L, torch.Tensor):
            L = sp.csr_matrix(L.detach().cpu().double().numpy())
        else:
            L = sp.csr_matrix(np.asarray(L, dtype=np.float64))
        if L.shape[0] != L.shape[1]:
            raise ValueError(f"Laplacian must be square, got shape {L.shape}")
        if L.shape[0] == 0:
            raise InputError("the graph is empty (0 nodes)")
        self.gamma, self.lam = float(gamma), float(lam)
        self.schedule = schedule if schedule is not None else LinearSchedule()
        self.dtype = dtype
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.center = bool(center)
        self.phi_floor = default_phi_floor(dtype) if phi_floor is None else float(phi_floor)
        self.laplacian = L
        self.n = L.shape[0]

        shape = tuple(grid_shape) if grid_shape is not None else _detect_grid_shape(L)
        if backend == "auto":
            if shape is not None and (self.n >= DCT_AUTO_MIN_NODES or self.n > DENSE_AUTO_MAX_NODES):
                backend = "dct"
            elif self.n <= DENSE_AUTO_MAX_NODES:
                backend = "dense"
            else:
                backend = "chebyshev"
        kw = dict(dtype=dtype, device=self.device, center=self.center)
        if backend == "dct":
            if shape is None:
                raise ValueError("backend='dct' needs a lattice: build L with grid_laplacian or pass grid_shape")
            if int(np.prod(shape)) != self.n:
                raise ValueError(f"grid_shape {shape} has {int(np.prod(shape))} nodes but L has {self.n}")
            self.backend: Backend = LatticeDCTBackend(shape, self.gamma, self.lam, **kw)
        elif backend == "dense":
            self.backend = DenseEigenBackend(L, self.gamma, self.lam, **kw)
        else:
            self.backend = ChebyshevBackend(L, self.gamma, self.lam, tol=chebyshev_tol, **kw)

    # ------------------------------------------------------------------ helpers
    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def eigenvalues(self) -> torch.Tensor:
        """Eigenvalues of ``A`` in mode order (dense: ascending; DCT: lattice order)."""
        if not self.backend.has_modes:
            raise NotImplementedError("the Chebyshev backend has no explicit eigenvalues")
        return self.backend.eigenvalues

    # ------------------------------------------------------------------ layout hooks
    def _prepare(self, coords, times):
        """Arrays as ``(batch, N, 3)``, integrals as scalars or ``(batch, 1)``."""
        arrays, single = [], True
        for name, X in coords:
            X = torch.as_tensor(X)
            X = X.to(dtype=self.dtype, device=self.device)
            if X.dim() == 2:
                X = X.unsqueeze(0)
            elif X.dim() == 3:
                single = False
            else:
                raise InputError(f"{name} must have shape (N, 3) or (batch, N, 3), got {tuple(X.shape)}")
            if X.shape[-2:] != (self.n, 3):
                raise InputError(f"{name} has shape {tuple(X.shape[1:]) if X.shape[0] == 1 else tuple(X.shape)}, "
                                 f"expected ({self.n}, 3) for this graph of {self.n} nodes")
            self._check_finite(X, name)
            arrays.append(X)
        ts = [self._time(t, name) for name, t in times]
        b = max([X.shape[0] for X in arrays] + [t.shape[0] for t in ts if t.dim() == 1] + [1])
        for (name, _), X in zip(coords, arrays):
            if X.shape[0] not in (1, b):
                raise InputError(f"{name} has a batch of {X.shape[0]}, expected {b}")
        for (name, _), t in zip(times, ts):
            if t.dim() == 1 and t.shape[0] != b:
                raise InputError(f"got {t.shape[0]} times in {name} for a batch of {b} structures")
        single = single and all(t.dim() == 0 for t in ts)
        arrays = [X.expand(b, -1, -1) for X in arrays]
        integrals = [self.schedule.integral(t.reshape(-1, 1) if t.dim() == 1 else t) for t in ts]
        return arrays, integrals, single

    def _combine(self, terms):
        return self.backend.combine(terms)

    def _finish(self, Y, single):
        return Y[0] if single else Y

    def _centered(self, X):
        return X - X.mean(dim=-2, keepdim=True) if self.center else X

    # ------------------------------------------------------------------ dense matrices
    def phi(self, t, s=0.0) -> torch.Tensor:
        """Dense ``Phi(t|s)`` (N×N); projected onto the mean-free subspace when centred."""
        return self._dense(lambda eye: self.apply_phi(eye, t, s))

    def sigma(self, t, s=0.0) -> torch.Tensor:
        """Dense ``Sigma(t|s)`` (N×N)."""
        Bt, Bs = self.integral(t), self.integral(s)
        return self._dense(lambda eye: self.apply_mode_function(eye, lambda a: modes.var(a, Bt - Bs)))

    def transition(self, t, s):
        """``(F, Q) = (Phi(t|s), Sigma(t|s))`` as dense matrices: one reverse-grid step."""
        return self.phi(t, s), self.sigma(t, s)

    def posterior_covariance(self, t, s) -> torch.Tensor:
        """Dense posterior covariance ``C`` of ``q(S_s | S_t, S_0)`` (N×N)."""
        Bt, Bs = self.integral(t), self.integral(s)
        return self._dense(lambda eye: self.apply_mode_function(
            eye, lambda a: modes.posterior_coefficients(a, Bs, Bt)[2]))

    def _dense(self, apply_cols) -> torch.Tensor:
        if self.n > DENSE_MATRIX_MAX_NODES:
            raise InputError(f"refusing to build a dense {self.n}x{self.n} matrix; use apply_* instead")
        starts = range(0, self.n, 3)
        block = torch.zeros(len(starts), self.n, 3, dtype=self.dtype, device=self.device)
        for i, start in enumerate(starts):
            for j in range(min(3, self.n - start)):
                block[i, start + j, j] = 1.0
        Y = apply_cols(block)  # column start+j of the matrix is Y[i, :, j]
        out = torch.empty(self.n, self.n, dtype=self.dtype, device=self.device)
        for i, start in enumerate(starts):
            width = min(3, self.n - start)
            out[:, start:start + width] = Y[i, :, :width]
        return out

    def prior_sample(self, batch_shape=(), generator: torch.Generator | None = None):
        """A draw of ``S_1`` started from ``S_0 = 0``: the reverse process's starting point."""
        b = int(np.prod(batch_shape)) if batch_shape else 1
        zeros = torch.zeros((b, self.n, 3), dtype=self.dtype, device=self.device)
        S1, _ = self.noise(zeros, 1.0, generator=generator)
        return S1.reshape(*batch_shape, self.n, 3) if batch_shape else S1[0]

    # ------------------------------------------------------------------ spectra
    def to_modes(self, S):
        """Spectral coordinates ``Z = U^T S`` ``(..., M, 3)`` (dense and lattice backends)."""
        if not self.backend.has_modes:
            raise NotImplementedError("the Chebyshev backend has no explicit eigenbasis")
        (S,), _, single = self._prepare([("S", S)], [])
        return self._finish(self.backend.to_modes(S), single)

    def from_modes(self, Z):
        if not self.backend.has_modes:
            raise NotImplementedError("the Chebyshev backend has no explicit eigenbasis")
        Z = torch.as_tensor(Z, dtype=self.dtype, device=self.device)
        single = Z.dim() == 2
        Z = Z.unsqueeze(0) if single else Z
        return self._finish(self.backend.from_modes(Z), single)

    def mode_power(self, S) -> torch.Tensor:
        """``sum_c z_ic^2`` per mode ``(..., M)``: where a structure's variance sits."""
        return (self.to_modes(S) ** 2).sum(-1)

    def mode_energies(self, S) -> torch.Tensor:
        """Harmonic energy per mode ``1/2 a_i sum_c z_ic^2`` ``(..., M)``."""
        return 0.5 * self.eigenvalues * self.mode_power(S)

