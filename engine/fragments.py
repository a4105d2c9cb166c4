"""Multi-component inputs (salts, solvates, mixtures).

``sample`` and ``baseline`` (and the app) work on one connected molecule. By default the
largest organic fragment is kept (RDKit ``rdMolStandardize.LargestFragmentChooser`` with
``preferOrganic=True``) and the others are reported; with ``--keep-fragments`` every
component is embedded on its own and the components are then translated apart along x so
that no two atoms of different components are closer than :data:`MIN_GAP` Å.

Atom order is the input's: components are cut out with their atom mapping and written
back into a copy of the whole molecule.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["MIN_GAP", "Split", "fragment_count", "largest_fragment", "split_components",
           "place_apart", "assemble", "with_hydrogens",
           "min_intercomponent_distance"]

# Distance kept between the closest atoms of two components (Å). Non-bonded heavy atoms
# rarely come closer than ~3 Å (hydrogen bonds: 2.6-3.2 Å between donor and acceptor).
MIN_GAP = 3.0


# A salt or solvate has a few counter-ions or solvent molecules; more fragments than this
# is a solvent box or a crystal, which is refused rather than reduced to one water.
MAX_FRAGMENTS = 20


def fragment_count(mol) -> int:
    from rdkit import Chem

    return len(Chem.GetMolFrags(mol)) if mol is not None and mol.GetNumAtoms() else 0


def _copy_props(src, dst) -> None:
    for name in src.GetPropNames(includePrivate=False, includeComputed=False):
        dst.SetProp(name, src.GetProp(name))
    if src.HasProp("_Name"):
        dst.SetProp("_Name", src.GetProp("_Name"))


def largest_fragment(mol):
    """``(fragment, removed)``: the largest organic fragment of ``mol`` (atoms in input
    order, conformers and properties kept) and the SMILES of the fragments left out
    (empty when ``mol`` is one fragment)."""
    from rdkit import Chem
    from rdkit.Chem.MolStandardize import rdMolStandardize

    count = fragment_count(mol)
    if count <= 1:
        return mol, []
    if count > MAX_FRAGMENTS:     # before splitting: a 20,000-atom water box has 6,667
        from engine.errors import InputError

        raise InputError(f"{mol.GetNumAtoms()} atoms in {count} disconnected fragments: a solvent "
                         f"box, crystal or mixture rather than a salt (at most {MAX_FRAGMENTS} "
                         f"fragments are reduced to the largest); give one molecule")
    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=True)
    chosen = rdMolStandardize.LargestFragmentChooser(preferOrganic=True).choose(mol)
    target = Chem.MolToSmiles(chosen)
    smiles = [Chem.MolToSmiles(f) for f in frags]
    keep = smiles.index(target) if target in smiles else max(range(len(frags)),
                                                            key=lambda i: frags[i].GetNumAtoms())
    out = Chem.Mol(frags[keep])
    _copy_props(mol, out)
    return out, [_plain_smiles(f) for i, f in enumerate(frags) if i != keep]


def _plain_smiles(mol) -> str:
    """SMILES without explicit hydrogens (water is ``O``, not ``[H]O[H]``)."""
    from rdkit import Chem

    try:
        return Chem.MolToSmiles(Chem.RemoveHs(mol))
    except Exception:  # noqa: BLE001 - RemoveHs needs a sanitizable molecule
        return Chem.MolToSmiles(mol)


@dataclass
class Split:
    """A molecule cut into its connected components (atoms mapped back by ``atoms``)."""

    whole: Any                         # the input molecule (all components)
    parts: list[Any]                   # one Chem.Mol per component
    atoms: list[tuple]                 # atoms[j][a]: index in ``whole`` of atom a of part j
    smiles: list[str] = field(default_factory=list)


def split_components(mol) -> Split:
    from rdkit import Chem

    mapping: list = []
    parts = list(Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=True, fragsMolAtomMapping=mapping))
    return Split(mol, parts, [tuple(m) for m in mapping], [_plain_smiles(p) for p in parts])


def place_apart(coords: Sequence[np.ndarray], gap: float = MIN_GAP) -> list[np.ndarray]:
    """Translate each ``(n_j, 3)`` block so the blocks sit side by side along x with at
    least ``gap`` Å between consecutive bounding boxes (so between any two atoms of
    different blocks), centred on the origin in y and z; the first keeps its x range."""
    out, right = [], None
    for xyz in coords:
        xyz = np.asarray(xyz, dtype=np.float64)
        lo, hi = xyz.min(axis=0), xyz.max(axis=0)
        shift = -(lo + hi) / 2
        shift[0] = 0.0 if right is None else right + gap - lo[0]
        moved = xyz + shift
        right = moved[:, 0].max()
        out.append(moved)
    return out


def with_hydrogens(mol):
    """``mol`` with explicit hydrogens (coordinates added where it has a conformer)."""
    from rdkit import Chem

    return Chem.AddHs(mol, addCoords=mol.GetNumConformers() > 0)


def assemble(split: Split, parts: Sequence):
    """The whole molecule with ``parts[j]`` (component ``j`` embedded, same atoms in the
    same order, or ``None`` when it could not be embedded) placed apart, conformer by
    conformer. Cut ``split`` from a molecule with explicit hydrogens (:func:`with_hydrogens`).

    Returns ``(mol, dropped)``: components that could not be embedded are left out of
    ``mol`` (their indices in ``dropped``); ``mol`` has as many conformers as the embedded
    component with the fewest.
    """
    from rdkit import Chem

    from engine.chem.conformers import add_conformer

    keep = [j for j, p in enumerate(parts) if p is not None and p.GetNumConformers() > 0]
    dropped = [j for j in range(len(parts)) if j not in keep]
    if not keep:
        raise ValueError("no component could be embedded")
    for j in keep:
        if parts[j].GetNumAtoms() != len(split.atoms[j]):
            raise ValueError(f"component {split.smiles[j]}: {parts[j].GetNumAtoms()} atoms embedded, "
                             f"{len(split.atoms[j])} expected")
    gone = sorted(a for j in dropped for a in split.atoms[j])
    new_index = {old: new for new, old in enumerate(a for a in range(split.whole.GetNumAtoms())
                                                    if a not in set(gone))}
    rw = Chem.RWMol(split.whole)
    for a in reversed(gone):
        rw.RemoveAtom(a)
    whole = rw.GetMol()
    _copy_props(split.whole, whole)
    whole.UpdatePropertyCache(strict=False)
    whole.RemoveAllConformers()
    n_confs = min(parts[j].GetNumConformers() for j in keep)
    for k in range(n_confs):
        placed = place_apart([parts[j].GetConformers()[k].GetPositions() for j in keep])
        coords = np.zeros((whole.GetNumAtoms(), 3))
        for j, xyz in zip(keep, placed):
            for a, old in enumerate(split.atoms[j]):
                coords[new_index[old]] = xyz[a]
        add_conformer(whole, coords)
    return whole, dropped


def min_intercomponent_distance(mol, conf_id: int = -1, heavy_only: bool = True) -> float:
    """The smallest distance between atoms of different components (``inf`` for one)."""
    from rdkit import Chem

    xyz = mol.GetConformer(conf_id).GetPositions()
    frags = Chem.GetMolFrags(mol)
    best = float("inf")
    for i in range(len(frags)):
        for j in range(i + 1, len(frags)):
            a = [x for x in frags[i] if not heavy_only or mol.GetAtomWithIdx(x).GetAtomicNum() > 1]
            b = [x for x in frags[j] if not heavy_only or mol.GetAtomWithIdx(x).GetAtomicNum() > 1]
            if a and b:
                d = np.linalg.norm(xyz[a][:, None] - xyz[b][None], axis=-1).min()
                best = min(best, float(d))
    return best
