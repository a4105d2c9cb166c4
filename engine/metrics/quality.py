"""Quality of one structure as the app shows it: RMSD to a reference, PoseBusters, MMFF
energy, bond outliers and clashes (molecules), per-frame field metrics (lattices), and
the ETKDG baseline conformer.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.errors import Cancelled, InputError, check_stop
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
    note: str = ""          # what the row means, where the name cannot say it (a tooltip)


QUALITY_PENDING = "checking …"


def quality_report(structure: Structure, coords, reference=None, posebusters: bool = True, *,
                   on_rows: Callable[[list[QualityRow]], None] | None = None,
                   should_stop: Callable[[], bool] | None = None,
                   energy_conformers: int | None = None, nice: int = 0) -> list[QualityRow]:
    """Checks of one structure: RMSD to ``reference`` (default: the input), bond-length
    outliers, clashes and MMFF energies first (milliseconds), then PoseBusters' "mol" checks
    in a child process (``engine.metrics.posebusters_checks``: the checks other than the
    internal energy, then the internal energy against a reference ensemble of
    ``energy_conformers`` ETKDG conformers, kept per molecule).

    ``on_rows(rows)`` gets the rows known so far after each stage (rows still running say
    :data:`QUALITY_PENDING`, ``ok`` None); the last call holds what is returned. ``should_stop()``
    is polled between stages and every 50 ms while PoseBusters runs (its process is ended
    at once), then :class:`engine.errors.Cancelled` is raised. Each check that fails to run
    gives a row saying why instead of raising. ``nice``: niceness increment of the
    PoseBusters process (the app: 5, so that its event loop comes first)."""
    coords = as_coords(coords, structure.n, "coordinates")
    rows: list[QualityRow] = []
    if not structure.is_molecule:
        rows.append(QualityRow("sites", str(structure.n)))
        rows.append(QualityRow("mean |vector|", f"{np.linalg.norm(coords, axis=1).mean():.3f}"))
        return rows

    def tell(shown):
        if on_rows is not None:
            on_rows(list(shown))

    ref = structure.positions if reference is None else reference
    try:
        rows.append(QualityRow("heavy-atom RMSD to input (Å)",
                               f"{heavy_atom_rmsd(structure, coords, ref):.3f}"))
    except Exception as err:  # noqa: BLE001 -- a report row, not a crash
        rows.append(QualityRow("heavy-atom RMSD to input (Å)", f"failed: {err}", False))
    rows.extend(_bond_rows(structure, coords))
    if not posebusters:
        tell(rows)
        return rows
    tell(rows + [QualityRow("PoseBusters (all checks)", QUALITY_PENDING)])
    check_stop(should_stop)
    return rows + _posebusters_rows(structure, coords, rows, tell, should_stop, energy_conformers, nice)


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


def _energy_row(energy: dict | None, n_confs: int) -> QualityRow:
    name = f"PB: internal_energy ({n_confs} conformers)"
    note = (f"PoseBusters' internal-energy check: the conformer's UFF energy against the mean of "
            f"an ETKDGv3 + UFF ensemble of {n_confs} conformers (PoseBusters' 'mol' config uses "
            f"50; the verdict is the same unless the ratio lies within a few per cent of the "
            f"threshold, docs/app.md)")
    if energy is None:
        return QualityRow(name, QUALITY_PENDING, None, note)
    ratio, passes = energy.get("ratio"), energy.get("passes")
    if passes is None:
        return QualityRow(name, "not run", False, note)
    text = ("pass" if passes else "FAIL") + (f" (ratio {ratio:.2f})" if ratio is not None else "")
    return QualityRow(name, text, bool(passes), note)


def _check_rows(checks: dict) -> list[QualityRow]:
    rows = []
    for col, val in checks.items():
        if col in ("mol_index", "conf_id", "pass", "file", "molecule", "position"):
            continue
        if val is None:
            rows.append(QualityRow(f"PB: {col}", "not run", False))
        else:
            rows.append(QualityRow(f"PB: {col}", "pass" if val else "FAIL", bool(val)))
    return rows


def _posebusters_rows(structure, coords, before, tell, should_stop, energy_conformers,
                      nice) -> list[QualityRow]:
    from engine.metrics.posebusters_checks import ENERGY_CONFORMERS, run_checks

    n_confs = int(energy_conformers or ENERGY_CONFORMERS)

    def checks_done(checks):
        tell(before + [QualityRow("PoseBusters (all checks)", QUALITY_PENDING)] + _check_rows(checks)
             + [_energy_row(None, n_confs)])

    try:
        result = run_checks(structure.mol_with_coords(coords), energy_conformers=n_confs,
                            on_checks=checks_done, should_stop=should_stop, nice=nice)
    except Cancelled:
        raise
    except Exception as err:  # noqa: BLE001 -- a report row, not a crash
        rows = [QualityRow("PoseBusters", f"failed: {err}", False)]
        tell(before + rows)
        return rows
    checks = _check_rows(result["checks"])
    energy = _energy_row(result["energy"], n_confs)
    passed = all(r.ok for r in checks) and bool(energy.ok)
    rows = [QualityRow("PoseBusters (all checks)", "pass" if passed else "FAIL", passed)] + checks + [energy]
    tell(before + rows)
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
