"""The conformer targets as a user meets them: `python -m engine sample` with no flags
against `python -m engine baseline` (RDKit ETKDGv3 + MMFF, both cores), each timed from
process start to the written file (imports and model load included), on the same
molecules in the same run.

    .venv/bin/python bench/conformer_targets.py --smiles held_out.smi --molecules 40 \
        --num-confs 10 --json docs/bench_targets.json [--variant "ddim 10=--sampler ddim --steps 10"]

References: an independent ETKDGv3 + MMFF ensemble of ``--refs`` conformers per molecule
(another seed), the way the corpus makes its targets; AMR-R / COV-R (δ = 0.75 Å) of each
method's ``--num-confs`` conformers against it; PoseBusters' "mol" checks on every
conformer. ``--held-out`` writes the first drug-like molecules (18-35 heavy atoms) of the
corpus's validation scaffold split (never trained on) to the ``--smiles`` file first.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_held_out(path: Path, split: str, limit: int) -> None:
    from rdkit import Chem

    from engine.data.config import load_corpus_config
    from engine.data.corpus import select_molecules
    from engine.data.split import scaffold_split

    cfg = load_corpus_config(ROOT / "resources/configs/data_full.yaml")
    smiles, _ = select_molecules(cfg)
    parts = scaffold_split(list(enumerate(smiles)), tuple(cfg.split), cfg.seed)
    out = []
    for i in parts[split]:
        if 18 <= Chem.MolFromSmiles(smiles[i]).GetNumHeavyAtoms() <= 35:
            out.append(f"{smiles[i]} {split}{i}")
        if len(out) >= limit:
            break
    path.write_text("\n".join(out) + "\n")


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=False, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def score(refs, sdf: Path, workers: int, pb_molecules: int) -> dict:
    from rdkit import Chem

    from engine.metrics.rmsd import aggregate_metrics, coverage_metrics, rmsd_matrix
    from engine.metrics.validity import posebusters_pass

    by_index: dict[int, Chem.Mol] = {}
    for rec in Chem.SDMolSupplier(str(sdf), removeHs=False):
        if rec is None:
            continue
        i = int(rec.GetProp("input_index"))
        if i in by_index:
            by_index[i].AddConformer(rec.GetConformer(), assignId=True)
        else:
            by_index[i] = Chem.Mol(rec)
    per = [coverage_metrics(rmsd_matrix(refs[i], m), 0.75) for i, m in sorted(by_index.items())]
    agg = aggregate_metrics(per)["mean"]
    checked = [m for i, m in sorted(by_index.items()) if i < pb_molecules]
    pb = posebusters_pass(checked, workers=workers)[0]
    return dict(amr_r=agg["amr_r"], cov_r=agg["cov_r"], posebusters=pb,
                conformers=sum(m.GetNumConformers() for m in by_index.values()),
                molecules=len(by_index))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smiles", required=True, type=Path)
    ap.add_argument("--held-out", choices=["val", "test"], help="write this split's molecules first")
    ap.add_argument("--molecules", type=int, default=40)
    ap.add_argument("--num-confs", type=int, default=10)
    ap.add_argument("--refs", type=int, default=5)
    ap.add_argument("--variant", action="append", default=[],
                    help="'LABEL=sample options' to measure besides the default (repeatable)")
    ap.add_argument("--pb-molecules", type=int, default=20,
                    help="PoseBusters on every conformer of the first N molecules (~4 s a molecule)")
    ap.add_argument("--workers", type=int, default=1, help="PoseBusters processes (a pool ran slower here)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    if args.held_out:
        write_held_out(args.smiles, args.held_out, args.molecules)
    from rdkit import Chem

    from engine.metrics.baselines import etkdg_conformers

    lines = [ln for ln in args.smiles.read_text().splitlines() if ln.strip()][: args.molecules]
    smi = Path("/tmp") / f"gdapp_targets_{args.smiles.stem}.smi"
    smi.write_text("\n".join(lines) + "\n")
    refs = [etkdg_conformers(Chem.MolFromSmiles(ln.split()[0]), args.refs, seed=7, num_threads=0)
            for ln in lines]
    py = sys.executable
    n = args.num_confs
    runs = [("ETKDGv3 + MMFF", [py, "-m", "engine", "baseline", str(smi), "--num-confs", str(n), "--quiet"]),
            ("default (no flags)", [py, "-m", "engine", "sample", str(smi), "--num-confs", str(n), "--quiet"])]
    for v in args.variant:
        label, _, opts = v.partition("=")
        runs.append((label, [py, "-m", "engine", "sample", str(smi), "--num-confs", str(n), "--quiet",
                             *shlex.split(opts)]))
    rows = []
    for label, cmd in runs:
        out = Path("/tmp") / f"gdapp_targets_{len(rows)}.sdf"
        seconds = timed(cmd + ["--out", str(out)])
        row = dict(method=label, command=" ".join(["python"] + cmd[1:]), seconds=seconds,
                   **score(refs, out, args.workers, args.pb_molecules))
        row["rate"] = row["conformers"] / seconds
        rows.append(row)
        print(f"  {label}: {row['rate']:.1f} conf/s, AMR-R {row['amr_r']:.3f}, PB {row['posebusters']:.2f}",
              file=sys.stderr, flush=True)
    base = rows[0]
    print(f"\n{len(lines)} molecules x {n} conformers; references: {args.refs} ETKDGv3 + MMFF conformers "
          f"each (another seed); PoseBusters on the first {args.pb_molecules} molecules' conformers; "
          f"speed from process start to the written file\n")
    print("| setting | AMR-R (Å) | vs ETKDG | COV-R @0.75 Å | vs ETKDG | PoseBusters-valid | conformers/s "
          "| vs ETKDG+MMFF |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['method']} | {r['amr_r']:.3f} | {r['amr_r'] / base['amr_r']:.2f}x | {r['cov_r']:.3f} | "
              f"{r['cov_r'] / base['cov_r']:.2f}x | {r['posebusters']:.3f} | {r['rate']:.1f} | "
              f"{r['rate'] / base['rate']:.2f}x |")
    print("\nTargets: PoseBusters >= 0.95, AMR-R <= 1.15x, COV-R >= 0.9x, conformers/s >= 1.0x ETKDG+MMFF.")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
