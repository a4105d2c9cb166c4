"""Lattice systems the app builds: the catalogue (:func:`lattice_systems`) and
:func:`build_lattice`, whose fields are drawn as the training data of
``engine.data.lattice.LatticeDataset``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.errors import EngineError, InputError
from engine.structures import Structure


@dataclass(frozen=True)
class LatticeSystemInfo:
    """A lattice system the builder offers. ``field``: what the vector per site means
    ("displacement", "spin" = unit vector, "vector"); ``dims``: grid dimensionalities."""

    name: str
    title: str
    description: str
    field: str
    dims: tuple = (1, 2, 3)
    min_side: int = 1


LATTICE_SYSTEMS = {
    "spin": LatticeSystemInfo(
        "spin", "smooth spin texture",
        "unit vectors: a Gaussian random field low-pass filtered by the grid heat kernel "
        "(correlation length 3 sites), normalised per site (engine.data.lattice."
        "smooth_spin_field)", "spin"),
    "skyrmion": LatticeSystemInfo(
        "skyrmion", "magnetic skyrmions",
        "1-3 skyrmions (360° domain walls, random centre, radius and helicity) in a +z "
        "ferromagnet, topological charge -1 each (engine.data.lattice.skyrmion_field); "
        "2D grids of at least 20 x 20 sites", "spin", (2,), 20),
    "elastic": LatticeSystemInfo(
        "elastic", "elastic lattice, thermal + deformation",
        "displacements of a harmonic lattice in thermal equilibrium, sampled exactly "
        "(k=1, m=0.1, T=1; engine.data.lattice.elastic_thermal) plus random bending, twist "
        "and shear (deformation_modes, scale 0.1)", "displacement"),
    "deformation": LatticeSystemInfo(
        "deformation", "bending, twist and shear",
        "smooth displacement field only: bending, twist about x and shear with random "
        "amplitudes (engine.data.lattice.deformation_modes, scale 0.3), no thermal noise",
        "displacement"),
    "random": LatticeSystemInfo(
        "random", "smooth random vectors",
        "Gaussian-filtered white noise (width n/6 sites), largest vector of length 1; "
        "no physics, a test pattern", "vector"),
}


LATTICE_MAX_SITES = 200_000


def lattice_systems() -> list[str]:
    """Names of the lattice systems :func:`build_lattice` can make
    (``spin``, ``skyrmion``, ``elastic``, ``deformation``, ``random``)."""
    return list(LATTICE_SYSTEMS)


def lattice_system_info(name: str) -> LatticeSystemInfo:
    """Description of one system of :func:`lattice_systems`."""
    try:
        return LATTICE_SYSTEMS[name]
    except KeyError:
        raise InputError(f"unknown lattice system {name!r}; choose one of "
                         f"{', '.join(LATTICE_SYSTEMS)}") from None


def _lattice_shape(shape) -> tuple:
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise InputError(f"lattice shape must be 1-3 positive integers, got {shape!r}") from None
    if not 1 <= len(shape) <= 3 or any(s < 1 for s in shape):
        raise InputError(f"lattice shape must be 1-3 positive integers, got {shape!r}")
    return shape


def build_lattice(shape: Sequence[int], system: str = "spin", seed: int = 0) -> Structure:
    """A lattice structure: sites on a regular grid with a vector per site.

    ``shape`` is ``(n,)``, ``(nx, ny)`` or ``(nx, ny, nz)`` (C order, as
    ``engine.graphs.grid_laplacian``). ``sites`` ``(N, 3)`` are the grid points, spacing 1,
    centred on the origin (``engine.data.lattice.lattice_system``); ``positions`` ``(N, 3)``
    is the field of ``system`` (:func:`lattice_systems`), a deterministic function of
    ``(shape, system, seed)``. "spin", "skyrmion" and "elastic" fields are drawn exactly
    as the training data of ``engine.data.lattice.LatticeDataset`` (default parameters).
    """
    from engine.data import lattice as lat

    shape = _lattice_shape(shape)
    info = lattice_system_info(system)
    if len(shape) not in info.dims:
        raise InputError(f"the {system} system needs a "
                         f"{' or '.join(f'{d}D' for d in info.dims)} grid, got shape {shape}")
    if min(shape) < info.min_side:
        # engine.data.lattice.skyrmion_field cannot place a skyrmion (and may fail) on
        # smaller grids: its edge margin is R + 4 wall widths
        raise InputError(f"the {system} system needs at least {info.min_side} sites along "
                         f"every axis, got shape {shape}")
    n = int(np.prod(shape))
    if n > LATTICE_MAX_SITES:
        raise InputError(f"lattice of {n} sites is too large for the viewer "
                         f"(max {LATTICE_MAX_SITES})")
    grid = lat.lattice_system(shape)
    field = _lattice_field(grid, system, int(seed))
    if field.shape != (n, 3) or not np.all(np.isfinite(field)):
        raise EngineError(f"lattice system {system!r} produced an invalid field {field.shape}")
    return Structure(name=f"{system} lattice {'x'.join(map(str, shape))}", kind="lattice",
                     positions=field, edges=np.asarray(grid.edges, dtype=np.int64),
                     laplacian=grid.laplacian.tocsr(), sites=grid.positions.copy(),
                     grid_shape=shape, system=system)


def _lattice_field(grid, system: str, seed: int) -> np.ndarray:
    """``(N, 3)`` float64 field of ``system`` on ``grid`` (an ``engine.data.lattice.LatticeSystem``)."""
    from engine.data import lattice as lat

    if system in lat.LATTICE_KINDS:       # spin, skyrmion, elastic: the training-data draw
        return np.asarray(lat.LatticeDataset(system, grid.shape, 1, seed=seed).sample(0),
                          dtype=np.float64)
    rng = np.random.default_rng(seed)
    if system == "deformation":
        return np.asarray(lat.deformation_modes(grid, rng, 0.3), dtype=np.float64)
    # "random": a smooth random field, low-pass filtered white noise, largest vector 1
    from scipy.ndimage import gaussian_filter

    shape = grid.shape
    white = rng.standard_normal(tuple(shape) + (3,))
    sigma = [max(1.0, s / 6) for s in shape] + [0]
    smooth = gaussian_filter(white, sigma=sigma, mode="nearest")
    smooth /= max(1e-12, np.sqrt((smooth ** 2).sum(-1)).max())
    return smooth.reshape(-1, 3)
