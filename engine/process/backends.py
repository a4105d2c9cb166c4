"""Three ways to apply matrix functions ``f(A)`` of ``A = gamma L + lam I`` to N×3 arrays.

Every backend implements one protocol::

    backend.combine([(X1, f1), (X2, f2), ...])  ->  f1(A) X1 + f2(A) X2 + ...

with ``X_i`` of shape ``(batch, N, 3)`` and ``f_i`` a callable that maps a tensor of
eigenvalues ``a`` of shape ``(M,)`` to coefficients of shape ``(M,)`` or ``(batch, M)``
(one row per batch element, e.g. one time per sample). The Kronecker factor ``⊗ I_3`` is
never built: the three Cartesian components are columns.

- ``DenseEigenBackend``: ``A = U diag(a) U^T`` by ``eigh`` (cached per graph). Small graphs.
- ``LatticeDCTBackend``: Neumann lattices, diagonalised by the orthonormal DCT-II:
  O(N log N), no eigendecomposition.
- ``ChebyshevBackend``: large sparse graphs. ``f`` is expanded in Chebyshev polynomials on
  ``[lam, gamma * 2 d_max + lam]`` (Gershgorin), degree chosen adaptively until the
  coefficient tail is below ``tol``; memory O(nnz + N). ``last_error_bound`` holds
  ``sum_{k>m} |c_k| / max|f|``, a bound on ``||f(A)v - p_m(A)v|| / (max|f| ||v||)``.
  For a steep ``f`` such as ``Phi^{-1}`` (in ``s0_from_eps``) the error relative to the
  result grows with ``max|f| / |f|``: use the dense or DCT path where that matters.

``center=True`` removes the constant (centre-of-mass) mode: every result lies in the
mean-free subspace. It requires a connected graph.
"""
from __future__ import annotations

import functools
import hashlib
import math
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
import scipy.fft
import scipy.sparse as sp
import torch

from engine.errors import GraphError
from engine.graphs import connected_components, max_weighted_degree

CoeffFn = Callable[[torch.Tensor], torch.Tensor]

# Largest graph the dense path takes (N×N float64 eigenvectors: 20000 -> 3.2 GB).
DENSE_MAX_NODES = 20_000
# Largest graph the automatic choice sends to the dense path.
DENSE_AUTO_MAX_NODES = 3_000
# Lattices from this size on take the DCT path automatically (below, dense is faster).
DCT_AUTO_MIN_NODES = 512


