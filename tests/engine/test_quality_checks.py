"""The app's Quality check in the engine (issue 27): cheap rows first, PoseBusters in a child
process that ``should_stop`` ends at once, the energy check's reference ensemble kept per
molecule, and with PoseBusters' ensemble size the same energy verdict and ratio as
PoseBusters' own "mol" config."""
from __future__ import annotations

import math
import threading
import time

import pytest
from child_processes import live_children

from engine import api
from engine.errors import Cancelled
from engine.metrics import posebusters_checks as pbc

PEPTIDE = ("CC(C)(C)OC(=O)N[C@@H](Cc1ccccc1)C(=O)N[C@@H](CC(C)C)C(=O)N[C@@H](Cc1c[nH]c2ccccc12)"
           "C(=O)N1CCC[C@H]1C(=O)OCc1ccccc1")


def test_with_50_conformers_the_energy_check_is_posebusters_own():
    from posebusters import PoseBusters

    s = api.structure_from_smiles("CC(=O)Oc1ccccc1C(=O)O")
    mol = s.mol_with_coords(s.positions)
    pbc.forget_ensembles()
    ours = pbc.run_checks(mol, energy_conformers=50)
    theirs = PoseBusters(config="mol", max_workers=0).bust([mol], full_report=True).iloc[0]
    assert ours["energy"]["passes"] == bool(theirs["internal_energy"])
    assert ours["energy"]["ratio"] == pytest.approx(float(theirs["energy_ratio"]), rel=1e-9)
    assert ours["energy"]["threshold"] == 100.0 and not ours["energy"]["cached"]
    # the other checks: PoseBusters' columns and verdicts
    for name, value in ours["checks"].items():
        assert value == bool(theirs[name]), name
    assert "internal_energy" not in ours["checks"] and len(ours["checks"]) >= 10


def test_the_ensemble_is_kept_per_molecule_and_not_embedded_again():
    s = api.structure_from_smiles("CC(C)Cc1ccc(cc1)C(C)C(=O)O")
    pbc.forget_ensembles()
    first = pbc.run_checks(s.mol_with_coords(s.positions), energy_conformers=6)
    assert not first["energy"]["cached"]
    kept = pbc.known_ensembles()
    assert list(kept) == [(first["energy"]["inchi"], 6)] and len(kept[(first["energy"]["inchi"], 6)]) == 6
    moved = s.positions + 0.05 * (1 + (s.positions[:, :1] > 0))      # another frame, same molecule
    second = pbc.run_checks(s.mol_with_coords(moved), energy_conformers=6)
    assert second["energy"]["cached"] and second["energy"]["inchi"] == first["energy"]["inchi"]
    assert pbc.known_ensembles() == kept


def test_quality_report_streams_the_cheap_rows_first():
    s = api.structure_from_smiles("Cn1cnc2c1c(=O)n(C)c(=O)n2C")
    calls = []
    rows = api.quality_report(s, s.positions, on_rows=calls.append, energy_conformers=4)
    assert len(calls) == 3 and calls[-1] == rows
    first, second = calls[0], calls[1]
    assert any("RMSD" in r.name for r in first) and any("MMFF" in r.name for r in first)
    assert [r.name for r in first if r.value == api.QUALITY_PENDING] == ["PoseBusters (all checks)"]
    assert any(r.name == "PB: bond_lengths" and r.ok for r in second)
    assert [r.name for r in second if r.value == api.QUALITY_PENDING] == \
        ["PoseBusters (all checks)", "PB: internal_energy (4 conformers)"]
    assert not any(r.value == api.QUALITY_PENDING for r in rows)
    assert next(r for r in rows if r.name.startswith("PoseBusters")).value == "pass"
    quick = api.quality_report(s, s.positions, posebusters=False)
    assert [r.name for r in quick] == [r.name for r in first if r.value != api.QUALITY_PENDING]


def test_should_stop_ends_the_posebusters_process_at_once():
    s = api.structure_from_smiles(PEPTIDE)
    pbc.forget_ensembles()
    before = live_children()
    state = {"stop": False, "checks_at": None, "error": None}
    workers: set[int] = set()

    def on_checks(checks):              # the quick checks are in; the energy check runs now
        workers.update(live_children() - before)
        state["checks_at"] = time.perf_counter()
        state["stop"] = True

    def run():
        try:
            pbc.run_checks(s.mol_with_coords(s.positions), energy_conformers=50,
                           on_checks=on_checks, should_stop=lambda: state["stop"])
        except Cancelled as err:
            state["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    assert not thread.is_alive() and isinstance(state["error"], Cancelled)
    assert workers, "the checks ran in a child process"
    assert time.perf_counter() - state["checks_at"] < 1.0       # 50 conformers would take ~10 s
    assert not (live_children() - before)
    assert not pbc.known_ensembles()


def test_a_failing_child_is_a_row_not_a_crash(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("the PoseBusters process ended (exit code -9)")

    monkeypatch.setattr(pbc, "run_checks", boom)
    s = api.structure_from_smiles("CCO")
    rows = api.quality_report(s, s.positions)
    assert rows[-1].name == "PoseBusters" and rows[-1].value.startswith("failed: the PoseBusters")
    assert rows[-1].ok is False and math.isfinite(float(rows[0].value))
