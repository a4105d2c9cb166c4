"""Quality of one structure as the app shows it: RMSD to a reference, PoseBusters, MMFF
energy, bond outliers and clashes (molecules), per-frame field metrics (lattices), and
the ETKDG baseline conformer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import InputError
from engine.lattices import LATTICE_SYSTEMS
from engine.structures import Structure, as_coords, element_symbols


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
    coords = as_coords(coords, structure.n, "coordinates")
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
    symbols = element_symbols(structure)
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


def lattice_frame_quality(structure: Structure, frames, times=None) -> list[dict]:
    """Per-frame lattice metrics against the input field (``engine.metrics.lattice``):
    ``frame``, ``t``, ``mse``, ``smoothness`` ‖LS‖², ``energy``, ``alignment`` and, for
    spin systems, ``norm_error`` (mean |‖v‖ − 1|)."""
    from engine.metrics.lattice import lattice_frame_metrics

    if structure.is_molecule:
        raise InputError("lattice metrics need a lattice structure")
    info = LATTICE_SYSTEMS.get(structure.system or "")
    spin = info is not None and info.field == "spin"
    return lattice_frame_metrics(frames, structure.positions, structure.laplacian, structure.edges,
                                 spin=spin, times=times)
