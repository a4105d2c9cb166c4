"""The small facade the desktop app (and scripts) call: load, process, trajectories, jobs.

Everything here returns plain numpy arrays and dataclasses so that a caller never needs
to know which engine module did the work. Long calls take ``callback`` (streamed
per-step results) and ``should_stop`` (a no-argument predicate polled between steps;
when it returns True the call raises :class:`Cancelled`).

Shapes: ``N`` nodes (atoms or lattice sites), ``K`` frames, ``(N, 3)`` per structure.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from engine.defaults import DEFAULT_ENERGY_GUIDANCE, DEFAULT_SAMPLER, DEFAULT_STEPS
from engine.errors import EngineError, GraphError, InputError
from engine.resources import resource_path

__all__ = [
    "Cancelled", "Structure", "ProcessParams", "Guidance", "Trajectory", "ModelHandle",
    "DEMO_MOLECULE", "demo_molecule_path", "readable_suffixes", "device_info",
    "load_structures", "structure_from_mol", "structure_from_smiles", "lattice_systems",
    "LatticeSystemInfo", "lattice_system_info", "build_lattice", "make_process",
    "forward_trajectory", "reverse_trajectory", "default_guidance", "DEFAULT_ENERGY_GUIDANCE", "sampler_names",
    "load_model", "default_model", "harmonic_prior_model",
    "etkdg_conformer", "heavy_atom_rmsd", "quality_report", "select_smarts",
    "export_structures", "export_trajectory", "dynamic_bonds", "resource_path",
    "EngineError", "InputError", "GraphError",
]

DEMO_MOLECULE = "celecoxib.sdf"

StepCallback = Callable[[int, float, np.ndarray, np.ndarray | None], None]


class Cancelled(EngineError):
    """Raised inside a long call when its ``should_stop`` predicate returned True."""


def _check_stop(should_stop):
    if should_stop is not None and should_stop():
        raise Cancelled("cancelled")


# --------------------------------------------------------------------------- structures
@dataclass
class Structure:
    """One system to diffuse: a molecule (atoms, bonds) or a lattice (sites, vector field).

    ``positions`` ``(N, 3)`` is the vector per node the process acts on: atom coordinates
    (Å) for molecules, the vector field for lattices. ``sites`` ``(N, 3)`` are the fixed
    grid coordinates of a lattice (``None`` for molecules). ``edges`` ``(E, 2)`` are the
    bonds or lattice edges, each once.
    """

    name: str
    kind: str                          # "molecule" | "lattice"
    positions: np.ndarray              # (N, 3) float64
    edges: np.ndarray                  # (E, 2) int64
    laplacian: sp.csr_matrix           # (N, N)
    atomic_numbers: np.ndarray | None = None   # (N,) int64, molecules
    mol: Any = None                 # rdkit.Chem.Mol with one conformer, molecules
    sites: np.ndarray | None = None # (N, 3) lattice grid coordinates
    grid_shape: tuple | None = None
    system: str | None = None       # lattice system name
    source: str | None = None       # file it came from
    note: str = ""                     # what loading changed (salt/solvent fragments removed)

    @property
    def n(self) -> int:
        return int(self.positions.shape[0])

    @property
    def is_molecule(self) -> bool:
        return self.kind == "molecule"

    def mol_with_coords(self, coords: np.ndarray):
        """A copy of ``mol`` whose single conformer holds ``coords`` ``(N, 3)``."""
        from rdkit import Chem
        from rdkit.Geometry import Point3D

        if self.mol is None:
            raise InputError(f"{self.name} is a lattice, not a molecule")
        coords = _as_coords(coords, self.n, "coordinates")
        mol = Chem.Mol(self.mol)
        mol.RemoveAllConformers()
        conf = Chem.Conformer(self.n)
        for i, (x, y, z) in enumerate(coords):
            conf.SetAtomPosition(i, Point3D(float(x), float(y), float(z)))
        conf.Set3D(True)
        mol.AddConformer(conf, assignId=True)
        return mol


def _as_coords(coords, n: int, what: str) -> np.ndarray:
    arr = np.asarray(coords, dtype=np.float64)
    if arr.shape != (n, 3):
        raise InputError(f"{what} must have shape ({n}, 3), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{what} contain NaN or infinite values")
    return arr


def demo_molecule_path() -> Path:
    return resource_path("molecules", DEMO_MOLECULE)


def readable_suffixes() -> list[str]:
    """File suffixes :func:`load_structures` reads (same as ``engine.io.read_molecules``)."""
    return [".sdf", ".mol", ".mol2", ".pdb", ".xyz", ".smi"]


def device_info() -> str:
    """``"cuda:0 (NVIDIA H200)"`` when a GPU is usable, else ``"cpu"``."""
    import torch

    if torch.cuda.is_available():
        return f"cuda:0 ({torch.cuda.get_device_name(0)})"
    return "cpu"


def _device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _read_mols(path: Path) -> list:
    from engine.io import read_molecules

    return read_molecules(path)


def load_structures(path) -> list[Structure]:
    """Read every molecule in ``path`` (any format ``engine.io`` reads) as structures.

    Molecules without 3D coordinates (SMILES) get hydrogens and an ETKDGv3 conformer.
    Raises :class:`InputError` naming the file (and record) when nothing usable is found.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file does not exist", path=path)
    if path.suffix.lower() not in readable_suffixes():
        raise InputError(f"unsupported file type {path.suffix!r}; readable: "
                         f"{', '.join(readable_suffixes())}", path=path)
    mols = _read_mols(path)
    if not mols:
        raise InputError("no molecules found", path=path)
    out = []
    for i, mol in enumerate(mols):
        try:
            s = structure_from_mol(mol, name=None)
        except InputError as err:
            raise InputError(err.reason, path=path, record=i) from err
        s.source = str(path)
        if not mol.HasProp("_Name") or not mol.GetProp("_Name").strip():
            s.name = path.stem if len(mols) == 1 else f"{path.stem}[{i}]"
        out.append(s)
    return out


