"""Paired training recipes of the molecule model, compared on the held-out split.

Each recipe is ``resources/configs/base.yaml`` with a few process settings changed, trained
for the same number of steps (``--steps``, the LR schedule decays to it) on the same corpus
with the same seed. Every trained checkpoint then samples the same test-split molecules
(2K conformers for K references) with each sampler given, and the table reports:
validation ε-MSE (comparable only between runs of the same process), COV-R / AMR-R (heavy
atoms, δ = 0.75 Å), PoseBusters validity on the first ``--pb-molecules``, the radius of
gyration of the samples over that of the references (global size; < 1 = too compact) and
the share of bonds within 10 % of the references' mean length (local geometry).

    .venv/bin/python bench/recipe_sweep.py --corpus .cache/corpus_full --train --steps 2000 \\
        --work runs/sw --out docs/recipe_sweep.md
    # evaluate existing runs only (a folder per recipe with checkpoint.pt and log.csv):
    .venv/bin/python bench/recipe_sweep.py --corpus .cache/corpus_full --work runs/sw \\
        --extra "session-1 model, 6,000 steps=runs/ship6k" --out docs/recipe_sweep.md
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from geometry import radius_of_gyration  # noqa: E402  (bench/ on the path first)

# name -> overrides of base.yaml's process section (the other sections as in base.yaml)
RECIPES = {
    "A": ("linear β 0.1..20, λ = 0 (first shipped recipe)",
          dict(schedule="linear", lam=0.0, beta_max=20.0)),
    "B": ("cosine B(1) = 10, λ = 0", dict(schedule="cosine", lam=0.0)),
    "C": ("linear β 0.1..20, λ = 0.5", dict(schedule="linear", lam=0.5, beta_max=20.0)),
    "D": ("linear β 0.1..40, λ = 0", dict(schedule="linear", lam=0.0, beta_max=40.0)),
    "E": ("cosine B(1) = 10, λ = 0.5", dict(schedule="cosine", lam=0.5)),
    "F": ("cosine B(1) = 10, λ = 1", dict(schedule="cosine", lam=1.0)),
}


def train(name: str, overrides: dict, corpus: Path, steps: int, work: Path) -> Path:
    from engine.training.config import load_config
    from engine.training.trainer import Trainer

    cfg = load_config(ROOT / "resources" / "configs" / "base.yaml")
    cfg.data.cache_dir = str(corpus.resolve())
    cfg.data.corpus_config = None
    for key, value in overrides.items():
        setattr(cfg.process, key, value)
    cfg.optim.total_steps = steps
    cfg.run.val_every = max(1, steps // 4)
    out = work / name
    Trainer(cfg, out).run()
    return out


def last_val(run: Path) -> float:
    with open(run / "log.csv", newline="") as fh:
        vals = [float(r["loss"]) for r in csv.DictReader(fh) if r["kind"] == "val"]
    return vals[-1] if vals else float("nan")


def shape_metrics(refs, gens):
    """(Rg generated / Rg reference, share of bonds within 10 % of the reference mean)."""
    ratios, devs = [], []
    for (_, ref), gen in zip(refs, gens):
        if isinstance(gen, Exception) or gen is None:
            continue
        rx = np.stack([c.GetPositions() for c in ref.GetConformers()])
        r_ref = np.mean([radius_of_gyration(x) for x in rx])
        bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in ref.GetBonds()])
        d_ref = np.linalg.norm(rx[:, bonds[:, 0]] - rx[:, bonds[:, 1]], axis=-1).mean(0)
        for c in gen.GetConformers():
            x = c.GetPositions()
            ratios.append(radius_of_gyration(x) / r_ref)
            d = np.linalg.norm(x[bonds[:, 0]] - x[bonds[:, 1]], axis=-1)
            devs.append(np.abs(d - d_ref) / d_ref)
    devs = np.concatenate(devs) if devs else np.array([np.nan])
    return float(np.mean(ratios)), float(np.mean(devs < 0.10))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--work", default="runs/recipe_sweep")
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--train", action="store_true", help="train the recipes first")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--extra", action="append", default=[], metavar="LABEL=RUN_DIR",
                    help="also evaluate this run (its checkpoint.pt and log.csv)")
    ap.add_argument("--samplers", default="ancestral:50,ddim:20")
    ap.add_argument("--molecules", type=int, default=16)
    ap.add_argument("--pb-molecules", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", help="write the markdown table here")
    ap.add_argument("--json", help="write the numbers here")
    ap.add_argument("--merge", help="rows of an earlier --json run to put first in the table")
    args = ap.parse_args(argv)

    import torch
    from conformers import load_references, score

    from engine.errors import EngineError
    from engine.models.denoiser import load_denoiser
    from engine.sampling.generate import generate_conformers

    torch.set_num_threads(args.threads)
    corpus, work = Path(args.corpus), Path(args.work)
    runs = []
    for name in [n for n in args.recipes.split(",") if n]:
        label, overrides = RECIPES[name]
        if args.train:
            train(name, overrides, corpus, args.steps, work)
        runs.append((f"{name}: {label}", work / name))
    for item in args.extra:
        label, path = item.rsplit("=", 1)
        runs.append((label, Path(path)))

    refs = load_references(corpus, "test", args.molecules, 80)
    ks = [ref.GetNumConformers() for _, ref in refs]
    from rdkit import Chem
    inputs = [Chem.MolFromSmiles(s) for s, _ in refs]
    rows = json.loads(Path(args.merge).read_text()) if args.merge else []
    for label, run in runs:
        model = load_denoiser(run / "checkpoint.pt", "cpu")
        for spec in args.samplers.split(","):
            sampler, steps = spec.split(":")
            start = time.perf_counter()
            gens = [None] * len(refs)
            try:
                for k in sorted(set(ks)):
                    idx = [i for i, kk in enumerate(ks) if kk == k]
                    out = generate_conformers([inputs[i] for i in idx], 2 * k, model, sampler=sampler,
                                              steps=int(steps), seed=2)
                    for i, g in zip(idx, out):
                        gens[i] = g
            except EngineError as exc:          # e.g. the network diverged on a sample
                rows.append(dict(run=label, sampler=f"{sampler} {steps}", val=last_val(run),
                                 error=str(exc)))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
                continue
            seconds = time.perf_counter() - start
            q = score(refs, gens, 0.75, args.pb_molecules, 1)
            rg, bonds = shape_metrics(refs, gens)
            rows.append(dict(run=label, sampler=f"{sampler} {steps}", val=last_val(run),
                             cov_r=q.get("cov_r"), amr_r=q.get("amr_r"), pb=q["posebusters"],
                             rg=rg, bonds=bonds, seconds=seconds))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    lines = [f"Test split: {len(refs)} molecules, {sum(ks)} reference conformers, 2K generated "
             f"each; PoseBusters on the first {args.pb_molecules}; 1 torch thread.", "",
             "| recipe | sampler | val ε-MSE | COV-R | AMR-R (Å) | PoseBusters | Rg gen/ref | bonds within 10 % |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r.get("error"):
            lines.append(f"| {r['run']} | {r['sampler']} | {r['val']:.4f} | failed: {r['error']} | | | | |")
            continue
        lines.append(f"| {r['run']} | {r['sampler']} | {r['val']:.4f} | {r['cov_r']:.3f} | "
                     f"{r['amr_r']:.3f} | {r['pb']:.2f} | {r['rg']:.3f} | {r['bonds']:.2f} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
