"""RDKit conformers from coordinate arrays: the one place an ``(N, 3)`` array becomes an
``rdkit.Chem.Conformer`` (readers, writers, structures, stereo checks, sampling output).

RDKit is imported when a function is called, so importing this module stays cheap.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["conformer_from_coords", "add_conformer", "mol_with_conformers", "has_specified_chirality",
           "mirror_image", "best_rmsd_matrix", "diverse_subset"]


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