def structure_from_mol(mol, name: str | None = None, seed: int = 0) -> Structure:
    """A molecule structure from an RDKit molecule (embedded with ETKDGv3 if it has no 3D conformer)."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    if mol is None or mol.GetNumAtoms() == 0:
        raise InputError("empty molecule")
    mol = Chem.Mol(mol)
    from engine.fragments import fragment_count, largest_fragment

    note = ""
    if fragment_count(mol) > 1:     # a salt or solvate: the largest organic fragment, as `sample` does
        mol, removed = largest_fragment(mol)
        note = f"kept the largest fragment, removed {'.'.join(removed)}"
    has_3d = mol.GetNumConformers() > 0 and mol.GetConformer().Is3D()
    if not has_3d:
        mol = Chem.AddHs(mol)
        params = AllChem.ETKDGv3()
        params.randomSeed = int(seed)
        if AllChem.EmbedMolecule(mol, params) != 0:
            raise InputError("RDKit could not embed a 3D conformer for this molecule")
    if mol.GetNumConformers() > 1:
        keep = Chem.Conformer(mol.GetConformer(mol.GetConformers()[0].GetId()))
        mol.RemoveAllConformers()
        mol.AddConformer(keep, assignId=True)
    pos = np.asarray(mol.GetConformer().GetPositions(), dtype=np.float64)
    if not np.all(np.isfinite(pos)):
        raise InputError("molecule has NaN or infinite coordinates")
    n = mol.GetNumAtoms()
    edges = np.zeros((mol.GetNumBonds(), 2), dtype=np.int64)
    for atom in mol.GetAtoms():     # not mol.GetBonds(): superlinear in RDKit (5 s at 20,000 atoms)
        for b in atom.GetBonds():
            if b.GetBeginAtomIdx() == atom.GetIdx():
                edges[b.GetIdx()] = (b.GetBeginAtomIdx(), b.GetEndAtomIdx())
    laplacian = _molecule_laplacian(mol, n, edges)
    from engine.graphs import connected_components

    count, _ = connected_components(laplacian)
    if count != 1:
        raise GraphError(f"molecule graph has {count} disconnected fragments; "
                         "keep one fragment (e.g. strip salts)")
    if name is None:
        name = mol.GetProp("_Name") if mol.HasProp("_Name") and mol.GetProp("_Name").strip() \
            else Chem.MolToSmiles(Chem.RemoveHs(mol))
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    return Structure(name=name, kind="molecule", positions=pos, edges=edges,
                     laplacian=laplacian, atomic_numbers=z, mol=mol, note=note)


def _molecule_laplacian(mol, n: int, edges: np.ndarray) -> sp.csr_matrix:
    try:
        from engine.chem.graph import molecule_graph
    except ImportError:
        from engine.graphs import laplacian_from_edges

        return laplacian_from_edges(n, edges)
    return molecule_graph(mol).laplacian


def structure_from_smiles(smiles: str, seed: int = 0) -> Structure:
    """A molecule from SMILES: hydrogens added, one ETKDGv3 conformer (``seed``)."""
    from rdkit import Chem

    smiles = (smiles or "").strip()
    if not smiles:
        raise InputError("empty SMILES")
    from engine.io_readers import smiles_size_error

    too_big = smiles_size_error(smiles.split(None, 1)[0])   # not a name after the SMILES
    if too_big:
        raise InputError(too_big)
    from rdkit import rdBase

    from engine.io_rdlog import capture_rdkit_log, rdkit_log_states

    with capture_rdkit_log() as log:
        # the reason is in RDKit's error log, which other code may have switched off
        was_on = rdkit_log_states().get("rdApp.error", True)
        if not was_on:
            rdBase.EnableLog("rdApp.error")
        try:
            mol = Chem.MolFromSmiles(smiles)
        finally:
            if not was_on:
                rdBase.DisableLog("rdApp.error")
    if mol is None:
        why = log.text()
        raise InputError(f"RDKit cannot parse SMILES {smiles!r}" + (f": {why}" if why else ""))
    return structure_from_mol(mol, name=smiles, seed=seed)


# ----------------------------------------------------------------------------- lattices
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


_LATTICE_SYSTEMS = {
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
    return list(_LATTICE_SYSTEMS)


def lattice_system_info(name: str) -> LatticeSystemInfo:
    """Description of one system of :func:`lattice_systems`."""
    try:
        return _LATTICE_SYSTEMS[name]
    except KeyError:
        raise InputError(f"unknown lattice system {name!r}; choose one of "
                         f"{', '.join(_LATTICE_SYSTEMS)}") from None


def lattice_frame_quality(structure: Structure, frames, times=None) -> list[dict]:
    """Per-frame lattice metrics against the input field (``engine.metrics.lattice``):
    ``frame``, ``t``, ``mse``, ``smoothness`` ‖LS‖², ``energy``, ``alignment`` and, for
    spin systems, ``norm_error`` (mean |‖v‖ − 1|)."""
    from engine.metrics.lattice import lattice_frame_metrics

    if structure.is_molecule:
        raise InputError("lattice metrics need a lattice structure")
    info = _LATTICE_SYSTEMS.get(structure.system or "")
    spin = info is not None and info.field == "spin"
    return lattice_frame_metrics(frames, structure.positions, structure.laplacian, structure.edges,
                                 spin=spin, times=times)


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


# ------------------------------------------------------------------------------ process
@dataclass(frozen=True)
class ProcessParams:
    """Parameters of the forward process (SPEC §1). ``lam=None``: 0 for molecules
    (centre of mass removed), 0.1 for lattices."""

    gamma: float = 1.0
    lam: float | None = None
    schedule: str = "linear"
    beta_min: float = 0.1
    beta_max: float = 20.0
    cosine_s: float = 0.008
    cosine_end: float = 10.0


SAMPLING_PHI_FLOOR = 0.05


def make_process(structure: Structure, params: ProcessParams | None = None, device=None,
                 phi_floor: float | None = None):
    """``engine.process.GraphDiffusion`` for the structure (float64, centred for molecules).

    ``phi_floor`` guards ``Φ^{-1}`` in ``s0_from_eps``; reverse sampling uses
    ``SAMPLING_PHI_FLOOR`` so that an imperfect ε̂ is amplified at most ``1/(2 floor)``
    times in modes whose signal has decayed (their ``S_0`` part is unknowable anyway).
    """
    import torch

    params = params or ProcessParams()
    from engine.process import GraphDiffusion
    from engine.process.schedules import schedule_from_config

    schedule = schedule_from_config(params)
    molecule = structure.is_molecule
    lam = params.lam if params.lam is not None else (0.0 if molecule else 0.1)
    return GraphDiffusion(structure.laplacian, gamma=params.gamma, lam=lam, schedule=schedule,
                          dtype=torch.float64, device=device, center=molecule,
                          phi_floor=phi_floor)


def _centroid(structure: Structure) -> np.ndarray:
    return structure.positions.mean(0) if structure.is_molecule else np.zeros(3)


# ------------------------------------------------------------------------- trajectories
@dataclass
class Trajectory:
    """Frames of a forward (noising) or reverse (denoising) run.

    ``frames`` ``(K, N, 3)``, ``times`` ``(K,)``, ``s0_hat`` ``(K, N, 3)`` or None,
    ``mode_energies`` ``(K, N)`` energy per Laplacian eigenmode (ascending eigenvalue),
    ``eigenvalues`` ``(N,)`` of ``A``. Forward frames run t = 0 → 1, reverse ones t = 1 → 0.
    """

    kind: str
    frames: np.ndarray
    times: np.ndarray
    mode_energies: np.ndarray
    eigenvalues: np.ndarray
    s0_hat: np.ndarray | None = None
    model_name: str = ""
    seed: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def final(self) -> np.ndarray:
        return self.frames[-1]


def _mode_order(process, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(eigenvalues ascending ``(N,)``, permutation from the process's mode order)."""
    try:
        ev = process.eigenvalues
    except (AttributeError, NotImplementedError):
        return np.arange(n, dtype=np.float64), np.arange(n)
    ev = np.asarray(ev.detach().cpu().numpy() if hasattr(ev, "detach") else ev, dtype=np.float64)
    order = np.argsort(ev, kind="stable")
    return ev[order], order


