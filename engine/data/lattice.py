"""Synthetic lattice data: a 3D vector per site of a 1D/2D/3D grid (docs/data.md, "grid systems").

Kinds (``LatticeDataset(kind, shape, n_samples, seed, **params)``):

``"elastic"`` — displacement field of a harmonic (elastic) lattice in thermal equilibrium,
    sampled exactly. Energy ``E(u) = ½ Σ_c u_c^T (k L + m I) u_c`` (L the Neumann grid
    Laplacian, k the spring stiffness, m an on-site pinning term), so at temperature T
    each Cartesian component is independently ``u_c ~ N(0, T (k L + m I)^{-1})``. The DCT-II
    diagonalises L, so a sample is ``idct(z / sqrt((k λ + m) / T))`` with ``z ~ N(0, I)``: no
    matrix is formed or factorised. On top, smooth deformation modes with random
    amplitudes (``deformation_scale`` > 0): bending, twist about the x axis and shear.
``"spin"`` — a smooth unit-vector field (a relaxed Heisenberg-like texture): a Gaussian
    random field low-pass filtered by the heat kernel ``exp(-ℓ² λ / 2)`` of the grid
    (correlation length ℓ in sites), normalised to unit length at every site.
``"skyrmion"`` — 2D only: 1..``max_skyrmions`` magnetic skyrmions (360° domain-wall
    profile, random centre, radius and helicity) in a ferromagnetic background along +z,
    plus a small smooth perturbation; unit length everywhere. Each skyrmion carries
    topological charge −1 (background +z, core −z).

Every sample is a deterministic function of ``(seed, index)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.fft import idctn

from engine.errors import InputError
from engine.graphs import grid_edges, grid_laplacian

__all__ = [
    "LatticeSystem", "lattice_system", "grid_eigenvalues", "elastic_thermal",
    "elastic_covariance", "deformation_modes", "smooth_spin_field", "skyrmion_field",
    "topological_charge", "LatticeDataset", "LATTICE_KINDS",
]


@dataclass
class LatticeSystem:
    """A regular grid. shape: ``(n,)``, ``(nx, ny)`` or ``(nx, ny, nz)``; positions:
    ``(N, 3)`` float64 site coordinates (spacing ``spacing``, centred on the origin, unused
    axes 0; C order like ``numpy.ravel``); laplacian: ``(N, N)`` csr (Neumann);
    edges: ``(E, 2)`` nearest-neighbour pairs."""

    shape: tuple[int, ...]
    positions: np.ndarray
    laplacian: sp.csr_matrix
    edges: np.ndarray

    @property
    def n(self) -> int:
        return int(np.prod(self.shape))


def lattice_system(shape, spacing: float = 1.0) -> LatticeSystem:
    L = grid_laplacian(shape)  # validates the shape
    shape = tuple(int(s) for s in (shape if np.ndim(shape) else (shape,)))
    axes = [(np.arange(s) - (s - 1) / 2.0) * spacing for s in shape]
    grids = np.meshgrid(*axes, indexing="ij")
    pos = np.zeros((int(np.prod(shape)), 3))
    for d, g in enumerate(grids):
        pos[:, d] = g.ravel()
    return LatticeSystem(shape=shape, positions=pos, laplacian=L, edges=grid_edges(shape))


def grid_eigenvalues(shape) -> np.ndarray:
    """Eigenvalues of ``grid_laplacian(shape)`` arranged on the grid: entry ``k`` belongs to
    the DCT-II basis function ``k``, ``λ_k = Σ_d 4 sin²(π k_d / (2 n_d))``."""
    lam = 0.0
    for d, n in enumerate(shape):
        k = np.arange(n)
        term = 4.0 * np.sin(np.pi * k / (2.0 * n)) ** 2
        lam = lam + term.reshape([-1 if e == d else 1 for e in range(len(shape))])
    return np.broadcast_to(lam, tuple(shape)).copy()


def _spectral_sample(shape, filt: np.ndarray, size: int, rng) -> np.ndarray:
    """``(size, N, 3)`` fields ``idct(filt * z)`` per component, ``z ~ N(0, I)``."""
    nd = len(shape)
    z = rng.standard_normal((size, 3) + tuple(shape))
    x = idctn(z * filt, type=2, norm="ortho", axes=tuple(range(2, 2 + nd)))
    return np.moveaxis(x.reshape(size, 3, -1), 1, 2)


def elastic_thermal(shape, size: int, rng, *, stiffness: float = 1.0, mass: float = 0.1,
                    temperature: float = 1.0) -> np.ndarray:
    """``(size, N, 3)`` exact samples of ``N(0, T (k L + m I)^{-1})`` per component."""
    lam = grid_eigenvalues(shape)
    return _spectral_sample(shape, np.sqrt(temperature / (stiffness * lam + mass)), size, rng)


def elastic_covariance(shape, *, stiffness: float = 1.0, mass: float = 0.1,
                       temperature: float = 1.0) -> np.ndarray:
    """Dense ``(N, N)`` covariance ``T (k L + m I)^{-1}`` of each component (small grids)."""
    L = grid_laplacian(shape).toarray()
    return temperature * np.linalg.inv(stiffness * L + mass * np.eye(len(L)))


def deformation_modes(system: LatticeSystem, rng, scale: float) -> np.ndarray:
    """``(N, 3)`` smooth deformation: bending (quadratic sag along x, in y and z), twist
    about the x axis (angle linear in x) and shear (x displaced along y, or y along x for
    1D), amplitudes ``N(0, scale²)`` in units of the lattice half-extent."""
    x = system.positions
    half = np.maximum(np.abs(x).max(axis=0), 1e-12)
    r = x / half  # each used axis in [-1, 1]
    extent = float(half.max())
    a_bend_y, a_bend_z, a_twist, a_shear = rng.normal(0.0, scale, size=4)
    u = np.zeros_like(x)
    u[:, 1] += a_bend_y * extent * (r[:, 0] ** 2 - 1.0 / 3.0)
    u[:, 2] += a_bend_z * extent * (r[:, 0] ** 2 - 1.0 / 3.0)
    theta = a_twist * r[:, 0]
    y, z = x[:, 1], x[:, 2]
    u[:, 1] += y * np.cos(theta) - z * np.sin(theta) - y
    u[:, 2] += y * np.sin(theta) + z * np.cos(theta) - z
    if len(system.shape) >= 2:
        u[:, 0] += a_shear * extent * r[:, 1]
    else:
        u[:, 1] += a_shear * extent * r[:, 0]
    return u


def _normalise(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    out = v / np.maximum(norm, 1e-12)
    tiny = norm[..., 0] < 1e-12
    out[tiny] = (0.0, 0.0, 1.0)
    return out


def smooth_spin_field(shape, rng, *, correlation_length: float = 3.0) -> np.ndarray:
    """``(N, 3)`` unit vectors: heat-kernel filtered Gaussian field, normalised."""
    filt = np.exp(-0.5 * correlation_length ** 2 * grid_eigenvalues(shape))
    return _normalise(_spectral_sample(shape, filt, 1, rng)[0])


def skyrmion_field(shape, rng, *, max_skyrmions: int = 3, radius: tuple = (0.08, 0.16),
                   wall_width: float = 1.5, noise: float = 0.1,
                   correlation_length: float = 3.0) -> tuple[np.ndarray, int]:
    """``((N, 3) unit vectors, number of skyrmions)`` on a 2D grid.

    Skyrmion profile ``θ(r) = 2 arctan(sinh(R/w) / sinh(r/w))`` (θ=π at the core, →0 far
    away), ``m = (sin θ cos(φ+η), sin θ sin(φ+η), cos θ)`` with φ the polar angle around
    the centre and helicity η (0 Néel ... π/2 Bloch). Radii ``R`` are fractions of the
    smaller side; centres keep ``R + 4w`` from the edges and ``R1 + R2 + 6w`` from each other
    (placement by rejection; fewer skyrmions when they do not fit). Each site follows its
    nearest centre. A smooth perturbation of size ``noise`` is added before normalising.
    """
    if len(shape) != 2:
        raise InputError(f"skyrmion fields need a 2D grid, got shape {tuple(shape)}")
    nx, ny = shape
    side = min(nx, ny)
    want = int(rng.integers(1, max_skyrmions + 1))
    centers: list = []
    radii: list = []
    for _ in range(200):
        if len(centers) == want:
            break
        R = float(rng.uniform(*radius)) * side
        margin = R + 4 * wall_width
        if 2 * margin >= side:
            continue
        c = rng.uniform([margin, margin], [nx - 1 - margin, ny - 1 - margin])
        if all(np.hypot(*(c - c2)) >= R + R2 + 6 * wall_width
               for c2, R2 in zip(centers, radii)):
            centers.append(c)
            radii.append(R)
    gx, gy = np.meshgrid(np.arange(nx, dtype=float), np.arange(ny, dtype=float),
                         indexing="ij")
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    m = np.zeros((len(pts), 3))
    m[:, 2] = 1.0
    if centers:
        C = np.array(centers)
        d = np.linalg.norm(pts[:, None, :] - C[None], axis=2)
        nearest = d.argmin(axis=1)
        helicity = rng.uniform(0, 2 * np.pi, size=len(C))
        for k in range(len(C)):
            sel = nearest == k
            r = d[sel, k]
            R = radii[k]
            theta = 2 * np.arctan2(np.sinh(R / wall_width), np.sinh(r / wall_width))
            phi = np.arctan2(pts[sel, 1] - C[k, 1], pts[sel, 0] - C[k, 0]) + helicity[k]
            m[sel] = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi),
                               np.cos(theta)], axis=1)
    if noise > 0:
        filt = noise * np.exp(-0.5 * correlation_length ** 2 * grid_eigenvalues(shape))
        m = m + _spectral_sample(shape, filt, 1, rng)[0]
    return _normalise(m), len(centers)


def topological_charge(field: np.ndarray, shape) -> float:
    """Skyrmion number ``Q = (1/4π) Σ Ω`` of a 2D unit-vector field ``(N, 3)`` from the
    signed solid angles Ω of the two triangles of every plaquette (Berg–Lüscher)."""
    m = np.asarray(field, dtype=np.float64).reshape(tuple(shape) + (3,))

    def omega(a, b, c):
        num = np.einsum("...i,...i", a, np.cross(b, c))
        den = 1 + np.einsum("...i,...i", a, b) + np.einsum("...i,...i", b, c) \
            + np.einsum("...i,...i", c, a)
        return 2 * np.arctan2(num, den)

    p00, p10, p01, p11 = m[:-1, :-1], m[1:, :-1], m[:-1, 1:], m[1:, 1:]
    return float((omega(p00, p10, p11).sum() + omega(p00, p11, p01).sum()) / (4 * np.pi))


LATTICE_KINDS = ("elastic", "spin", "skyrmion")
_DEFAULTS: dict[str, dict[str, Any]] = {
    "elastic": dict(stiffness=1.0, mass=0.1, temperature=1.0, deformation_scale=0.1),
    "spin": dict(correlation_length=3.0),
    "skyrmion": dict(max_skyrmions=3, radius=(0.08, 0.16), wall_width=1.5, noise=0.1,
                     correlation_length=3.0),
}


class LatticeDataset:
    """``n_samples`` fields of one kind on one grid; ``dataset[i]`` is an ``(N, 3)``
    float32 tensor, a deterministic function of ``(seed, i)``. ``system`` holds the grid
    (positions, Laplacian, edges); ``params`` the physical parameters in use (see the
    module docstring). For "elastic" the field is the displacement (add
    ``system.positions`` for deformed site positions)."""

    def __init__(self, kind: str, shape, n_samples: int, seed: int = 0, **params):
        if kind not in LATTICE_KINDS:
            raise InputError(f"unknown lattice kind {kind!r}; choose one of "
                             f"{', '.join(LATTICE_KINDS)}")
        unknown = sorted(set(params) - set(_DEFAULTS[kind]))
        if unknown:
            raise InputError(f"unknown parameter(s) {', '.join(unknown)} for kind {kind!r}; "
                             f"known: {', '.join(_DEFAULTS[kind])}")
        if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise InputError(f"n_samples must be a positive integer, got {n_samples!r}")
        try:
            self.system = lattice_system(shape)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        if kind == "skyrmion" and len(self.system.shape) != 2:
            raise InputError(f"skyrmion fields need a 2D grid, got shape {self.system.shape}")
        self.params = {**_DEFAULTS[kind], **params}
        for name in ("stiffness", "mass", "temperature", "correlation_length", "wall_width"):
            if name in self.params and not self.params[name] > 0:
                raise InputError(f"{name} must be > 0, got {self.params[name]!r}")
        for name in ("deformation_scale", "noise"):
            if name in self.params and not self.params[name] >= 0:
                raise InputError(f"{name} must be >= 0, got {self.params[name]!r}")
        self.kind, self.shape, self.n_samples, self.seed = kind, self.system.shape, \
            int(n_samples), int(seed)

    def __len__(self) -> int:
        return self.n_samples

    def sample(self, i: int) -> np.ndarray:
        """Field ``i`` as ``(N, 3)`` float64."""
        if not 0 <= i < self.n_samples:
            raise IndexError(f"index {i} out of range for {self.n_samples} samples")
        rng = np.random.default_rng([self.seed, i])
        p = self.params
        if self.kind == "elastic":
            u = elastic_thermal(self.shape, 1, rng, stiffness=p["stiffness"], mass=p["mass"],
                                temperature=p["temperature"])[0]
            if p["deformation_scale"] > 0:
                u = u + deformation_modes(self.system, rng, p["deformation_scale"])
            return u
        if self.kind == "spin":
            return smooth_spin_field(self.shape, rng,
                                     correlation_length=p["correlation_length"])
        field, _ = skyrmion_field(self.shape, rng, **p)
        return field

    def __getitem__(self, i: int):
        import torch

        return torch.from_numpy(self.sample(int(i)).astype(np.float32))
