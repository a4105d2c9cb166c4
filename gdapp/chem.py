"""Chemistry the views show: SMILES of the structure, atom information, bond orders for
drawing, and distance / angle / dihedral measurements. Read-only helpers over the
structure's RDKit molecule (``api.Structure.mol``); no engine work, no Qt."""
from __future__ import annotations

import numpy as np

SMILES_MAX_ATOMS = 2000      # larger structures: no SMILES in the toolbar (slow, unreadable)


def smiles(structure) -> str:
    """Canonical SMILES without hydrogens ('' for lattices and very large molecules)."""
    if not structure.is_molecule or structure.mol is None or structure.n > SMILES_MAX_ATOMS:
        return ""
    try:
        from rdkit import Chem

        return Chem.MolToSmiles(Chem.RemoveHs(structure.mol))
    except Exception:  # noqa: BLE001 -- a display nicety, never an error
        return ""


def atom_info(structure, index: int, coords=None) -> str:
    """'C7 (index 6): carbon, charge 0, aromatic, 3 bonds (to N1, C8, H20)'."""
    mol = structure.mol
    atom = mol.GetAtomWithIdx(int(index))
    from rdkit import Chem

    sym = atom.GetSymbol()
    name = Chem.GetPeriodicTable().GetElementName(atom.GetAtomicNum()).lower()
    charge = atom.GetFormalCharge()
    parts = [f"{sym}{index} (index {index}): {name}", f"formal charge {charge:+d}" if charge
             else "formal charge 0"]
    if atom.GetIsAromatic():
        parts.append("aromatic")
    hyb = str(atom.GetHybridization())
    if hyb not in ("UNSPECIFIED", "OTHER", "S"):
        parts.append(hyb.lower())
    nbrs = [f"{n.GetSymbol()}{n.GetIdx()}" for n in atom.GetNeighbors()]
    parts.append(f"{len(nbrs)} bond{'s' if len(nbrs) != 1 else ''}"
                 + (f" (to {', '.join(nbrs)})" if nbrs else ""))
    if coords is not None:
        x, y, z = np.asarray(coords)[int(index)]
        parts.append(f"at ({x:.2f}, {y:.2f}, {z:.2f}) Å")
    return ", ".join(parts)


def bond_orders(structure) -> np.ndarray:
    """Order per bond of ``structure.edges`` for drawing: 1, 2 or 3 (aromatic rings in
    their Kekulé form, so benzene shows alternating double bonds as chemists draw it)."""
    edges = np.asarray(structure.edges, dtype=np.int64).reshape(-1, 2)
    orders = np.ones(len(edges), dtype=np.int64)
    if not structure.is_molecule or structure.mol is None or not len(edges):
        return orders
    from rdkit import Chem

    mol = Chem.Mol(structure.mol)
    try:
        Chem.Kekulize(mol, clearAromaticFlags=True)
    except Exception:  # noqa: BLE001 -- keep aromatic bonds as drawn by RDKit
        pass
    for k, (i, j) in enumerate(edges):
        bond = mol.GetBondBetweenAtoms(int(i), int(j))
        if bond is None:
            continue
        t = bond.GetBondType()
        if t == Chem.BondType.DOUBLE:
            orders[k] = 2
        elif t == Chem.BondType.TRIPLE:
            orders[k] = 3
    return orders


def measure(coords, atoms) -> tuple[str, float]:
    """Distance (2 atoms, Å), angle (3, degrees) or dihedral (4, degrees) of ``atoms``
    in ``coords``: ``(kind, value)``."""
    p = np.asarray(coords, dtype=np.float64)[list(atoms)]
    if len(p) == 2:
        return "distance", float(np.linalg.norm(p[1] - p[0]))
    if len(p) == 3:
        a, b = p[0] - p[1], p[2] - p[1]
        c = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
        return "angle", float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))
    if len(p) == 4:
        b0, b1, b2 = p[0] - p[1], p[2] - p[1], p[3] - p[2]
        b1n = b1 / max(np.linalg.norm(b1), 1e-12)
        v = b0 - np.dot(b0, b1n) * b1n
        w = b2 - np.dot(b2, b1n) * b1n
        x = np.dot(v, w)
        y = np.dot(np.cross(b1n, v), w)
        return "dihedral", float(np.degrees(np.arctan2(y, x)))
    raise ValueError(f"measure 2, 3 or 4 atoms, not {len(p)}")


def describe_measurement(structure, coords, atoms) -> str:
    """'distance C1–O2 = 1.23 Å' / 'angle … = 120.0°' / 'dihedral … = -60.0°'."""
    kind, value = measure(coords, atoms)
    sym = [structure.mol.GetAtomWithIdx(int(i)).GetSymbol() for i in atoms]
    label = "–".join(f"{s}{i}" for s, i in zip(sym, atoms))
    unit = " Å" if kind == "distance" else "°"
    digits = 3 if kind == "distance" else 1
    value = round(value, digits) + 0.0        # no "-0.0°"
    return f"{kind} {label} = {value:.{digits}f}{unit}"