def _mode_energies(process, S) -> np.ndarray:
    """Energy per mode ``(N,)``, ordered by ascending eigenvalue (zeros if unavailable)."""
    try:
        E = process.mode_energies(S).detach().cpu().numpy()
    except NotImplementedError:
        return np.zeros(S.shape[-2])
    order = getattr(process, "_api_order", None)
    if order is None:
        order = _mode_order(process, E.shape[-1])[1]
        process._api_order = order
    return E[..., order]


def _eigenvalues(process, n: int) -> np.ndarray:
    return _mode_order(process, n)[0]


def forward_trajectory(structure: Structure, *, num_frames: int = 60, seed: int = 0,
                       params: ProcessParams | None = None,
                       callback: StepCallback | None = None,
                       should_stop: Callable[[], bool] | None = None) -> Trajectory:
    """An exact sample path of the forward SDE at ``num_frames`` times in ``[0, 1]``.

    ``S_{t_k} = Φ(t_k|t_{k-1}) S_{t_{k-1}} + Σ(t_k|t_{k-1})^{1/2} ε_k`` (exact transitions,
    SPEC §1). Molecules are noised around their centroid and shown around it.
    ``callback(k, t_k, S_k (N,3), None)`` is called for every frame.
    """
    import torch

    if num_frames < 2:
        raise InputError(f"num_frames must be >= 2, got {num_frames}")
    process = make_process(structure, params)
    gen = torch.Generator().manual_seed(int(seed))
    center = _centroid(structure)
    S = torch.as_tensor(structure.positions - center, dtype=torch.float64)
    if structure.is_molecule:
        S = S - S.mean(0, keepdim=True)
    times = np.linspace(0.0, 1.0, num_frames)
    frames, energies = [], []
    for k, t in enumerate(times):
        _check_stop(should_stop)
        if k > 0:
            eps = torch.randn(S.shape, generator=gen, dtype=torch.float64)
            if structure.is_molecule:
                eps = eps - eps.mean(0, keepdim=True)
            S = process.apply_phi(S, float(t), s=float(times[k - 1])) + \
                process.apply_sigma_sqrt(eps, float(t), s=float(times[k - 1]))
        frame = S.cpu().numpy() + center
        frames.append(frame)
        energies.append(_mode_energies(process, S))
        if callback is not None:
            callback(k, float(t), frame, None)
    return Trajectory(kind="forward", frames=np.stack(frames), times=times,
                      mode_energies=np.stack(energies),
                      eigenvalues=_eigenvalues(process, structure.n), seed=int(seed))


# --------------------------------------------------------------------------------- models
@dataclass
class ModelHandle:
    """An ε-predictor the samplers can call: ``eps_fn(structure, process, S_t (N,3) tensor, t) -> ε̂``.

    ``kinds``: structure kinds it serves. ``lattice``: for lattice networks, what they were
    trained on (``{"system": "spin", "shape": (16, 16)}``); such a model serves lattices
    of that system and dimensionality, any size (:meth:`unsuitable`): the network is
    local (graph convolution + 2-hop attention) and sees grid coordinates scaled to
    [0, 1]; resources/models/lattice_spin.md gives its sample statistics on 12x12 to 32x32.
    """

    name: str
    eps_fn: Callable
    path: str | None = None
    kinds: tuple = ("molecule", "lattice")
    params: ProcessParams | None = None   # the process the model was trained with
    coord_scale: float = 1.0                   # Å (molecules) or field units per model unit
    lattice: dict | None = None
    generation: Any = None                  # engine.sampling.generate.GenerationModel (molecules)

    @property
    def is_network(self) -> bool:
        return self.path is not None

    def unsuitable(self, structure: Structure) -> str | None:
        """``None`` when the model can sample ``structure``, else the reason why not."""
        if structure.kind not in self.kinds:
            return f"{self.name} is a {'/'.join(self.kinds)} model, not for a {structure.kind}"
        if structure.kind == "lattice" and self.lattice is not None:
            want_sys, want_shape = self.lattice["system"], tuple(self.lattice["shape"])
            if structure.system != want_sys or len(structure.grid_shape or ()) != len(want_shape):
                return (f"{self.name} is trained on {len(want_shape)}D {want_sys} lattices "
                        f"({'x'.join(map(str, want_shape))})")
        return None


def harmonic_prior_model(note: str = "") -> ModelHandle:
    """The exact ε-predictor when the data *are* harmonic-prior samples (no network).

    For a mode with eigenvalue ``a``, data variance ``1/a`` makes ``S_t`` stationary with
    variance ``1/a``, so ``E[ε | S_t] = σ(t) A S_t`` per mode, i.e.
    ``ε̂ = Σ(t)^{1/2} A S_t``. Sampling with it draws from the harmonic prior: shapes with
    the structure's connectivity but no chemistry (or physics). ``note`` is appended to
    the name (why no network is used).
    """

    def eps_fn(structure, process, S_t, t):
        AS = _apply_A(process, structure, S_t)
        return process.apply_sigma_sqrt(AS, t)

    name = "harmonic prior (no network)" if not note else f"harmonic prior (no network; {note})"
    return ModelHandle(name=name, eps_fn=eps_fn)


def _apply_A(process, structure: Structure, S):
    import torch

    L = getattr(process, "_api_L", None)
    if L is None:
        coo = structure.laplacian.tocoo()
        L = torch.sparse_coo_tensor(torch.as_tensor(np.vstack([coo.row, coo.col])), coo.data,
                                    size=coo.shape, dtype=torch.float64,
                                    check_invariants=False).coalesce()
        process._api_L = L
    gamma = float(getattr(process, "gamma", 1.0))
    lam = float(getattr(process, "lam", 0.0))
    flat = S.reshape(-1, structure.n, 3) if S.dim() == 3 else S.unsqueeze(0)
    out = torch.stack([gamma * torch.sparse.mm(L.to(S.dtype), f) + lam * f for f in flat])
    return out.reshape(S.shape)


def bundled_model_paths() -> list[Path]:
    """The pretrained checkpoints that ship in ``resources/models`` (``*.pt``)."""
    folder = resource_path("models")
    return sorted(folder.glob("*.pt")) if folder.exists() else []


_BUNDLED: dict = {}


def default_models() -> dict[str, ModelHandle]:
    """The bundled pretrained model of each kind: ``{"molecule": ..., "lattice": ...}``
    (a kind without a usable checkpoint is missing from the dict). Loaded once per file
    version (path, size, mtime) and shared."""
    out: dict[str, ModelHandle] = {}
    for candidate in bundled_model_paths():
        st = candidate.stat()
        key = (str(candidate), st.st_size, st.st_mtime_ns)
        if key not in _BUNDLED:
            try:
                _BUNDLED[key] = load_model(candidate)
            except EngineError:
                _BUNDLED[key] = None
        handle = _BUNDLED[key]
        if handle is None:
            continue
        for kind in handle.kinds:
            out.setdefault(kind, handle)
    return out


def default_model(kind: str = "molecule") -> ModelHandle:
    """The bundled pretrained model for ``kind`` if one ships, else the harmonic prior."""
    return default_models().get(kind) or harmonic_prior_model()


