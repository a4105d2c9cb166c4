"""RDKit conformers from coordinate arrays: the one place an ``(N, 3)`` array becomes an
``rdkit.Chem.Conformer`` (readers, writers, structures, stereo checks, sampling output).

RDKit is imported when a function is called, so importing this module stays cheap.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["conformer_from_coords", "add_conformer", "mol_with_conformers", "has_specified_chirality",
           "mirror_image", "best_rmsd_matrix", "diverse_subset", "dihedral", "secondary_amides",
           "cis_amides", "turn_amide"]


def conformer_from_coords(coords):
    """A 3D ``Chem.Conformer`` holding ``coords`` (``(N, 3)``, any numeric array-like)."""
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    conf = Chem.Conformer(len(coords))
    for i, (x, y, z) in enumerate(coords):
        conf.SetAtomPosition(i, Point3D(float(x), float(y), float(z)))
    conf.Set3D(True)
    return conf


def add_conformer(mol, coords) -> int:
    """Append a conformer holding ``coords`` ``(N, 3)`` to ``mol`` (in place, a new id);
    returns its id."""
    return mol.AddConformer(conformer_from_coords(coords), assignId=True)


def mol_with_conformers(mol, coords_list: Iterable):
    """A copy of ``mol`` whose conformers are exactly ``coords_list`` (each ``(N, 3)``, in
    order; ids 0, 1, ...)."""
    from rdkit import Chem

    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    for coords in coords_list:
        add_conformer(out, coords)
    return out


def has_specified_chirality(mol) -> bool:
    """Whether an atom of ``mol`` carries a chirality tag: its mirror-image conformers are
    then another molecule. Double-bond stereo does not count (a reflection keeps E/Z)."""
    from rdkit import Chem

    return any(a.GetChiralTag() != Chem.ChiralType.CHI_UNSPECIFIED for a in mol.GetAtoms())


def mirror_image(coords) -> np.ndarray:
    """``coords`` ``(N, 3)`` reflected through the plane x = their mean x: the mirror-image
    conformer (same bond lengths, angles and energy; every torsion's sign turned)."""
    out = np.array(coords, dtype=np.float64, copy=True)
    out[:, 0] = 2.0 * out[:, 0].mean() - out[:, 0]
    return out


# Symmetric atom maps tried per molecule by best_rmsd_matrix: five CF3 groups alone have
# 6^5 x ... maps (3.8 s for 20 conformers uncapped, 0.13 s at 1,000); past the cap an
# RMSD is an upper bound, which only shifts which conformers a diversity choice keeps.
BEST_RMSD_MAX_MATCHES = 1000


def best_rmsd_matrix(mol, coords_list) -> np.ndarray:
    """``(K, K)`` heavy-atom RMSDs of ``K`` conformers ``(N, 3)`` of ``mol`` after optimal
    superposition with symmetry-equivalent atoms matched (RDKit's
    ``GetAllConformerBestRMS``, the alignment the GEOM metrics use; at most
    ``BEST_RMSD_MAX_MATCHES`` atom maps)."""
    from rdkit import Chem
    from rdkit.Chem import rdMolAlign

    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    # every hydrogen out (RemoveHs would keep e.g. a deuterium), heavy atoms in their order
    bare = Chem.RemoveAllHs(mol, sanitize=False)
    probe = mol_with_conformers(bare, [np.asarray(c)[heavy] for c in coords_list])
    lower = rdMolAlign.GetAllConformerBestRMS(probe, numThreads=0, maxMatches=BEST_RMSD_MAX_MATCHES)
    k = len(coords_list)
    d = np.zeros((k, k))
    d[np.tril_indices(k, -1)] = lower           # (1,0), (2,0), (2,1), ...
    return d + d.T


def diverse_subset(dist, k: int, first: int = 0) -> list[int]:
    """``k`` indices of a ``(K, K)`` distance matrix chosen by MaxMin (RDKit's
    ``MaxMinPicker``): ``first``, then each time the item farthest from those chosen."""
    from rdkit.SimDivFilters import rdSimDivPickers

    d = np.asarray(dist, dtype=np.float64)
    n = d.shape[0]
    if k >= n:
        return list(range(n))
    lower = d[np.tril_indices(n, -1)]           # (1,0), (2,0), (2,1), ...: RDKit's layout
    return [int(i) for i in rdSimDivPickers.MaxMinPicker().Pick(lower, n, int(k), [int(first)])]


def dihedral(p0, p1, p2, p3) -> float:
    """Dihedral angle in degrees of four points."""
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1n = b1 / (np.linalg.norm(b1) + 1e-12)
    v = b0 - np.dot(b0, b1n) * b1n
    w = b2 - np.dot(b2, b1n) * b1n
    return float(np.degrees(np.arctan2(np.dot(np.cross(b1n, v), w), np.dot(v, w))))


# O=C-N(H)-X (X a heavy atom), the C-N bond in no ring (a lactam cannot turn); hydrogens explicit
_SECONDARY_AMIDE = "[OX1:1]=[CX3:2]!@[NX3;H1:3]([!#1])-[#1:4]"


def secondary_amides(mol) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    """The acyclic secondary amides of ``mol`` (hydrogens explicit): per amide the atoms
    ``(O, C, N, H)`` and the indices of the atoms on the nitrogen's side of the C–N bond
    or, when that side is the larger, on the carbon's side (the side :func:`turn_amide`
    rotates)."""
    from rdkit import Chem

    patt = Chem.MolFromSmarts(_SECONDARY_AMIDE)
    out = []
    n_atoms = mol.GetNumAtoms()
    for o, c, n, _, h in mol.GetSubstructMatches(patt):
        side = {n}
        stack = [n]
        while stack:                       # atoms reachable from N without the C-N bond
            a = stack.pop()
            for nb in mol.GetAtomWithIdx(a).GetNeighbors():
                j = nb.GetIdx()
                if j not in side and not (a == n and j == c):
                    side.add(j)
                    stack.append(j)
        if c in side:                      # a ring after all: cannot turn
            continue
        if 2 * len(side) > n_atoms:
            side = set(range(n_atoms)) - side
        out.append(((o, c, n, h), np.array(sorted(side), dtype=np.int64)))
    return out


def cis_amides(amides, xyz) -> list[int]:
    """Indices into ``amides`` (:func:`secondary_amides`) whose O=C–N–H dihedral in
    ``xyz`` is below 90° (cis; ETKDG and the references have them trans, ~180°)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    return [k for k, ((o, c, n, h), _) in enumerate(amides) if abs(dihedral(xyz[o], xyz[c], xyz[n], xyz[h])) < 90.0]


def turn_amide(amide, xyz) -> np.ndarray:
    """``xyz`` with one side of the amide's C–N bond rotated by 180° about it (cis ↔
    trans); bond lengths and angles are kept."""
    (o, c, n, h), side = amide
    out = np.array(xyz, dtype=np.float64, copy=True)
    axis = out[n] - out[c]
    axis /= max(float(np.linalg.norm(axis)), 1e-12)
    v = out[side] - out[n]
    out[side] = out[n] - v + 2.0 * np.outer(v @ axis, axis)
    return out
