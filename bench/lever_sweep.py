"""Paired training runs of the network options (issue 25), scored on their raw samples.

Each lever is ``resources/configs/base.yaml`` with a few keys changed (``LEVERS``), trained
for the same number of steps (``--steps``, the LR schedule decays to it) on the same corpus
with the same seed and data order, one process, one torch thread; every checkpoint then
samples the same validation-split molecules raw (``bench/raw_samples.py``: nothing but the
network acts) at each ``--sample-steps``.

    # train what is missing (a run whose checkpoint reached --steps is kept), then score:
    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python bench/lever_sweep.py --corpus CORPUS \\
        --levers base,sc,v,global --steps 2000 --work runs/levers --out runs/levers/table.md

``--corpus`` is a built corpus; ``--partial-of BUILD_DIR --shards K`` instead makes one
from the first K finished shards of a corpus still being built (``python -m engine data
build``): the same molecules and conformers, each in the split the full corpus's scaffold
split gives it (``bench/conformer_targets.py``'s held-out molecules are never trained on).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

# name -> (description, {"section.key": value}); model kwargs merge into base.yaml's
LEVERS = {
    "base": ("base.yaml (ε, EGNN 64 × 4)", {}),
    "sc": ("self-conditioning", {"model.self_cond": True}),
    "v": ("v / EDM preconditioning, unit weight", {"model.parameterization": "v"}),
    "v_minsnr": ("v + Min-SNR-5", {"model.parameterization": "v", "loss.weighting": "min_snr"}),
    "global": ("virtual node (global context)", {"model.global_context": True}),
    "wide": ("capacity: 96 × 6", {"model.hidden": 96, "model.layers": 6}),
    "sc_v": ("self-cond + v", {"model.self_cond": True, "model.parameterization": "v"}),
    "sc_v_global": ("self-cond + v + virtual node",
                    {"model.self_cond": True, "model.parameterization": "v", "model.global_context": True}),
    "sc_global": ("self-cond + virtual node", {"model.self_cond": True, "model.global_context": True}),
}


def partial_corpus(build_dir: Path, shards: int, out: Path) -> Path:
    """A corpus of the first ``shards`` finished shards of ``build_dir`` (see the module
    docstring); the split of each molecule is the full scaffold split's."""
    from engine.data.config import load_corpus_config
    from engine.data.corpus import select_molecules
    from engine.data.shards import read_shard
    from engine.data.split import scaffold_split

    if (out / "corpus.json").is_file():
        return out
    cfg = load_corpus_config(ROOT / "resources/configs/data_full.yaml")
    smiles, _ = select_molecules(cfg)
    parts = scaffold_split(list(enumerate(smiles)), tuple(cfg.split), cfg.seed)
    where = {i: name for name, idx in parts.items() for i in idx}
    (out / "shards").mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    n_ok = 0
    for k in range(shards):
        src = build_dir / "shards" / f"shard_{k:05d}.zip"
        if not src.is_file():
            raise SystemExit(f"{src} is not built yet")
        dst = out / "shards" / src.name
        if not dst.exists():
            os.symlink(src.resolve(), dst)
        meta, _ = read_shard(src)
        for r in meta["records"]:     # r["index"]: the molecule's place in the selection
            if r["status"] == "ok":
                splits[where[r["index"]]].append(r["index"])
                n_ok += 1
    (out / "splits.json").write_text(json.dumps({k: sorted(v) for k, v in splits.items()}))
    (out / "corpus.json").write_text(json.dumps({
        "key": f"partial-{shards}-of-{build_dir.name}", "format": 1, "num_shards": shards,
        "molecules_ok": n_ok, "split_sizes": {k: len(v) for k, v in splits.items()},
        "note": f"first {shards} shards of {build_dir}; splits of the full scaffold split"}))
    return out