def model_for(structure: Structure, models=None) -> ModelHandle:
    """The model to sample ``structure`` with: the first of ``models`` (one handle, a
    sequence, or a ``{kind: handle}`` dict) that suits it (:meth:`ModelHandle.unsuitable`),
    else the harmonic prior, named with the reason when a network of the structure's kind
    was passed but does not fit (e.g. "harmonic prior (no network; lattice
    (lattice_spin.pt) is trained on spin 16x16 lattices)")."""
    if models is None:
        candidates = []
    elif isinstance(models, ModelHandle):
        candidates = [models]
    elif isinstance(models, dict):
        candidates = [m for m in models.values() if m is not None]
    else:
        candidates = [m for m in models if m is not None]
    reasons = []
    for m in candidates:
        why = m.unsuitable(structure)
        if why is None:
            return m
        if m.is_network and structure.kind in m.kinds:
            reasons.append(why)
    return harmonic_prior_model(reasons[0] if reasons else "")


def load_model(path, device=None) -> ModelHandle:
    """Load a checkpoint written by ``engine.training`` (molecule or lattice network) as
    an ε-predictor.

    The handle carries the process parameters and coordinate scale the network was
    trained with; a lattice handle also the system and grid shape of its training data
    (``handle.lattice``). Raises ``CheckpointError`` for a missing, corrupt or foreign file.
    """
    import torch

    from engine.errors import CheckpointError
    from engine.training.checkpoint import load_model as load_checkpoint_model

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint does not exist")
    device = torch.device(device) if device is not None else _device()
    net, config = load_checkpoint_model(path, device=device)
    kind = getattr(net, "kind", "molecule")
    proc = dict(config.get("process") or {})
    default_lam = 0.1 if kind == "lattice" else 0.0
    params = ProcessParams(gamma=float(proc.get("gamma", 1.0)),
                           lam=float(proc.get("lam", default_lam)),
                           schedule=str(proc.get("schedule", "linear")),
                           beta_min=float(proc.get("beta_min", 0.1)),
                           beta_max=float(proc.get("beta_max", 20.0)),
                           cosine_s=float(proc.get("cosine_s", 0.008)),
                           cosine_end=float(proc.get("cosine_end", 10.0)))
    model_cfg = config.get("model") or {}
    name = f"{model_cfg.get('name', 'model')} ({path.name})"
    scale = float(proc.get("coord_scale", 1.0))
    if kind == "lattice":
        return _lattice_handle(path, net, config, params, name, scale, device)
    if kind != "molecule":
        raise CheckpointError(f"{path}: a {kind} model; the app samples molecules and "
                              f"lattices only")
    from engine.sampling.generate import GenerationModel

    generation = GenerationModel(net, config, device, name=path.name)
    graphs: dict = {}

    def eps_fn(structure, process, S_t, t):
        key = id(structure)
        if key not in graphs:
            graphs.clear()
            graphs[key] = _graph_batch(structure).to(device)
        x = S_t.to(device=device, dtype=torch.float32)
        tt = torch.full((1,), float(t), dtype=torch.float32, device=device)
        with torch.no_grad():
            eps = net(x, tt, graphs[key]).to(dtype=S_t.dtype, device=S_t.device)
        return eps - eps.mean(0, keepdim=True)

    return ModelHandle(name=name, eps_fn=eps_fn, path=str(path), kinds=("molecule",),
                       params=params, coord_scale=scale, generation=generation)


def _lattice_handle(path, net, config, params, name, scale, device) -> ModelHandle:
    """A handle for an ``engine.models.lattice_net.LatticeEpsNet`` checkpoint: the network
    sees the grid as ``LatticeGraph.from_shape(structure.grid_shape)``, as in training."""
    import torch

    from engine.errors import CheckpointError
    from engine.models.lattice_net import LatticeGraph

    data = dict((config.get("data") or {}).get("lattice") or {})
    if "kind" not in data or "shape" not in data:
        raise CheckpointError(f"{path}: lattice checkpoint without data.lattice kind/shape")
    trained = {"system": str(data["kind"]), "shape": tuple(int(s) for s in data["shape"])}
    graphs: dict = {}

    def eps_fn(structure, process, S_t, t):
        key = tuple(structure.grid_shape)
        if key not in graphs:
            graphs.clear()
            g = LatticeGraph.from_shape(key)
            graphs[key] = LatticeGraph(g.edge_index.to(device), g.num_nodes, g.positions.to(device))
        x = S_t.to(device=device, dtype=torch.float32)
        with torch.no_grad():
            eps = net(x, float(t), graphs[key])
        return eps.to(dtype=S_t.dtype, device=S_t.device)

    return ModelHandle(name=name, eps_fn=eps_fn, path=str(path), kinds=("lattice",),
                       params=params, coord_scale=scale, lattice=trained)


def _graph_batch(structure: Structure):
    """The network's graph argument for one molecule (a ``GraphBatch`` of one)."""
    import torch

    from engine.chem.features import atom_features
    from engine.data.batching import GraphSample, collate
    from engine.data.dataset import atomic_masses

    bonds = structure.edges
    both = np.concatenate([bonds, bonds[:, ::-1]]).T if len(bonds) else np.zeros((2, 0), np.int64)
    z = structure.atomic_numbers
    sample = GraphSample(
        pos=torch.zeros((structure.n, 3), dtype=torch.float32),
        features=torch.from_numpy(np.asarray(atom_features(structure.mol), dtype=np.float32)),
        bond_index=torch.from_numpy(np.ascontiguousarray(both)).long(),
        laplacian=structure.laplacian,
        masses=torch.from_numpy(atomic_masses()[z].astype(np.float32)),
        atomic_numbers=torch.from_numpy(z), index=0)
    return collate([sample])


# ------------------------------------------------------------------------------ sampling
@dataclass(frozen=True)
class Guidance:
    """Sampling-time regulariser weights (SPEC §1) and their overall scale."""

    lambda_E: float = 0.0
    lambda_G: float = 0.0
    lambda_A: float = 0.0
    scale: float = 1.0

    @property
    def active(self) -> bool:
        return bool(self.scale != 0 and (self.lambda_E or self.lambda_G or self.lambda_A))


def default_guidance(kind: str = "molecule") -> Guidance:
    """The guidance a structure kind gets by default: for molecules ``lambda_E`` is the
    chemical energy's weight (``engine.chem.energy``; the default of ``sample`` as well),
    for lattices every weight is 0 (``lambda_E`` there pulls towards the input)."""
    return Guidance(lambda_E=DEFAULT_ENERGY_GUIDANCE if kind == "molecule" else 0.0)


def sampler_names() -> list[str]:
    """Samplers :func:`reverse_trajectory` accepts."""
    try:
        from engine.sampling import samplers

        names = getattr(samplers, "SAMPLERS", None)
        if names:
            return list(names)
    except ImportError:
        pass
    return ["ddim"]


