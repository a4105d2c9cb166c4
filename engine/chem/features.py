"""Per-atom input features for the score network.

``atom_features(mol)`` returns an ``(N, ATOM_FEATURE_DIM)`` float32 array, one row per
atom of ``mol`` (hydrogens included when the molecule has explicit H atoms). Columns,
in order (``FEATURE_SLICES`` names the ranges):

- element one-hot: H C N O F P S Cl Br I, then "other" (11)
- formal charge (1, the integer charge as a float)
- aromatic flag (1)
- hybridisation one-hot: S SP SP2 SP3 SP3D SP3D2, then "other" (7)
- in-ring flag (1)
- chirality tag one-hot: unspecified, tetrahedral CW, tetrahedral CCW, other (4)
- degree one-hot: 0 1 2 3 4 5+ (6)
"""
from __future__ import annotations

import numpy as np

__all__ = ["ATOM_FEATURE_DIM", "ELEMENTS", "FEATURE_SLICES", "atom_features"]

ELEMENTS: tuple[int, ...] = (1, 6, 7, 8, 9, 15, 16, 17, 35, 53)  # H C N O F P S Cl Br I

_HYBRIDISATIONS = ("S", "SP", "SP2", "SP3", "SP3D", "SP3D2")
_CHIRAL_TAGS = ("CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW")
_MAX_DEGREE = 5

_sizes = {
    "element": len(ELEMENTS) + 1,
    "formal_charge": 1,
    "aromatic": 1,
    "hybridisation": len(_HYBRIDISATIONS) + 1,
    "in_ring": 1,
    "chirality": len(_CHIRAL_TAGS) + 1,
    "degree": _MAX_DEGREE + 1,
}
FEATURE_SLICES: dict[str, slice] = {}
_start = 0
for _name, _size in _sizes.items():
    FEATURE_SLICES[_name] = slice(_start, _start + _size)
    _start += _size
ATOM_FEATURE_DIM: int = _start

_ELEMENT_INDEX = {z: i for i, z in enumerate(ELEMENTS)}


def atom_features(mol) -> np.ndarray:
    """Feature matrix ``(N, ATOM_FEATURE_DIM)`` float32 for an RDKit molecule."""
    n = mol.GetNumAtoms()
    out = np.zeros((n, ATOM_FEATURE_DIM), dtype=np.float32)
    s = FEATURE_SLICES
    for atom in mol.GetAtoms():
        i = atom.GetIdx()
        out[i, s["element"].start + _ELEMENT_INDEX.get(atom.GetAtomicNum(), len(ELEMENTS))] = 1
        out[i, s["formal_charge"].start] = atom.GetFormalCharge()
        out[i, s["aromatic"].start] = float(atom.GetIsAromatic())
        hyb = str(atom.GetHybridization())
        h = _HYBRIDISATIONS.index(hyb) if hyb in _HYBRIDISATIONS else len(_HYBRIDISATIONS)
        out[i, s["hybridisation"].start + h] = 1
        out[i, s["in_ring"].start] = float(atom.IsInRing())
        tag = str(atom.GetChiralTag())
        c = _CHIRAL_TAGS.index(tag) if tag in _CHIRAL_TAGS else len(_CHIRAL_TAGS)
        out[i, s["chirality"].start + c] = 1
        out[i, s["degree"].start + min(atom.GetDegree(), _MAX_DEGREE)] = 1
    return out
