"""The app's Quality check, timed as a user meets it (issue 27).

For each molecule (default: celecoxib, the 40-atom demo, and the 108-atom peptide of issue
27) a fresh Python process (imports of the engine done, PoseBusters not imported yet, no
ensemble kept) runs ``engine.api.quality_report`` on the molecule's input conformer — the
same call the app's Quality panel makes on its worker — and records when the rows arrive:

* ``first rows``: RMSD, bond outliers, clashes, MMFF energies (the panel shows them);
* ``PoseBusters quick``: every PoseBusters "mol" check but the internal energy;
* ``all``: the internal-energy check too (an ETKDG + UFF ensemble of
  ``ENERGY_CONFORMERS`` conformers, built in the child process);
* ``next frame``: the same molecule, other coordinates (the ensemble is kept);

the PoseBusters process niced by 5 and polled for a stop, as the app runs it;

and, as the reference measured in the same process, what the app ran before: the quick rows
and then PoseBusters' "mol" config in the process (``engine.metrics.validity.posebusters_pass``:
a 50-conformer ensemble). ``--ensemble`` adds how far the mean UFF energy of the
``ENERGY_CONFORMERS``-conformer ensemble lies from PoseBusters' 50-conformer one (the
energy check fails above 100 times that mean) on the first N corpus molecules.

    .venv/bin/python bench/quality_check.py [--repeats 3] [--ensemble 20] [--json docs/bench_quality_check.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUALITY_NICE = 5          # as the app runs it (gdapp.controllers.analysis.QUALITY_NICE)
MOLECULES = {
    "celecoxib": "Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1",
    "peptide": ("CC(C)(C)OC(=O)N[C@@H](Cc1ccccc1)C(=O)N[C@@H](CC(C)C)C(=O)N[C@@H]"
                "(Cc1c[nH]c2ccccc12)C(=O)N1CCC[C@H]1C(=O)OCc1ccccc1"),
}


def one_run(smiles: str) -> dict:
    """Cold, then the next frame, then the previous path (in this fresh process)."""
    import numpy as np

    from engine import api
    from engine.metrics.posebusters_checks import ENERGY_CONFORMERS

    structure = api.structure_from_smiles(smiles)
    out = {"atoms": structure.n, "energy_conformers": ENERGY_CONFORMERS}

    def timed(coords):
        marks = []
        t0 = time.perf_counter()

        def on_rows(rows):
            pending = sum(r.value == api.QUALITY_PENDING for r in rows)
            marks.append((time.perf_counter() - t0, pending, any(r.name.startswith("PB: ") for r in rows)))

        rows = api.quality_report(structure, coords, on_rows=on_rows, should_stop=lambda: False,
                                  nice=QUALITY_NICE)
        total = time.perf_counter() - t0
        quick = next(t for t, pending, pb in marks if pb)
        return {"first_rows_s": marks[0][0], "posebusters_quick_s": quick, "all_s": total,
                "passed": next(r.value for r in rows if r.name.startswith("PoseBusters"))}

    out["cold"] = timed(structure.positions)
    rng = np.random.default_rng(0)
    out["next_frame"] = timed(structure.positions + rng.normal(0, 0.02, structure.positions.shape))
    # the previous path: quick rows, then PoseBusters' "mol" config in this process
    from engine.metrics.validity import posebusters_pass

    t0 = time.perf_counter()
    api.quality_report(structure, structure.positions, posebusters=False)
    first = time.perf_counter() - t0
    fraction, _ = posebusters_pass(structure.mol_with_coords(structure.positions))
    out["previous"] = {"first_rows_s": None, "quick_rows_s": first, "all_s": time.perf_counter() - t0,
                       "passed": "pass" if fraction == 1.0 else "FAIL"}
    return out


def ensemble_study(n: int) -> list[dict]:
    """Mean UFF energy of PoseBusters' ensemble with ENERGY_CONFORMERS and with 50 conformers."""
    from posebusters.modules.energy_ratio import new_conformation
    from rdkit import Chem
    from rdkit.Chem.inchi import MolFromInchi

    from engine.data.sources import read_source
    from engine.metrics.posebusters_checks import ENERGY_CONFORMERS

    rows = []
    for name, smiles in read_source("nci")[: 3 * n]:
        if len(rows) >= n:
            break
        mol = Chem.MolFromSmiles(smiles)
        if mol is None or mol.GetNumHeavyAtoms() < 8 or len(Chem.GetMolFrags(mol)) > 1:
            continue
        try:
            ref = MolFromInchi(Chem.MolToInchi(mol))
            t = time.perf_counter()
            few = new_conformation(ref, ENERGY_CONFORMERS, 0)["energies"]
            t_few = time.perf_counter() - t
            t = time.perf_counter()
            full = new_conformation(ref, 50, 0)["energies"]
            t_full = time.perf_counter() - t
        except Exception:  # noqa: BLE001 -- PoseBusters cannot build it either: skipped
            continue
        rows.append({"name": name, "heavy_atoms": mol.GetNumHeavyAtoms(),
                     "mean_few": statistics.fmean(few), "mean_50": statistics.fmean(full),
                     "seconds_few": t_few, "seconds_50": t_full})
    return rows


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ensemble", type=int, default=0, metavar="N",
                    help="also compare the ensemble means on N corpus molecules")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one_run(args.one)))
        return 0
    report = {"machine": f"{os.cpu_count()} cores", "load_before": _load(), "molecules": {}}
    print(f"load average {report['load_before']}")
    for name, smiles in MOLECULES.items():
        runs = []
        for _ in range(args.repeats):
            out = subprocess.run([sys.executable, __file__, "--one", smiles], capture_output=True,
                                 text=True, cwd=str(ROOT), check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        report["molecules"][name] = runs

        def med(key, field, runs=runs):
            values = [r[key][field] for r in runs if r[key].get(field) is not None]
            return statistics.median(values), min(values), max(values)

        print(f"\n{name} ({runs[0]['atoms']} atoms), {args.repeats} fresh processes, median (min–max) s:")
        for key, field, label in (("cold", "first_rows_s", "first rows"),
                                  ("cold", "posebusters_quick_s", "PoseBusters quick checks"),
                                  ("cold", "all_s", f"all ({runs[0]['energy_conformers']}-conformer energy)"),
                                  ("next_frame", "all_s", "next frame, all"),
                                  ("previous", "all_s", "previous: PoseBusters 'mol' in process")):
            m, lo, hi = med(key, field)
            print(f"  {label:42s} {m:7.2f}  ({lo:.2f}–{hi:.2f})")
        cold, prev = med("cold", "all_s")[0], med("previous", "all_s")[0]
        print(f"  all vs previous: {cold / prev:.2f}x the time; verdicts "
              f"{sorted({r['cold']['passed'] for r in runs})} vs {sorted({r['previous']['passed'] for r in runs})}")
    if args.ensemble:
        rows = ensemble_study(args.ensemble)
        report["ensemble"] = rows
        dev = [abs(r["mean_few"] / r["mean_50"] - 1) for r in rows if r["mean_50"]]
        speed = sum(r["seconds_50"] for r in rows) / sum(r["seconds_few"] for r in rows)
        print(f"\nensemble means on {len(rows)} NCI molecules: |mean(few)/mean(50) - 1| median "
              f"{100 * statistics.median(dev):.1f} %, max {100 * max(dev):.1f} %; the 50-conformer "
              f"ensemble took {speed:.1f}x as long")
    report["load_after"] = _load()
    print(f"\nload average after: {report['load_after']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