def reverse_trajectory(structure: Structure, model: ModelHandle | None = None, *,
                       steps: int = DEFAULT_STEPS, sampler: str = DEFAULT_SAMPLER, seed: int = 0,
                       guidance: Guidance | None = None,
                       fixed: Sequence[int] | None = None,
                       params: ProcessParams | None = None,
                       callback: StepCallback | None = None,
                       should_stop: Callable[[], bool] | None = None) -> Trajectory:
    """Reverse diffusion from a prior draw at t = 1 down to t = 0 in ``steps`` steps with
    an ``engine.sampling`` sampler (``sampler_names()``).

    ``guidance``: regulariser guidance on Ŝ_0 (``engine.sampling.guidance``).
    ``fixed``: node indices held at the input coordinates (their Ŝ_0 rows are replaced at
    every step, so the output holds them exactly).
    ``callback(k, t_k, S_k (N,3), Ŝ_0 (N,3))`` streams every step (frame 0 is the prior draw).
    """
    import torch

    if steps < 1 or steps > 5000:
        raise InputError(f"steps must be in [1, 5000], got {steps}")
    if sampler not in sampler_names():
        raise InputError(f"unknown sampler {sampler!r}; choose one of {sampler_names()}")
    model = model or harmonic_prior_model()
    why = model.unsuitable(structure)
    if why is not None:
        raise InputError(f"cannot sample {structure.name}: {why} (engine.api.model_for "
                         f"picks a suitable model)")
    guidance = guidance or default_guidance(structure.kind)
    if structure.is_molecule and model.generation is not None and params is None:
        return _reverse_molecule(structure, model, steps=int(steps), sampler=sampler,
                                 seed=int(seed), guidance=guidance,
                                 fixed=_fixed_indices(fixed, structure.n), callback=callback,
                                 should_stop=should_stop)
    process = make_process(structure, params or model.params, phi_floor=SAMPLING_PHI_FLOOR)
    gen = torch.Generator().manual_seed(int(seed))
    center = _centroid(structure)
    scale = float(model.coord_scale)
    ref = torch.as_tensor((structure.positions - center) / scale, dtype=torch.float64)
    fixed_idx = _fixed_indices(fixed, structure.n)
    from engine.sampling.guidance import FixedAtoms, RegularizerGuidance, compose
    from engine.sampling.samplers import SamplingCancelled, get_sampler, time_grid

    grid = time_grid(int(steps))
    eps0 = torch.randn((structure.n, 3), generator=gen, dtype=torch.float64)
    if structure.is_molecule:
        eps0 = eps0 - eps0.mean(0, keepdim=True)
    x_T = process.apply_sigma_sqrt(eps0, 1.0)
    hooks = []
    if guidance.active:
        hooks.append(_regulariser_guidance(structure, ref, guidance, RegularizerGuidance))
    if len(fixed_idx):
        hooks.append(FixedAtoms(torch.as_tensor(fixed_idx), ref[fixed_idx]))
    frames, s0_hats, energies, times = [], [], [], []

    def emit(k, t, S_t, S0):
        f = S_t.detach().cpu().numpy() * scale + center
        h = None if S0 is None else S0.detach().cpu().numpy() * scale + center
        frames.append(f)
        s0_hats.append(h if h is not None else f)
        energies.append(_mode_energies(process, S_t))
        times.append(float(t))
        if callback is not None:
            callback(k, float(t), f, h)

    def step_callback(k, t, S_t, S0):
        if should_stop is not None and should_stop():
            raise SamplingCancelled("cancelled")
        emit(k, t, S_t, S0)

    emit(0, 1.0, x_T, None)
    eps_model = lambda S_t, t: model.eps_fn(structure, process, S_t, float(t))  # noqa: E731
    try:
        final = get_sampler(sampler)(eps_model, x_T, process, grid, callback=step_callback,
                                     generator=gen, transform_s0=compose(*hooks) if hooks else None)
    except SamplingCancelled as err:
        raise Cancelled("cancelled") from err
    if len(frames) == 1 or not np.allclose(frames[-1], final.detach().cpu().numpy() * scale + center):
        emit(len(frames), 0.0, final, final)
    return Trajectory(kind="reverse", frames=np.stack(frames), times=np.asarray(times),
                      mode_energies=np.stack(energies),
                      eigenvalues=_eigenvalues(process, structure.n),
                      s0_hat=np.stack(s0_hats), model_name=model.name, seed=int(seed),
                      meta={"sampler": sampler, "steps": steps, "fixed": fixed_idx.tolist(),
                            "guidance": guidance})


def _reverse_molecule(structure: Structure, model: ModelHandle, *, steps: int, sampler: str,
                      seed: int, guidance: Guidance, fixed: np.ndarray, callback, should_stop):
    """A molecule with a trained network: the one sampling path of ``python -m engine
    sample`` (``engine.sampling.generate.generate_conformers`` with one conformer, input
    index 0, its defaults for polish and stereo), so the app, the command line and this
    API give the same coordinates for the same molecule, seed and settings. Frames are
    shifted by the input's centroid (the sample sits where the input was);
    ``frames[-1] - centroid`` is exactly what ``sample`` writes (to the SDF's 4 decimals).

    ``guidance.lambda_E`` (times ``scale``) weighs the chemical energy
    (``engine.chem.energy``); ``lambda_G``/``lambda_A`` steer Ŝ₀ as for lattices.
    """
    import torch

    from engine.sampling.generate import generate_conformers
    from engine.sampling.guidance import RegularizerGuidance
    from engine.sampling.samplers import SamplingCancelled

    process = make_process(structure, model.params)      # for the mode energies shown
    center = _centroid(structure)
    scale = float(model.coord_scale)
    transform = None
    if guidance.scale and (guidance.lambda_G or guidance.lambda_A):
        ref = torch.as_tensor((structure.positions - center) / scale, dtype=torch.float32)
        transform = _regulariser_guidance(structure, ref, replace(guidance, lambda_E=0.0),
                                          RegularizerGuidance)
    fixed_arg = (fixed, structure.positions[fixed] - center) if len(fixed) else None
    frames, s0_hats, energies, times = [], [], [], []

    def emit(k, t, f, h):
        frames.append(f)
        s0_hats.append(h if h is not None else f)
        energies.append(_mode_energies(process, torch.as_tensor((f - center) / scale)))
        times.append(float(t))
        if callback is not None:
            callback(k, float(t), f, h)

    def step_callback(k, t, S_t, S0):
        if should_stop is not None and should_stop():
            raise SamplingCancelled("cancelled")
        if k == 0:          # a new round (a stereo violation was resampled): start afresh
            frames.clear(), s0_hats.clear(), energies.clear(), times.clear()
        f = S_t.detach().cpu().numpy().astype(np.float64) + center
        h = None if S0 is None else S0.detach().cpu().numpy().astype(np.float64) + center
        emit(k, t, f, h)

    try:
        (out,) = generate_conformers([structure.mol], 1, model.generation, sampler=sampler,
                                     steps=steps, seed=seed,
                                     guidance=float(guidance.lambda_E) * float(guidance.scale),
                                     fixed=fixed_arg, transform=transform,
                                     step_callback=step_callback)
    except SamplingCancelled as err:
        raise Cancelled("cancelled") from err
    if isinstance(out, Exception):
        raise out
    final = out.GetConformer().GetPositions() + center
    taken = len(frames) - 1                 # sampler steps (frame 0 is the prior draw)
    polished = not np.allclose(frames[-1], final)
    if polished:                            # the polished (and stereo-checked) conformer
        emit(len(frames), 0.0, final, final)
    return Trajectory(kind="reverse", frames=np.stack(frames), times=np.asarray(times),
                      mode_energies=np.stack(energies),
                      eigenvalues=_eigenvalues(process, structure.n),
                      s0_hat=np.stack(s0_hats), model_name=model.name, seed=int(seed),
                      meta={"sampler": sampler, "steps": steps, "fixed": fixed.tolist(),
                            "guidance": guidance, "steps_taken": taken,
                            "polished": bool(polished)})


