"""RDKit conformers from coordinate arrays: the one place an ``(N, 3)`` array becomes an
``rdkit.Chem.Conformer`` (readers, writers, structures, stereo checks, sampling output).

RDKit is imported when a function is called, so importing this module stays cheap.
"""
from __future__ import annotations

from collections.abc import Iterable

__all__ = ["conformer_from_coords", "add_conformer", "mol_with_conformers"]


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
