"""Structures: a molecule (atoms, bonds) or a lattice (sites, a vector per site) with the graph
Laplacian the process acts on; loading, SMILES, selection, bond perception and export.

Shapes: ``N`` nodes, ``(N, 3)`` per structure. numpy/scipy only at import time (RDKit is
imported inside the functions that need it), so ``import engine.api`` stays light.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from engine.errors import GraphError, InputError
from engine.resources import resource_path

DEMO_MOLECULE = "celecoxib.sdf"


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
        from engine.chem.conformers import mol_with_conformers

        if self.mol is None:
            raise InputError(f"{self.name} is a lattice, not a molecule")
        return mol_with_conformers(self.mol, [as_coords(coords, self.n, "coordinates")])


def as_coords(coords, n: int, what: str) -> np.ndarray:
    arr = np.asarray(coords, dtype=np.float64)
    if arr.shape != (n, 3):
        raise InputError(f"{what} must have shape ({n}, 3), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{what} contain NaN or infinite values")
    return arr


def demo_molecule_path() -> Path:
    return resource_path("molecules", DEMO_MOLECULE)


def writable_suffixes(what: str = "conformers") -> list[str]:
    """File suffixes the exports write: ``conformers`` (``export_structures``, as
    ``engine.io.write_molecules``) or ``trajectories`` (``export_trajectory``)."""
    from engine.io import TRAJECTORY_FORMATS, WRITE_FORMATS

    return list(TRAJECTORY_FORMATS if what == "trajectories" else WRITE_FORMATS)


def readable_suffixes() -> list[str]:
    """File suffixes :func:`load_structures` reads (same as ``engine.io.read_molecules``)."""
    from engine.io import READ_FORMATS

    return list(READ_FORMATS)


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
    from engine.io.readers import smiles_size_error

    too_big = smiles_size_error(smiles.split(None, 1)[0])   # not a name after the SMILES
    if too_big:
        raise InputError(too_big)
    from rdkit import rdBase

    from engine.rdlog import capture_rdkit_log, rdkit_log_states

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


def element_symbols(structure: Structure) -> list[str]:
    if not structure.is_molecule:
        return ["X"] * structure.n
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    return [table.GetElementSymbol(int(z)) for z in np.asarray(structure.atomic_numbers)]


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
                      times: np.ndarray | None = None, labels=None) -> Path:
    """Write a trajectory ``(K, N, 3)`` as a multi-frame ``.xyz`` or ``.pdb`` (MODEL
    records); ``labels`` (one per frame, e.g. ``Trajectory.labels``: its stage and t) go
    into each frame's comment line (XYZ) or a REMARK before its MODEL (PDB)."""
    path = Path(path)
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 3 or frames.shape[1:] != (structure.n, 3):
        raise InputError(f"frames must have shape (K, {structure.n}, 3), got {frames.shape}")
    suffix = path.suffix.lower()
    if suffix not in writable_suffixes("trajectories"):
        raise InputError(f"trajectories are written as {' or '.join(writable_suffixes('trajectories'))}",
                         path=path)
    if labels is not None:
        labels = [str(x).replace("\n", " ") for x in labels]
        if len(labels) != len(frames):
            raise InputError(f"{len(labels)} labels for {len(frames)} frames", path=path)
    symbols = element_symbols(structure)
    from engine.io.writers import write_frames_pdb, write_trajectory_pdb, write_trajectory_xyz

    if suffix == ".xyz":
        write_trajectory_xyz(path, symbols, frames, comments=[
            f"{structure.name} frame {k}" + ("" if times is None else f" t={times[k]:.4f}")
            + ("" if labels is None else f" {labels[k]}") for k in range(len(frames))])
    elif structure.is_molecule and structure.mol is not None:
        write_trajectory_pdb(path, structure.mol, frames, remarks=labels)   # bond orders kept
    else:       # lattice sites (element X): RDKit's writer cannot
        write_frames_pdb(path, symbols, frames, structure.edges if structure.is_molecule else (),
                         remarks=labels)
    return path