def _regulariser_guidance(structure, ref, g: Guidance, cls):
    """``engine.sampling.guidance.RegularizerGuidance`` for one structure (model units)."""
    import torch

    from engine.training.regularizers import RegularizerContext, reference_directions

    edges = torch.as_tensor(structure.edges, dtype=torch.long)
    ctx = RegularizerContext(S_ref=ref, masses=_masses(structure, ref), edges=edges,
                             ref_dirs=reference_directions(ref, edges) if len(edges) else None)
    return cls(ctx, lambda_E=g.lambda_E, lambda_G=g.lambda_G, lambda_A=g.lambda_A,
               scale=g.scale, laplacian=structure.laplacian)


def _fixed_indices(fixed, n: int) -> np.ndarray:
    if fixed is None:
        return np.zeros(0, dtype=np.int64)
    idx = np.unique(np.asarray(list(fixed), dtype=np.int64))
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise InputError(f"fixed atom indices must lie in [0, {n}), got {idx.tolist()}")
    if idx.size >= n:
        raise InputError("every atom is fixed: nothing left to generate")
    return idx


def _masses(structure, like):
    import torch

    if structure.is_molecule:
        from rdkit import Chem

        table = Chem.GetPeriodicTable()
        m = [table.GetAtomicWeight(int(z)) for z in structure.atomic_numbers]
        return torch.tensor(m, dtype=like.dtype) / 12.011
    return torch.ones(structure.n, dtype=like.dtype)


# ------------------------------------------------------------------------------ chemistry
def etkdg_conformer(structure: Structure, seed: int = 0, align_to=None) -> np.ndarray:
    """An RDKit ETKDGv3 + MMFF conformer ``(N, 3)`` of the molecule (the chemist's
    baseline), optionally aligned (heavy atoms) onto coordinates ``align_to`` ``(N, 3)``."""
    from rdkit.Chem import rdMolAlign

    from engine.metrics.baselines import etkdg_conformers

    if not structure.is_molecule:
        raise InputError("ETKDG conformers exist only for molecules")
    mol = etkdg_conformers(structure.mol, 1, seed=seed, num_threads=1)
    if mol.GetNumAtoms() != structure.n:
        raise InputError(f"ETKDG changed the atom count of {structure.name}")
    if align_to is not None:
        ref = structure.mol_with_coords(align_to)
        heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
        rdMolAlign.AlignMol(mol, ref, atomMap=list(zip(heavy, heavy)))
    return np.asarray(mol.GetConformer().GetPositions(), dtype=np.float64)


def heavy_atom_rmsd(structure: Structure, coords_a, coords_b) -> float:
    """Symmetry-aware heavy-atom RMSD (Å) after optimal alignment (GEOM protocol)."""
    from rdkit import Chem
    from rdkit.Chem import rdMolAlign

    a = Chem.RemoveHs(structure.mol_with_coords(coords_a))
    b = Chem.RemoveHs(structure.mol_with_coords(coords_b))
    return float(rdMolAlign.GetBestRMS(a, b, maxMatches=10000))


def select_smarts(structure: Structure, smarts: str) -> list[int]:
    """Atom indices matched by a SMARTS pattern (union of all matches)."""
    from rdkit import Chem

    if not structure.is_molecule:
        raise InputError("SMARTS selection needs a molecule")
    patt = Chem.MolFromSmarts((smarts or "").strip())
    if patt is None or not smarts.strip():
        raise InputError(f"invalid SMARTS {smarts!r}")
    hits = structure.mol.GetSubstructMatches(patt, uniquify=True, maxMatches=10000)
    return sorted({i for match in hits for i in match})


@dataclass
class QualityRow:
    name: str
    value: str
    ok: bool | None = None


def quality_report(structure: Structure, coords, reference=None,
                   posebusters: bool = True) -> list[QualityRow]:
    """Checks of one structure: RMSD to ``reference`` (default: the input), PoseBusters,
    MMFF energy, bond-length outliers and clashes. Each check that fails to run gives a
    row saying why instead of raising."""
    coords = _as_coords(coords, structure.n, "coordinates")
    rows: list[QualityRow] = []
    if not structure.is_molecule:
        rows.append(QualityRow("sites", str(structure.n)))
        rows.append(QualityRow("mean |vector|", f"{np.linalg.norm(coords, axis=1).mean():.3f}"))
        return rows
    ref = structure.positions if reference is None else reference
    try:
        rows.append(QualityRow("heavy-atom RMSD to input (Å)",
                               f"{heavy_atom_rmsd(structure, coords, ref):.3f}"))
    except Exception as err:  # noqa: BLE001 -- a report row, not a crash
        rows.append(QualityRow("heavy-atom RMSD to input (Å)", f"failed: {err}", False))
    rows.extend(_bond_rows(structure, coords))
    if posebusters:
        rows.extend(_posebusters_rows(structure, coords))
    return rows


def _bond_rows(structure, coords) -> list[QualityRow]:
    from engine.metrics.validity import quick_checks

    try:
        q = quick_checks(structure.mol_with_coords(coords))
    except Exception as err:  # noqa: BLE001
        return [QualityRow("geometry checks", f"failed: {err}", False)]
    energy = q["mmff_energy"]
    rows = [
        QualityRow("bond-length outliers (>25 %)", str(q["num_bond_outliers"]),
                   q["num_bond_outliers"] == 0),
    ]
    symbols = _symbols(structure)
    for i, j, length, expected in q["bond_outliers"][:8]:    # which bonds, by atom
        rows.append(QualityRow(f"  bad bond {symbols[i]}{i}–{symbols[j]}{j}",
                               f"{length:.2f} Å (expected ~{expected:.2f}, "
                               f"{100 * (length - expected) / expected:+.0f} %)", False))
    if q["num_bond_outliers"] > 8:
        rows.append(QualityRow(f"  … and {q['num_bond_outliers'] - 8} more", "", False))
    try:
        from engine.metrics.validity import mmff_energy

        e_input = mmff_energy(structure.mol_with_coords(structure.positions))
    except Exception:  # noqa: BLE001 -- a report row, not a crash
        e_input = None
    rows += [
        QualityRow("max bond deviation", f"{100 * q['max_bond_deviation']:.1f} %"),
        QualityRow("heavy-atom clashes", str(q["num_clashes"]), q["num_clashes"] == 0),
        QualityRow("MMFF energy (kcal/mol)",
                   "no MMFF parameters" if energy is None else f"{energy:.1f}"),
        QualityRow("MMFF energy of the input (kcal/mol)",
                   "no MMFF parameters" if e_input is None else f"{e_input:.1f}"),
    ]
    return rows