def lever_config(name: str, corpus: Path, steps: int):
    from engine.training.config import config_from_dict, config_to_dict, load_config

    cfg = load_config(ROOT / "resources" / "configs" / "base.yaml")
    raw = config_to_dict(cfg)
    raw["data"].update(cache_dir=str(corpus.resolve()), corpus_config=None, num_workers=0)
    raw["optim"]["total_steps"] = steps
    raw["run"].update(val_every=max(1, steps // 4), ckpt_every=250, threads=1)
    for key, value in LEVERS[name][1].items():
        section, field = key.split(".")
        if section == "model":
            raw["model"]["kwargs"][field] = value
        else:
            raw[section][field] = value
    return config_from_dict(raw, source=f"lever {name}")


def train(name: str, corpus: Path, steps: int, work: Path) -> Path:
    from engine.models.checkpoint import load_checkpoint
    from engine.training.trainer import Trainer

    out = work / name
    resume = (out / "checkpoint.pt").is_file()
    if resume and load_checkpoint(out / "checkpoint.pt")["step"] >= steps:
        return out
    started = time.perf_counter()
    result = Trainer(lever_config(name, corpus, steps), out, resume=resume).run()
    print(f"{name}: {result} in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return out


def val_curve(run: Path) -> list[tuple[int, float]]:
    with open(run / "log.csv", newline="") as fh:
        return [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(fh) if r["kind"] == "val"]


def train_seconds(run: Path) -> float:
    with open(run / "log.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["kind"] == "train" and r["elapsed_s"]]
    return float(rows[-1]["elapsed_s"]) if rows else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path)
    ap.add_argument("--partial-of", type=Path, help="a corpus build folder (shards/)")
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--levers", default="base,sc,v,global")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "levers")
    ap.add_argument("--no-train", action="store_true", help="score the runs that exist")
    ap.add_argument("--extra", action="append", default=[], metavar="LABEL=CHECKPOINT",
                    help="also score this checkpoint (e.g. the shipped model)")
    ap.add_argument("--no-score", action="store_true")
    ap.add_argument("--molecules", type=int, default=60)
    ap.add_argument("--num-confs", type=int, default=5)
    ap.add_argument("--sample-steps", default="2,10,50")
    ap.add_argument("--pb-molecules", type=int, default=10)
    ap.add_argument("--smiles", type=Path, default=ROOT / "runs" / "raw_bench" / "held_out_val.smi")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    corpus = args.corpus
    if args.partial_of is not None:
        corpus = partial_corpus(args.partial_of, args.shards, args.work / f"corpus_{args.shards}shards")
    names = [n for n in args.levers.split(",") if n]
    for n in names:
        if n not in LEVERS:
            raise SystemExit(f"unknown lever {n!r}; known: {', '.join(LEVERS)}")
    if not args.no_train:
        for n in names:
            train(n, corpus, args.steps, args.work)
    if args.no_score:
        return 0

    from raw_samples import RAW, held_out_smiles, measure, references

    from engine.defaults import DEFAULT_SAMPLER
    from engine.models.denoiser import load_denoiser

    smiles = held_out_smiles(args.smiles, args.molecules)
    refs = references(smiles, 5, args.smiles.with_name(f"refs_{len(smiles)}x5.sdf"))
    rows = json.loads(args.json.read_text()) if args.json and args.json.is_file() else []
    done = {(r["lever"], r["setting"]) for r in rows}
    jobs = [(n, LEVERS[n][0], args.work / n / "checkpoint.pt") for n in names]
    for item in args.extra:
        label, _, path = item.partition("=")
        jobs.append((label, "", Path(path)))
    for n, description, ckpt in jobs:
        if not ckpt.is_file():
            continue
        model = load_denoiser(ckpt, "cpu")
        run = ckpt.parent
        curve = val_curve(run) if (run / "log.csv").is_file() else []
        for steps in [int(s) for s in args.sample_steps.split(",")]:
            setting = f"raw, {DEFAULT_SAMPLER} {steps}"
            if (n, setting) in done:
                continue
            row = measure(n, model, smiles, refs, args.num_confs, setting,
                          dict(RAW, sampler=DEFAULT_SAMPLER, steps=steps), 0, args.pb_molecules)
            row.update(lever=n, description=description, val=curve[-1][1] if curve else float("nan"),
                       train_s=train_seconds(run) if curve else float("nan"))
            rows.append(row)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=1))
    lines = [f"{len(smiles)} validation-split molecules × {args.num_confs} raw samples (ancestral; "
             f"PoseBusters on the first {args.pb_molecules}); corpus {corpus}; {args.steps} steps each.", "",
             "| lever | val ε-MSE | training s | sampling | Rg / refs | bonds ±10 % (all / heavy) | PB-valid "
             "| AMR-R (Å) | COV-R |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        label = f"{r['lever']}: {r['description']}" if r["description"] else r["lever"]
        lines.append(f"| {label} | {r['val']:.4f} | {r['train_s']:.0f} | "
                     f"{r['setting'].split(', ')[1]} | {r['rg']:.3f} | {r['bonds']:.3f} / {r['bonds_heavy']:.3f} | "
                     f"{r['posebusters']:.2f} | {r['amr_r']:.3f} | {r['cov_r']:.3f} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
