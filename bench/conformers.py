"""Conformer quality and speed on the held-out scaffold split, next to ETKDGv3 + MMFF.

For each test-split molecule of a built corpus the stored conformers (ETKDGv3 + MMFF,
K per molecule) are the reference ensemble; every method generates 2K conformers. The
table reports COV-R / AMR-R / COV-P / AMR-P (heavy-atom, symmetry-aware RMSD, δ from
``--threshold``), the share of conformers passing PoseBusters' "mol" checks (on the first
``--pb-molecules`` molecules, PoseBusters costs ~0.1–0.3 s a conformer) and conformers
per second. ETKDG + MMFF is measured in the same run, on the same molecules.

    .venv/bin/python bench/conformers.py --corpus .cache/corpus_full --molecules 40 \
        --samplers ddim,heun --steps 5,10,20 --json docs/bench_conformers.json --plots docs

A second table measures conformers per second against batch size (one sampler, one step
count), the rate that large batches buy.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def load_references(corpus: Path, split: str, limit: int, max_atoms: int):
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    from engine.data.dataset import ConformerDataset

    ds = ConformerDataset(corpus, split, max_atoms=max_atoms)
    refs = []
    for i in range(len(ds)):
        if len(refs) >= limit:
            break
        smiles = ds._entries[i][1]
        mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
        confs = ds.conformers(i)
        if mol.GetNumAtoms() != confs.shape[1]:
            continue
        for xyz in confs:
            conf = Chem.Conformer(mol.GetNumAtoms())
            for a, p in enumerate(xyz):
                conf.SetAtomPosition(a, Point3D(*map(float, p)))
            mol.AddConformer(conf, assignId=True)
        refs.append((smiles, mol))
    return refs


def score(refs, gens, threshold, pb_molecules, workers):
    from engine.metrics.rmsd import aggregate_metrics, coverage_metrics, rmsd_matrix
    from engine.metrics.validity import posebusters_pass

    per_mol = []
    for (_, ref), gen in zip(refs, gens):
        if isinstance(gen, Exception) or gen is None or gen.GetNumConformers() == 0:
            continue
        per_mol.append(coverage_metrics(rmsd_matrix(ref, gen), threshold))
    agg = aggregate_metrics(per_mol) if per_mol else {"mean": {}}
    pb_mols = [g for g in gens[:pb_molecules] if not isinstance(g, Exception) and g is not None]
    pb = posebusters_pass(pb_mols, workers=workers)[0] if pb_mols and pb_molecules > 0 else float("nan")
    return dict(agg["mean"], posebusters=pb, molecules=len(per_mol))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, help="a built corpus directory (python -m engine data build)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--molecules", type=int, default=40)
    ap.add_argument("--max-atoms", type=int, default=80)
    ap.add_argument("--checkpoint", default=None, help="default: the shipped model")
    ap.add_argument("--samplers", default="ddim,ancestral,pc,heun,adaptive")
    ap.add_argument("--steps", default="5,10,20")
    ap.add_argument("--batch-sizes", default="16,64,256,1024")
    ap.add_argument("--threshold", type=float, default=0.75)
    ap.add_argument("--pb-molecules", type=int, default=15)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--relax", type=int, default=None,
                    help="MMFF94 iterations after the polish (0 = off; default: sample's default)")
    ap.add_argument("--seed", type=int, default=2, help="sampling seed (default %(default)s)")
    ap.add_argument("--expansion", type=float, default=None,
                    help="factor of the network's estimates over the run (default: sample's)")
    ap.add_argument("--json")
    ap.add_argument("--plots", help="folder for quality_vs_steps.png and speed_vs_batch.png")
    args = ap.parse_args()

    import torch
    from rdkit import Chem

    from engine.metrics.baselines import etkdg_conformers
    from engine.models.denoiser import load_denoiser
    from engine.sampling.generate import generate_conformers

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.relax is None:
        from engine.defaults import DEFAULT_RELAX_STEPS

        args.relax = DEFAULT_RELAX_STEPS
    if args.expansion is None:
        from engine.defaults import DEFAULT_EXPANSION

        args.expansion = DEFAULT_EXPANSION
    refs = load_references(Path(args.corpus), args.split, args.molecules, args.max_atoms)
    if not refs:
        sys.exit(f"no molecules in the {args.split} split of {args.corpus}")
    ks = [ref.GetNumConformers() for _, ref in refs]
    print(f"{len(refs)} {args.split}-split molecules, {sum(ks)} reference conformers "
          f"(K = {min(ks)}..{max(ks)}), generating 2K each", file=sys.stderr)
    model = load_denoiser(args.checkpoint, args.device)
    inputs = [Chem.MolFromSmiles(s) for s, _ in refs]
    rows = []

    # ---- the reference method, same molecules, same count
    start = time.perf_counter()
    base = []
    for (_s, ref), mol in zip(refs, inputs):
        try:
            base.append(etkdg_conformers(mol, 2 * ref.GetNumConformers(), seed=1, num_threads=0))
        except Exception as exc:  # noqa: BLE001
            base.append(exc)
    dt = time.perf_counter() - start
    n = sum(m.GetNumConformers() for m in base if not isinstance(m, Exception))
    rows.append(dict(method="ETKDGv3 + MMFF", steps=None, seconds=dt, conformers=n, rate=n / dt,
                     **score(refs, base, args.threshold, args.pb_molecules, args.workers)))
    print(f"  ETKDG+MMFF: {n / dt:.1f} conf/s", file=sys.stderr, flush=True)

    # ---- every sampler at every step count (per-molecule K: one call per K value)
    for sampler in args.samplers.split(","):
        for steps in [int(s) for s in args.steps.split(",")]:
            if sampler == "adaptive" and rows[-1]["method"].startswith("adaptive"):
                continue  # step count does not apply
            start = time.perf_counter()
            gens = [None] * len(refs)
            for k in sorted(set(ks)):
                idx = [i for i, kk in enumerate(ks) if kk == k]
                out = generate_conformers([inputs[i] for i in idx], 2 * k, model, sampler=sampler,
                                          steps=steps, seed=args.seed, batch_size=1024, relax=args.relax,
                                          expansion=args.expansion)
                for i, g in zip(idx, out):
                    gens[i] = g
            dt = time.perf_counter() - start
            n = sum(g.GetNumConformers() for g in gens if not isinstance(g, Exception))
            label = sampler + (f" + MMFF {args.relax} it." if args.relax else "")
            rows.append(dict(method=label, steps=steps if sampler != "adaptive" else "auto",
                             seconds=dt, conformers=n, rate=n / dt,
                             **score(refs, gens, args.threshold, args.pb_molecules, args.workers)))
            print(f"  {sampler} {steps}: {n / dt:.1f} conf/s, AMR-R {rows[-1].get('amr_r', float('nan')):.3f}",
                  file=sys.stderr, flush=True)

    # ---- speed against batch size
    speed = []
    pool = [inputs[i % len(inputs)] for i in range(max(int(b) for b in args.batch_sizes.split(",")))]
    for b in [int(x) for x in args.batch_sizes.split(",")]:
        mols = pool[:b]
        start = time.perf_counter()
        out = generate_conformers(mols, 1, model, sampler="ddim", steps=10, seed=3, batch_size=b,
                                  relax=args.relax)
        dt = time.perf_counter() - start
        n = sum(g.GetNumConformers() for g in out if not isinstance(g, Exception))
        speed.append(dict(batch=b, rate=n / dt, seconds=dt))

    etkdg_rate = rows[0]["rate"]
    print(f"\nHeld-out {args.split} split: {len(refs)} molecules, δ = {args.threshold} Å, "
          f"PoseBusters on the first {args.pb_molecules}; device {model.device}\n")
    print("| method | steps | COV-R | AMR-R (Å) | COV-P | AMR-P (Å) | PoseBusters | conformers/s | vs ETKDG+MMFF |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        steps = r['steps'] if r['steps'] is not None else '—'
        print(f"| {r['method']} | {steps} | {r.get('cov_r', float('nan')):.3f} | "
              f"{r.get('amr_r', float('nan')):.3f} | {r.get('cov_p', float('nan')):.3f} | "
              f"{r.get('amr_p', float('nan')):.3f} | "
              f"{r['posebusters']:.2f} | {r['rate']:.1f} | {r['rate'] / etkdg_rate:.2f}x |")
    mmff = f" + MMFF {args.relax} it." if args.relax else ""
    print(f"\n| batch (molecules) | conformers/s (ddim, 10 steps{mmff}) | vs ETKDG+MMFF |")
    print("|---:|---:|---:|")
    for s in speed:
        print(f"| {s['batch']} | {s['rate']:.1f} | {s['rate'] / etkdg_rate:.2f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps({"quality": rows, "speed": speed}, indent=1, default=str))
    if args.plots:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out_dir = Path(args.plots)
        out_dir.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(1, 2, figsize=(10, 4))
        for sampler in args.samplers.split(","):
            pts = [(r["steps"], r["amr_r"], r["cov_r"]) for r in rows
                   if r["method"] == sampler and isinstance(r["steps"], int) and "amr_r" in r]
            if pts:
                ax[0].plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=sampler)
                ax[1].plot([p[0] for p in pts], [p[2] for p in pts], "o-", label=sampler)
        for a, key, name in [(ax[0], "amr_r", "AMR-R (Å)"), (ax[1], "cov_r", "COV-R")]:
            a.axhline(rows[0].get(key, np.nan), color="k", ls="--", label="ETKDG+MMFF")
            a.set_xlabel("steps")
            a.set_ylabel(name)
            a.set_xscale("log")
            a.legend()
        fig.tight_layout()
        fig.savefig(out_dir / "quality_vs_steps.png", dpi=110)
        fig, a = plt.subplots(figsize=(5, 4))
        a.plot([s["batch"] for s in speed], [s["rate"] for s in speed], "o-", label="diffusion (ddim, 10 steps)")
        a.axhline(etkdg_rate, color="k", ls="--", label="ETKDG+MMFF")
        a.set_xscale("log")
        a.set_xlabel("batch size (molecules)")
        a.set_ylabel("conformers / s")
        a.legend()
        fig.tight_layout()
        fig.savefig(out_dir / "speed_vs_batch.png", dpi=110)


if __name__ == "__main__":
    main()