def _posebusters_rows(structure, coords) -> list[QualityRow]:
    try:
        from engine.metrics.validity import posebusters_pass

        fraction, table = posebusters_pass(structure.mol_with_coords(coords))
    except Exception as err:  # noqa: BLE001 -- a report row, not a crash
        return [QualityRow("PoseBusters", f"failed: {err}", False)]
    rows = [QualityRow("PoseBusters (all checks)", "pass" if fraction == 1.0 else "FAIL",
                       fraction == 1.0)]
    for col in table.columns:
        if col in ("mol_index", "conf_id", "pass"):
            continue
        val = table[col].iloc[0]
        if val is True or val is np.True_:
            rows.append(QualityRow(f"PB: {col}", "pass", True))
        elif val is False or val is np.False_:
            rows.append(QualityRow(f"PB: {col}", "FAIL", False))
        else:
            rows.append(QualityRow(f"PB: {col}", "not run", False))
    return rows


# -------------------------------------------------------------------------------- bonds
_COVALENT = None


def dynamic_bonds(atomic_numbers: np.ndarray, coords: np.ndarray, tolerance: float = 0.45,
                  max_bonds: int = 8) -> np.ndarray:
    """Bonds ``(E, 2)`` from distances, as Open Babel / Avogadro perceive them:
    ``0.4 Å < d_ij < r_i + r_j + tolerance`` with covalent radii ``r``."""
    from rdkit import Chem
    from scipy.spatial import cKDTree

    global _COVALENT
    if _COVALENT is None:
        table = Chem.GetPeriodicTable()
        _COVALENT = np.array([table.GetRcovalent(z) if z > 0 else 0.7 for z in range(119)])
    coords = np.asarray(coords, dtype=np.float64)
    radii = _COVALENT[np.clip(atomic_numbers, 0, 118)]
    cutoff = 2 * radii.max() + tolerance
    pairs = cKDTree(coords).query_pairs(cutoff, output_type="ndarray")
    if len(pairs) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    d = np.linalg.norm(coords[pairs[:, 0]] - coords[pairs[:, 1]], axis=1)
    keep = (d > 0.4) & (d < radii[pairs[:, 0]] + radii[pairs[:, 1]] + tolerance)
    return pairs[keep].astype(np.int64)


# ------------------------------------------------------------------------------- export
def export_structures(path, structure: Structure, coords_list: Sequence[np.ndarray],
                      names: Sequence[str] | None = None,
                      props: Sequence[dict] | None = None) -> Path:
    """Write conformers ``coords_list`` (each ``(N, 3)``) of one molecule to ``.sdf/.xyz/.pdb``.

    ``names``: one title per conformer; ``props``: one ``{name: value}`` dict per conformer,
    written as SDF properties (the XYZ and PDB writers keep only the title)."""
    path = Path(path)
    if not structure.is_molecule:
        raise InputError("only molecules can be exported as structure files", path=path)
    if not len(coords_list):
        raise InputError("nothing to export", path=path)
    mols = []
    for i, c in enumerate(coords_list):
        m = structure.mol_with_coords(c)
        m.SetProp("_Name", names[i] if names else f"{structure.name} {i}")
        for key, value in (props[i] if props else {}).items():
            m.SetProp(str(key), str(value))
        mols.append(m)
    from engine.io import write_molecules

    write_molecules(path, mols)
    return path