# ----------------------------------------------------------------------------- cache
class _EighCache:
    """LRU cache of Laplacian eigendecompositions (float64, CPU), keyed by content hash."""

    def __init__(self, max_entries: int = 4096, max_bytes: int = 512 * 2**20):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._store: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(L: sp.csr_matrix) -> str:
        L = sp.csr_matrix(L)
        L.sort_indices()
        h = hashlib.blake2b(digest_size=16)
        h.update(np.int64(L.shape[0]).tobytes())
        h.update(np.ascontiguousarray(L.indptr, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(L.indices, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(L.data, dtype=np.float64).tobytes())
        return h.hexdigest()

    def get(self, key):
        item = self._store.get(key)
        if item is not None:
            self._store.move_to_end(key)
            self.hits += 1
        return item

    def put(self, key, mu: torch.Tensor, U: torch.Tensor):
        if key in self._store:
            return
        size = U.numel() * U.element_size() + mu.numel() * mu.element_size()
        self._store[key] = (mu, U)
        self._bytes += size
        while len(self._store) > self.max_entries or (self._bytes > self.max_bytes and len(self._store) > 1):
            _, (m, u) = self._store.popitem(last=False)
            self._bytes -= u.numel() * u.element_size() + m.numel() * m.element_size()

    def clear(self):
        self._store.clear()
        self._bytes = 0
        self.hits = self.misses = 0


EIGH_CACHE = _EighCache()
"""The eigendecompositions of the Laplacians seen so far (LRU, keyed by content hash)."""


def laplacian_eigh_many(laplacians: Sequence, keys: Sequence[str] | None = None):
    """Eigendecompositions ``(mu, U)`` (float64, CPU, ascending) of many Laplacians.

    Cached by content; each miss is solved on its own (bit-identical results whatever
    else is in the batch, so cached and fresh decompositions agree).
    """
    keys = list(keys) if keys is not None else [_EighCache.key(L) for L in laplacians]
    out: list = [None] * len(laplacians)
    missing: dict[int, list[int]] = {}  # size -> first index of each missing key
    first: dict[str, int] = {}
    for i, (L, k) in enumerate(zip(laplacians, keys)):
        if k in first:
            continue
        first[k] = i
        hit = EIGH_CACHE.get(k)
        if hit is None:
            missing.setdefault(L.shape[0], []).append(i)
        else:
            out[i] = hit
    for n, idx in missing.items():
        EIGH_CACHE.misses += len(idx)
        if n == 0:
            for i in idx:
                out[i] = (torch.zeros(0, dtype=torch.float64), torch.zeros(0, 0, dtype=torch.float64))
            continue
        for i in idx:
            # One call per matrix on a fresh torch allocation (64-byte aligned): a batched
            # eigh gives last-bit differences depending on a matrix's position in the
            # batch (memory alignment), which made cached results depend on which graphs
            # happened to share a batch, so a resumed training run drifted from the
            # uninterrupted one after a restart.
            dense = torch.tensor(sp.csr_matrix(laplacians[i]).toarray(), dtype=torch.float64)
            mu, U = torch.linalg.eigh(dense)
            item = (mu.clamp_min(0.0).contiguous(), U.contiguous())
            EIGH_CACHE.put(keys[i], *item)
            out[i] = item
    return [out[first[k]] for k in keys]


def _require_connected(L, what="centre-of-mass-free mode"):
    n = L.shape[0]
    if n == 0:
        raise GraphError("the graph is empty (0 nodes)")
    count, _ = connected_components(L)
    if count > 1:
        raise GraphError(
            f"the graph is disconnected ({count} components); the {what} needs a connected "
            "graph (its only null mode must be the centre of mass)")


def _coeff_rows(f: CoeffFn, a: torch.Tensor, batch: int) -> torch.Tensor:
    """``f(a)`` as ``(batch or 1, M)``."""
    c = f(a)
    if not isinstance(c, torch.Tensor):
        c = torch.as_tensor(c, dtype=a.dtype, device=a.device)
    c = c.to(a.dtype)
    if c.dim() == 0:
        c = c.expand(a.shape)
    if c.dim() == 1:
        c = c.unsqueeze(0)
    if c.shape[0] not in (1, batch):
        raise ValueError(f"coefficient rows {c.shape[0]} do not match batch {batch}")
    return c


class Backend:
    """Common interface; see the module docstring."""

    name = "abstract"
    has_modes = False
    n: int
    eigenvalues: torch.Tensor    # (M,), set by the backends with has_modes

    def combine(self, terms):  # pragma: no cover - interface
        raise NotImplementedError

    def apply(self, X: torch.Tensor, f: CoeffFn) -> torch.Tensor:
        return self.combine([(X, f)])

    def to_modes(self, X):  # pragma: no cover - interface (backends with has_modes)
        raise NotImplementedError

    def from_modes(self, Z):  # pragma: no cover - interface (backends with has_modes)
        raise NotImplementedError


class _ModalBackend(Backend):
    """Backends with an explicit orthonormal eigenbasis: to_modes / from_modes."""

    has_modes = True
    eigenvalues: torch.Tensor  # (M,) eigenvalues of A in the order of to_modes' axis 1
    null_mode: int | None

    def to_modes(self, X):  # (batch, N, 3) -> (batch, M, 3)
        raise NotImplementedError

    def from_modes(self, Z):  # (batch, M, 3) -> (batch, N, 3)
        raise NotImplementedError

    def mode_mask(self) -> torch.Tensor:
        mask = torch.ones_like(self.eigenvalues)
        if self.null_mode is not None:
            mask[self.null_mode] = 0.0
        return mask

    def combine(self, terms):
        a = self.eigenvalues
        mask = self.mode_mask()
        total = None
        for X, f in terms:
            c = _coeff_rows(f, a, X.shape[0]) * mask
            Z = self.to_modes(X) * c.unsqueeze(-1)
            total = Z if total is None else total + Z
        return self.from_modes(total)


# ----------------------------------------------------------------------------- dense
class DenseEigenBackend(_ModalBackend):
    """``A = U diag(a) U^T`` by ``eigh``, cached per graph (``EIGH_CACHE``): small graphs."""

    name = "dense"

    def __init__(self, L, gamma: float, lam: float, *, dtype, device, center: bool,
                 max_nodes: int = DENSE_MAX_NODES):
        L = sp.csr_matrix(L)
        self.n = n = L.shape[0]
        if n > max_nodes:
            need = 8 * n * n / 2**30
            raise GraphError(
                f"graph with {n} nodes is too large for the dense path (eigenvectors alone "
                f"need {need:.1f} GB; limit {max_nodes} nodes); use backend='chebyshev' "
                "(or 'dct' for a lattice)")
        if center:
            _require_connected(L)
        (mu, U), = laplacian_eigh_many([L])
        self.laplacian_eigenvalues = mu.to(dtype=dtype, device=device)
        self.eigenvalues = gamma * self.laplacian_eigenvalues + lam
        self.U = U.to(dtype=dtype, device=device)
        self.null_mode = 0 if center else None

    def to_modes(self, X):
        return self.U.transpose(0, 1) @ X

    def from_modes(self, Z):
        return self.U @ Z


# ----------------------------------------------------------------------------- DCT
@functools.lru_cache(maxsize=64)
def _dct_tables(n: int, dtype: torch.dtype, device: torch.device):
    """Twiddles and scales of the length-n orthonormal DCT-II (cached per size)."""
    k = torch.arange(n, dtype=torch.float64)
    twiddle = torch.exp(-1j * math.pi * k / (2 * n))
    scale = torch.full((n,), math.sqrt(1.0 / (2 * n)), dtype=torch.float64)
    scale[0] = math.sqrt(1.0 / (4 * n))
    cdtype = torch.complex64 if dtype == torch.float32 else torch.complex128
    return (twiddle.to(device=device, dtype=cdtype), scale.to(device=device, dtype=dtype),
            twiddle.conj().to(device=device, dtype=cdtype), (1.0 / scale).to(device=device, dtype=dtype))


def _dct_ortho(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Orthonormal DCT-II along ``dim`` via one FFT (Makhoul), same as scipy's norm='ortho'."""
    x = x.movedim(dim, -1)
    n = x.shape[-1]
    if n == 1:
        return x.movedim(-1, dim).clone()
    twiddle, scale, _, _ = _dct_tables(n, x.dtype, x.device)
    v = torch.cat([x[..., 0::2], x[..., 1::2].flip(-1)], dim=-1)
    y = 2.0 * (torch.fft.fft(v, dim=-1) * twiddle).real
    return (y * scale).movedim(-1, dim)


def _idct_ortho(y: torch.Tensor, dim: int) -> torch.Tensor:
    """Inverse of ``_dct_ortho`` (orthonormal DCT-III) along ``dim``."""
    y = y.movedim(dim, -1)
    n = y.shape[-1]
    if n == 1:
        return y.movedim(-1, dim).clone()
    _, _, twiddle_inv, unscale = _dct_tables(n, y.dtype, y.device)
    Y = y * unscale
    Y_rev = torch.cat([torch.zeros_like(Y[..., :1]), Y[..., 1:].flip(-1)], dim=-1)  # y[N-k]
    V = torch.complex(Y, -Y_rev) * (0.5 * twiddle_inv)
    v = torch.fft.ifft(V, dim=-1).real
    x = torch.empty_like(v)
    half = (n + 1) // 2
    x[..., 0::2] = v[..., :half]
    x[..., 1::2] = v[..., half:].flip(-1)
    return x.movedim(-1, dim)


def lattice_laplacian_eigenvalues(shape, dtype=torch.float64, device=None) -> torch.Tensor:
    """Eigenvalues of ``grid_laplacian(shape)`` on the DCT grid, shape ``shape``."""
    total = torch.zeros(tuple(shape), dtype=dtype, device=device)
    for axis, n in enumerate(shape):
        k = torch.arange(n, dtype=dtype, device=device)
        mu = 4.0 * torch.sin(math.pi * k / (2 * n)) ** 2
        view = [1] * len(shape)
        view[axis] = n
        total = total + mu.reshape(view)
    return total


class LatticeDCTBackend(_ModalBackend):
    """Neumann lattices (``grid_laplacian``), diagonalised by the orthonormal DCT-II along each
    axis: O(N log N), no eigendecomposition."""

    name = "dct"

    def __init__(self, shape, gamma: float, lam: float, *, dtype, device, center: bool):
        self.shape = tuple(int(s) for s in shape)
        self.n = int(np.prod(self.shape))
        self.laplacian_eigenvalues = lattice_laplacian_eigenvalues(self.shape, dtype, device).reshape(-1)
        self.eigenvalues = gamma * self.laplacian_eigenvalues + lam
        self.null_mode = 0 if center else None
        self._dims = tuple(range(1, 1 + len(self.shape)))

    def _transform(self, X, inverse: bool):
        Y = X.reshape(X.shape[0], *self.shape, 3)
        if Y.device.type == "cpu" and not Y.requires_grad:
            # pocketfft's real DCT is ~10x faster than the FFT formulation on the CPU
            fn = scipy.fft.idctn if inverse else scipy.fft.dctn
            out = fn(Y.numpy(), type=2, norm="ortho", axes=self._dims, workers=torch.get_num_threads())
            return torch.from_numpy(out).reshape(X.shape[0], self.n, 3)
        for d in self._dims:  # CUDA (and autograd): one FFT per axis
            Y = _idct_ortho(Y, d) if inverse else _dct_ortho(Y, d)
        return Y.reshape(X.shape[0], self.n, 3)

    def to_modes(self, X):
        return self._transform(X, inverse=False)

    def from_modes(self, Z):
        return self._transform(Z, inverse=True)


# ----------------------------------------------------------------------------- Chebyshev
class ChebyshevBackend(Backend):
    name = "chebyshev"

    def __init__(self, L, gamma: float, lam: float, *, dtype, device, center: bool,
                 tol: float | None = None, max_degree: int = 8192, use_scipy: bool | None = None):
        L = sp.csr_matrix(L, dtype=np.float64)
        self.n = L.shape[0]
        if center:
            _require_connected(L)
        self.center = center
        self.lo = float(lam)
        self.hi = float(gamma * 2.0 * max_weighted_degree(L) + lam)
        self.hi = max(self.hi, self.lo) * (1 + 1e-12) + 1e-300
        self.tol = tol if tol is not None else (1e-10 if dtype == torch.float64 else 1e-6)
        self.max_degree = max_degree
        A = (gamma * L + lam * sp.identity(self.n, format="csr")).tocsr()
        A.sort_indices()
        on_cpu = torch.device(device if device is not None else "cpu").type == "cpu"
        if use_scipy if use_scipy is not None else on_cpu:
            # scipy's CSR product is 2-3x faster than torch's on the CPU; tensors share memory
            self._A_scipy = A.astype(np.float32 if dtype == torch.float32 else np.float64)
            self.A = None
        else:
            self._A_scipy = None
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                self.A = torch.sparse_csr_tensor(
                    torch.from_numpy(A.indptr.astype(np.int64)), torch.from_numpy(A.indices.astype(np.int64)),
                    torch.from_numpy(A.data), size=A.shape, dtype=torch.float64,
                    check_invariants=False).to(dtype=dtype, device=device)
        self.dtype, self.device = dtype, device
        self.last_error_bound = 0.0
        self.last_degree = 0

    def _coefficients(self, f: CoeffFn, batch: int) -> np.ndarray:
        """Chebyshev coefficients ``(rows, m+1)`` of ``f`` on ``[lo, hi]`` (float64)."""
        K = 64
        while True:
            j = np.arange(K)
            x = np.cos(np.pi * (j + 0.5) / K)
            a = 0.5 * (self.hi - self.lo) * x + 0.5 * (self.hi + self.lo)
            vals = _coeff_rows(f, torch.from_numpy(a), batch).double().cpu().numpy()
            c = scipy.fft.dct(vals, type=2, axis=-1) / K
            c[:, 0] *= 0.5
            scale = np.maximum(np.abs(vals).max(axis=1, keepdims=True), 1e-300)
            tail = np.cumsum(np.abs(c[:, ::-1]), axis=1)[:, ::-1] / scale  # tail[k] = sum_{i>=k}
            ok = tail <= self.tol
            # smallest m with sum_{k>m} |c_k| <= tol for every row
            m_rows = np.where(ok.any(axis=1), ok.argmax(axis=1), K)
            m = int(m_rows.max())
            if m < 0.75 * K or K >= 2 * self.max_degree:
                if m >= 0.75 * K:
                    raise GraphError(
                        f"Chebyshev expansion did not converge within degree {self.max_degree} "
                        f"(spectral interval [{self.lo:.3g}, {self.hi:.3g}]); the function is too "
                        "steep for this graph — use fewer steps between times or the dense path")
                self.last_degree = max(m, 1)
                self.last_error_bound = float((tail[:, m] if m < K else np.zeros(len(tail))).max())
                return c[:, : max(m, 1)]
            K *= 2

    def combine(self, terms):
        cols, coeffs = [], []
        for X, f in terms:
            b = X.shape[0]
            c = self._coefficients(f, b)  # (rows, m)
            if c.shape[0] == 1 and b > 1:
                c = np.repeat(c, b, axis=0)
            V = X.permute(1, 0, 2).reshape(self.n, b * 3)  # (N, batch*3)
            cols.append(V)
            coeffs.append(np.repeat(c, 3, axis=0))  # one row per column
        V = torch.cat(cols, dim=1)
        if self.center:
            V = V - V.mean(dim=0, keepdim=True)
        m = max(c.shape[1] for c in coeffs)
        table = np.zeros((V.shape[1], m))
        r = 0
        for c in coeffs:
            table[r:r + c.shape[0], : c.shape[1]] = c
            r += c.shape[0]
        C = torch.from_numpy(table).to(dtype=self.dtype, device=V.device)
        alpha = 2.0 / (self.hi - self.lo)
        beta = (self.hi + self.lo) / (self.hi - self.lo)

        def matmul(Y):
            if self._A_scipy is not None:
                return torch.from_numpy(self._A_scipy @ Y.detach().contiguous().numpy())
            return self.A @ Y

        def scaled(Y):  # (2A - (hi+lo)I)/(hi-lo) Y
            return alpha * matmul(Y) - beta * Y

        T_prev, T_cur = V, scaled(V)
        out = C[:, 0] * T_prev
        if m > 1:
            out = out + C[:, 1] * T_cur
        for k in range(2, m):
            T_prev, T_cur = T_cur, 2.0 * scaled(T_cur) - T_prev
            out = out + C[:, k] * T_cur
        # split the columns back per term and sum the terms
        parts = []
        r = 0
        for X, _ in terms:
            b = X.shape[0]
            parts.append(out[:, r:r + 3 * b].reshape(self.n, b, 3).permute(1, 0, 2))
            r += 3 * b
        result = parts[0]
        for part in parts[1:]:
            result = result + part
        return result.contiguous()
