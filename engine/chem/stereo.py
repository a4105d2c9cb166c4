"""Check and repair stereochemistry of generated coordinates against a molecule's tags.

The reference is an RDKit molecule carrying stereo tags (e.g. parsed from an isomeric
SMILES, hydrogens added) and the coordinates are ``(N, 3)`` in the molecule's atom order.

- Tetrahedral centres: RDKit chiral tags (CW/CCW) are relative to the order of an atom's
  bonds. A copy of the molecule gets the coordinates as its only conformer and its tags
  re-derived from 3D (``AssignAtomChiralTagsFromStructure``); since the copy has the same
  bond order, equal tags mean equal parity. A centre whose 3D tag comes out unspecified
  (flat) counts as wrong but not as inverted.
- Double bonds (E/Z or cis/trans): the reference tag refers to the bond's two stereo atoms
  (for E/Z these are the CIP-highest neighbours; E = trans); the dihedral between them
  decides (``|dihedral| > 90°`` is trans).

A mirror image inverts every centre and keeps every double bond, so a structure with all
centres inverted and no double bond wrong is repaired by reflecting ``x -> -x``.
"""
from __future__ import annotations

import numpy as np

from engine.chem.conformers import dihedral
from engine.errors import InputError

__all__ = ["stereo_report", "stereo_ok", "fix_stereo", "flip_centres"]


def _as_coords(mol, coords) -> np.ndarray:
    if hasattr(coords, "detach"):  # a torch tensor (torch is not imported for numpy input)
        coords = coords.detach().cpu().numpy()
    x = np.asarray(coords, dtype=np.float64)
    n = mol.GetNumAtoms()
    if x.shape != (n, 3):
        raise InputError(f"coordinates have shape {x.shape}, expected ({n}, 3) for a "
                         f"molecule with {n} atoms")
    if not np.all(np.isfinite(x)):
        raise InputError("coordinates contain NaN or infinite values")
    return x


def _tags_from_coords(mol, x: np.ndarray):
    from rdkit import Chem

    from engine.chem.conformers import mol_with_conformers

    copy = mol_with_conformers(mol, [x])
    Chem.AssignAtomChiralTagsFromStructure(copy, confId=copy.GetConformer().GetId(),
                                           replaceExistingTags=True)
    return [a.GetChiralTag() for a in copy.GetAtoms()]


def stereo_report(mol, coords) -> dict:
    """Compare ``coords`` ``(N, 3)`` with the stereo tags of ``mol``.

    Returns ``centres_checked``, ``centres_wrong`` (inverted or flat), ``centres_inverted``,
    ``bonds_checked``, ``bonds_wrong`` and the lists ``wrong_centres`` (atom indices) and
    ``wrong_bonds`` (bond indices).
    """
    from rdkit import Chem

    x = _as_coords(mol, coords)
    cw, ccw = Chem.ChiralType.CHI_TETRAHEDRAL_CW, Chem.ChiralType.CHI_TETRAHEDRAL_CCW
    centres = [(a.GetIdx(), a.GetChiralTag()) for a in mol.GetAtoms()
               if a.GetChiralTag() in (cw, ccw)]
    wrong_centres, inverted = [], 0
    if centres:
        observed = _tags_from_coords(mol, x)
        for idx, tag in centres:
            if observed[idx] != tag:
                wrong_centres.append(idx)
                inverted += observed[idx] in (cw, ccw)
    BS = Chem.BondStereo
    trans_tags = {BS.STEREOE: True, BS.STEREOTRANS: True, BS.STEREOZ: False,
                  BS.STEREOCIS: False}
    bonds_checked, wrong_bonds = 0, []
    for bond in mol.GetBonds():
        want_trans = trans_tags.get(bond.GetStereo())
        atoms = list(bond.GetStereoAtoms())
        if want_trans is None or len(atoms) != 2:
            continue
        b, c = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        a, d = atoms
        if mol.GetBondBetweenAtoms(a, b) is None:  # stereo atoms listed end-first
            a, d = d, a
        bonds_checked += 1
        is_trans = abs(dihedral(x[a], x[b], x[c], x[d])) > 90.0
        if is_trans != want_trans:
            wrong_bonds.append(bond.GetIdx())
    return {
        "centres_checked": len(centres),
        "centres_wrong": len(wrong_centres),
        "centres_inverted": int(inverted),
        "bonds_checked": bonds_checked,
        "bonds_wrong": len(wrong_bonds),
        "wrong_centres": wrong_centres,
        "wrong_bonds": wrong_bonds,
    }


def stereo_ok(mol, coords) -> bool:
    """True when every tagged tetrahedral centre and double bond matches ``coords``."""
    r = stereo_report(mol, coords)
    return r["centres_wrong"] == 0 and r["bonds_wrong"] == 0


def fix_stereo(mol, coords):
    """Return ``(coords, ok)``.

    Already right: the input unchanged, ``ok=True``. Every tetrahedral centre inverted and
    no double bond wrong: the mirror image (``x -> -x``), ``ok=True``. Anything else: the
    input unchanged, ``ok=False`` (the caller should resample). ``coords`` may be a numpy
    array or a torch tensor; a reflected result has the same type, dtype and device.
    """
    r = stereo_report(mol, coords)
    if r["centres_wrong"] == 0 and r["bonds_wrong"] == 0:
        return coords, True
    if (r["bonds_wrong"] == 0 and r["centres_checked"] > 0
            and r["centres_inverted"] == r["centres_checked"]):
        reflected = coords * 1.0  # copy, same type (numpy or torch)
        reflected[..., 0] = -reflected[..., 0]
        return reflected, stereo_ok(mol, reflected)
    return coords, False


def flip_centres(mol, coords, centres) -> np.ndarray | None:
    """Invert the tetrahedral ``centres`` (atom indices) of ``coords`` ``(N, 3)`` in place
    of a copy: each centre with three heavy neighbours and one hydrogen is reflected, with
    its hydrogen, through the plane of the three heavy neighbours (an umbrella flip). The
    bonds and angles at the centre keep their values (the neighbours lie in the mirror
    plane); what changes is the side the centre sits on. ``None`` when some centre has
    another neighbourhood (four heavy atoms, a lone pair) and cannot be flipped this way.
    """
    x = _as_coords(mol, coords).copy()
    for c in centres:
        atom = mol.GetAtomWithIdx(int(c))
        hs = [n.GetIdx() for n in atom.GetNeighbors() if n.GetAtomicNum() == 1]
        heavy = [n.GetIdx() for n in atom.GetNeighbors() if n.GetAtomicNum() > 1]
        if len(hs) != 1 or len(heavy) != 3:
            return None
        p0, p1, p2 = x[heavy]
        normal = np.cross(p1 - p0, p2 - p0)
        norm = np.linalg.norm(normal)
        if norm < 1e-8:
            return None
        normal /= norm
        for k in (int(c), hs[0]):
            x[k] = x[k] - 2.0 * np.dot(x[k] - p0, normal) * normal
    return x