def export_trajectory(path, structure: Structure, frames: np.ndarray,
                      times: np.ndarray | None = None) -> Path:
    """Write a trajectory ``(K, N, 3)`` as a multi-frame ``.xyz`` or ``.pdb`` (MODEL records)."""
    path = Path(path)
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 3 or frames.shape[1:] != (structure.n, 3):
        raise InputError(f"frames must have shape (K, {structure.n}, 3), got {frames.shape}")
    suffix = path.suffix.lower()
    if suffix not in (".xyz", ".pdb"):
        raise InputError("trajectories are written as .xyz or .pdb", path=path)
    symbols = _symbols(structure)
    with open(path, "w") as fh:
        if suffix == ".xyz":
            for k, f in enumerate(frames):
                t = "" if times is None else f" t={times[k]:.4f}"
                fh.write(f"{structure.n}\n{structure.name} frame {k}{t}\n")
                for s, (x, y, z) in zip(symbols, f):
                    fh.write(f"{s:<2s} {x:14.6f} {y:14.6f} {z:14.6f}\n")
        else:
            for k, f in enumerate(frames):
                fh.write(f"MODEL     {k + 1:4d}\n")
                for i, (s, (x, y, z)) in enumerate(zip(symbols, f)):
                    name = f"{s}{i + 1}"[:4]
                    fh.write(f"HETATM{i + 1:5d} {name:<4s} UNL A   1    "
                             f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00          {s:>2s}\n")
                if structure.is_molecule:
                    for a, b in structure.edges:
                        fh.write(f"CONECT{a + 1:5d}{b + 1:5d}\n")
                fh.write("ENDMDL\n")
            fh.write("END\n")
    return path


def _symbols(structure: Structure) -> list[str]:
    if not structure.is_molecule:
        return ["X"] * structure.n
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    return [table.GetElementSymbol(int(z)) for z in np.asarray(structure.atomic_numbers)]


# ------------------------------------------------------------------------------ training
__all__ += ["training_configs", "TrainingConfigInfo", "training_config_info",
            "DEFAULT_TRAINING_CONFIG", "TrainingPlan", "training_plan", "build_training_corpus",
            "train"]

#: the config the app preselects: it trains in seconds once its small corpus (about 300
#: molecules, under a minute to build on 2 cores) is built
DEFAULT_TRAINING_CONFIG = "small_test.yaml"


def training_configs() -> list[Path]:
    """Training configs that ship in ``resources/configs`` (YAML files with a model section)."""
    folder = resource_path("configs")
    if not folder.exists():
        return []
    out = []
    for p in sorted(folder.glob("*.y*ml")):
        try:
            if "model" in p.read_text():
                out.append(p)
        except OSError:
            continue
    return out


@dataclass(frozen=True)
class TrainingConfigInfo:
    """A training config as the app lists it: ``name`` (file stem), ``path``,
    ``description`` (the first sentence of the file's leading comment), ``kind``
    (molecules | lattice), ``total_steps`` and ``corpus_config`` (the data-build YAML a
    molecule config builds its corpus from, or None)."""

    name: str
    path: Path
    description: str
    kind: str
    total_steps: int
    corpus_config: Path | None


def _config_description(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        body = line.lstrip("#").strip()
        if not body or body.split()[0] in ("python", "torchrun", "nice", "then"):
            break
        lines.append(body)
    joined = " ".join(lines)
    for k, ch in enumerate(joined):
        if ch == "." and (k + 1 == len(joined) or joined[k + 1] == " ") \
                and not joined[max(0, k - 3):k + 1].endswith(("e.g.", "i.e.")):
            joined = joined[:k + 1]
            break
    return joined.rstrip(":").strip()


def training_config_info(config) -> TrainingConfigInfo:
    """Read a training config's description and data source (``ConfigError`` when the
    file is not a valid training config)."""
    from engine.training.config import load_config, resolve_path

    path = Path(config)
    cfg = load_config(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        text = ""
    corpus = None
    if cfg.data.kind != "lattice" and not cfg.data.cache_dir and cfg.data.corpus_config:
        corpus = resolve_path(cfg, cfg.data.corpus_config)
    return TrainingConfigInfo(path.stem, path, _config_description(text), cfg.data.kind,
                              int(cfg.optim.total_steps), corpus)


@dataclass(frozen=True)
class TrainingPlan:
    """What :func:`train` will do before its first step (:func:`training_plan`).

    ``corpus_dir``: the corpus it trains on (None for lattice data); ``corpus_built``:
    complete already; otherwise Start builds it first: ``molecules`` in ``shards_total``
    shards, of which ``shards_done`` (``molecules_done`` molecules) are kept from an earlier
    build and resumed from. ``seconds_per_molecule`` was measured on this machine on a
    few molecules of the corpus (one core); ``build_seconds`` is the estimate for what is
    left with ``workers`` processes (rough: molecules differ a lot)."""

    config: TrainingConfigInfo
    corpus_config: Path | None = None
    corpus_dir: Path | None = None
    corpus_built: bool = True
    molecules: int = 0
    molecules_done: int = 0
    shards_done: int = 0
    shards_total: int = 0
    workers: int = 1
    seconds_per_molecule: float | None = None
    build_seconds: float | None = None

    @property
    def needs_build(self) -> bool:
        return self.corpus_dir is not None and not self.corpus_built


def _corpus_for(config, data):
    """``(info, corpus CorpusConfig or None, corpus_dir or None)`` of a training config."""
    from engine.data.config import load_corpus_config
    from engine.training.config import load_config, resolve_path

    info = training_config_info(config)
    if info.kind == "lattice":
        return info, None, None
    if data:
        return info, None, Path(data).resolve()
    if info.corpus_config is None:
        cfg = load_config(config)
        return info, None, resolve_path(cfg, cfg.data.cache_dir)
    return info, load_corpus_config(info.corpus_config), None


def training_plan(config, data=None, *, measure: bool = True,
                  on_progress: Callable[[dict], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> TrainingPlan:
    """What Start will do with ``config`` (and ``data``, as in :func:`train`): which corpus,
    whether it is built, and if not how many molecules it holds and about how long its
    build takes here (``measure``: time a few molecules, about a second and a half).
    Filtering the sources takes a few seconds the first time in a process
    (``on_progress`` gets phase "filter"); ``should_stop`` raises :class:`Cancelled`."""
    from engine.data.corpus import corpus_status, seconds_per_molecule, select_molecules
    from engine.errors import Interrupted

    info, corpus_cfg, corpus_dir = _corpus_for(config, data)
    if corpus_cfg is None:
        built = corpus_dir is None or (corpus_dir / "corpus.json").is_file()
        return TrainingPlan(info, corpus_dir=corpus_dir, corpus_built=built)
    try:
        st = corpus_status(corpus_cfg, on_progress=on_progress, should_stop=should_stop)
        spm = build_s = None
        if not st["built"] and measure:
            mols, _ = select_molecules(corpus_cfg)
            size = corpus_cfg.shard_size
            left = [m for k in range(st["shards_total"])
                    if not (Path(st["dir"]) / "shards" / f"shard_{k:05d}.zip").is_file()
                    for m in mols[k * size:(k + 1) * size]]
            spm = seconds_per_molecule(corpus_cfg, left, should_stop=should_stop)
            _check_stop(should_stop)
            if spm is not None:
                build_s = spm * (st["molecules"] - st["molecules_done"]) / st["workers"]
    except Interrupted as err:
        raise Cancelled(str(err)) from err
    return TrainingPlan(info, corpus_config=info.corpus_config, corpus_dir=Path(st["dir"]),
                        corpus_built=st["built"], molecules=st["molecules"],
                        molecules_done=st["molecules_done"], shards_done=st["shards_done"],
                        shards_total=st["shards_total"], workers=st["workers"],
                        seconds_per_molecule=spm, build_seconds=build_s)


def build_training_corpus(config, *, on_progress: Callable[[dict], None] | None = None,
                          should_stop: Callable[[], bool] | None = None) -> Path:
    """Build (or resume) the corpus a training config trains on, without training;
    progress and stopping as in ``engine.data.corpus.build_corpus`` (a stop raises
    :class:`Cancelled`; the shards written so far are kept). Returns its folder."""
    from engine.data.corpus import build_corpus
    from engine.errors import ConfigError, Interrupted

    info, corpus_cfg, corpus_dir = _corpus_for(config, None)
    if corpus_cfg is None:
        if corpus_dir is None:
            raise ConfigError(f"{info.path}: {info.kind} data are generated, no corpus to build")
        return corpus_dir
    try:
        return Path(build_corpus(corpus_cfg, progress=False, on_progress=on_progress,
                                 should_stop=should_stop))
    except Interrupted as err:
        raise Cancelled(str(err)) from err


def train(config, out_dir, *, data=None, resume: bool = False, overrides: dict | None = None,
          on_progress: Callable[[dict], None] | None = None,
          should_stop: Callable[[], bool] | None = None) -> dict:
    """Run (or resume) a training job with ``engine.training``; files go to ``out_dir``.

    ``data``: a built corpus folder replacing the config's data source. ``overrides``:
    ``{"section.key": value}``. ``on_progress(info)`` receives the trainer's event dicts
    (``event`` train/val/checkpoint/done/stopped, ``step``, ``total_steps``, ``loss``,
    ``val_loss``, ``eta_s``; checkpoint events carry ``checkpoint``, the file written).
    Before the first step it also receives the corpus build's dicts (``event`` "corpus":
    ``phase``, ``done``, ``total``, ``rate``, ``eta_s``; see
    ``engine.data.corpus.build_corpus``) when the config's corpus is not built yet, and
    ``{"event": "setup", "phase"}``. When ``should_stop()`` turns True the trainer writes
    a checkpoint and returns with ``status`` "stopped"; before the first step (building
    the corpus, loading data) it raises :class:`Cancelled` within a fraction of a second,
    worker processes ended, corpus shards kept for the next start. Returns the trainer's
    result dict (``status``, ``step``, ``checkpoint``, ``val_loss``).
    """
    from engine.errors import ConfigError, Interrupted
    from engine.training.config import load_config
    from engine.training.trainer import Trainer

    cfg = load_config(config)
    if data:
        cfg.data.cache_dir = str(Path(data).resolve())
        cfg.data.corpus_config = None
    for key, value in (overrides or {}).items():
        section, _, name = key.partition(".")
        if not hasattr(cfg, section) or not hasattr(getattr(cfg, section), name):
            raise ConfigError(f"unknown config override {key!r}")
        setattr(getattr(cfg, section), name, value)

    def relay(info: dict):
        if on_progress is None:
            return
        info = dict(info)
        if info.get("event") == "checkpoint":
            info["checkpoint"] = info.get("path")
        on_progress(info)

    try:
        trainer = Trainer(cfg, out_dir, resume=resume, on_progress=relay,
                          should_stop=should_stop)
    except Interrupted as err:
        raise Cancelled(str(err)) from err
    return trainer.run()
