"""What the network alone makes: raw samples of one or more checkpoints on held-out molecules.

"Raw" is ``python -m engine sample --guidance 0 --polish 0 --relax 0 --expansion 1
--no-mirror-images --stereo ignore --steps S`` (the default sampler, ancestral): nothing but
the network acts. It runs here in process (``generate_conformers`` with those settings, the
same code path) at every ``--steps`` value, plus the default pipeline (``sample`` with no
flags) unless ``--no-pipeline``.

Molecules: the first ``--molecules`` drug-like molecules (18–35 heavy atoms) of the corpus's
validation scaffold split, as ``bench/conformer_targets.py --held-out val`` writes them
(never trained on; the corpus itself need not be built). References: ``--refs`` ETKDGv3 +
MMFF conformers per molecule under another seed (7), as that script makes them (cached in
``--refs-cache``). Columns, over every generated conformer:

- Rg ratio: radius of gyration of the heavy atoms over the mean of the references' (< 1:
  too compact; the target is 0.95–1.05);
- bonds within 10 %: share of bonds whose length lies within 10 % of the references' mean
  length of that bond (all bonds, hydrogens included; "heavy": bonds between heavy atoms);
- PoseBusters-valid: share of conformers passing PoseBusters' "mol" checks (every conformer
  of the first ``--pb-molecules`` molecules);
- AMR-R / COV-R: heavy-atom, symmetry-aware RMSD against the references (δ = 0.75 Å), the
  means over molecules, as ``bench/conformer_targets.py`` scores them;
- conformers/s: sampling in process (model loaded, RDKit and torch imported), this
  machine, ``--threads`` torch threads.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python bench/raw_samples.py \\
        --checkpoint "shipped=resources/models/molecule_egnn.pt" --molecules 160 --num-confs 10 \\
        --steps 2,10,50 --json runs/raw_shipped.json --out runs/raw_shipped.md
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from geometry import radius_of_gyration  # noqa: E402  (bench/ on the path first)

RAW = dict(guidance=0.0, polish=0, relax=0, expansion=1.0, mirror_images=False, stereo="ignore")


def held_out_smiles(path: Path, molecules: int) -> list[str]:
    """The first ``molecules`` SMILES of the validation split (written to ``path`` once)."""
    if not path.is_file() or len(path.read_text().splitlines()) < molecules:
        from conformer_targets import write_held_out

        path.parent.mkdir(parents=True, exist_ok=True)
        write_held_out(path, "val", molecules)
    return [ln.split()[0] for ln in path.read_text().splitlines() if ln.strip()][:molecules]


def references(smiles: list[str], k: int, cache: Path):
    """ETKDGv3 + MMFF references (seed 7, as bench/conformer_targets.py), cached as SDF."""
    from rdkit import Chem

    from engine.metrics.baselines import etkdg_conformers

    if cache.is_file():
        by_index: dict[int, Chem.Mol] = {}
        for rec in Chem.SDMolSupplier(str(cache), removeHs=False):
            i = int(rec.GetProp("index"))
            if i in by_index:
                by_index[i].AddConformer(rec.GetConformer(), assignId=True)
            else:
                by_index[i] = Chem.Mol(rec)
        if len(by_index) >= len(smiles) and all(Chem.MolToSmiles(Chem.RemoveHs(by_index[i]))
                                                == Chem.MolToSmiles(Chem.MolFromSmiles(s))
                                                for i, s in enumerate(smiles)):
            return [by_index[i] for i in range(len(smiles))]
    refs = [etkdg_conformers(Chem.MolFromSmiles(s), k, seed=7, num_threads=1) for s in smiles]
    cache.parent.mkdir(parents=True, exist_ok=True)
    with Chem.SDWriter(str(cache)) as w:
        for i, m in enumerate(refs):
            m.SetProp("index", str(i))
            for c in m.GetConformers():
                w.write(m, confId=c.GetId())
    return refs


def shape_metrics(refs, gens) -> dict:
    """Rg ratio (heavy atoms) and the shares of bonds within 10 % (all / heavy-heavy)."""
    ratios, devs, heavy_devs = [], [], []
    for ref, gen in zip(refs, gens):
        if isinstance(gen, Exception) or gen is None:
            continue
        heavy = np.array([a.GetAtomicNum() > 1 for a in ref.GetAtoms()])
        rx = np.stack([c.GetPositions() for c in ref.GetConformers()])
        r_ref = np.mean([radius_of_gyration(x[heavy]) for x in rx])
        bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in ref.GetBonds()])
        hh = heavy[bonds[:, 0]] & heavy[bonds[:, 1]]
        d_ref = np.linalg.norm(rx[:, bonds[:, 0]] - rx[:, bonds[:, 1]], axis=-1).mean(0)
        for c in gen.GetConformers():
            x = c.GetPositions()
            ratios.append(radius_of_gyration(x[heavy]) / r_ref)
            d = np.linalg.norm(x[bonds[:, 0]] - x[bonds[:, 1]], axis=-1)
            dev = np.abs(d - d_ref) / d_ref
            devs.append(dev)
            heavy_devs.append(dev[hh])
    all_d = np.concatenate(devs) if devs else np.array([np.nan])
    heavy_d = np.concatenate(heavy_devs) if heavy_devs else np.array([np.nan])
    return dict(rg=float(np.mean(ratios)) if ratios else float("nan"),
                bonds=float(np.mean(all_d < 0.10)), bonds_heavy=float(np.mean(heavy_d < 0.10)))


def quality(refs, gens, pb_molecules: int) -> dict:
    from engine.metrics.rmsd import aggregate_metrics, coverage_metrics, rmsd_matrix
    from engine.metrics.validity import posebusters_pass

    per = [coverage_metrics(rmsd_matrix(ref, gen), 0.75) for ref, gen in zip(refs, gens)
           if not isinstance(gen, Exception) and gen is not None and gen.GetNumConformers()]
    agg = aggregate_metrics(per)["mean"] if per else {}
    checked = [g for g in gens[:pb_molecules] if not isinstance(g, Exception) and g is not None]
    pb = posebusters_pass(checked)[0] if checked and pb_molecules > 0 else float("nan")
    return dict(amr_r=agg.get("amr_r", float("nan")), cov_r=agg.get("cov_r", float("nan")),
                posebusters=pb, molecules=len(per),
                failed=sum(isinstance(g, Exception) or g is None for g in gens))


def measure(label, model, smiles, refs, k, setting, options, seed: int, pb_molecules: int) -> dict:
    from rdkit import Chem

    from engine.sampling.generate import GenerationReport, generate_conformers

    mols = [Chem.MolFromSmiles(s) for s in smiles]
    report = GenerationReport()
    start = time.perf_counter()
    gens = generate_conformers(mols, k, model, seed=seed, report=report, **options)
    seconds = time.perf_counter() - start
    n = sum(g.GetNumConformers() for g in gens if not isinstance(g, Exception))
    row = dict(checkpoint=label, setting=setting, seconds=seconds, conformers=n, rate=n / seconds,
               **shape_metrics(refs, gens), **quality(refs, gens, pb_molecules))
    if report.errors:
        row["errors"] = {int(i): e for i, e in report.errors.items()}
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def _options(text: str) -> dict:
    """``"expansion=1.5,steps=4"`` -> ``{"expansion": 1.5, "steps": 4}``."""
    out: dict = {}
    for item in [x for x in text.split(",") if x]:
        key, _, value = item.partition("=")
        try:
            out[key] = int(value)
        except ValueError:
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value
    return out


def table(rows, header: str) -> str:
    lines = [header, "",
             "| checkpoint | sampling | Rg / references | bonds within 10 % (all / heavy) | PoseBusters-valid "
             "| AMR-R (Å) | COV-R | conformers/s |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['checkpoint']} | {r['setting']} | {r['rg']:.3f} | {r['bonds']:.3f} / "
                     f"{r['bonds_heavy']:.3f} | {r['posebusters']:.3f} | {r['amr_r']:.3f} | "
                     f"{r['cov_r']:.3f} | {r['rate']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", action="append", default=[], metavar="LABEL=PATH",
                    help="a checkpoint to measure (repeatable; default: the shipped model)")
    ap.add_argument("--smiles", type=Path, default=ROOT / "runs" / "raw_bench" / "held_out_val.smi")
    ap.add_argument("--refs-cache", type=Path, default=None,
                    help="SDF of the references (default: beside --smiles, per --molecules/--refs)")
    ap.add_argument("--molecules", type=int, default=80)
    ap.add_argument("--num-confs", type=int, default=5)
    ap.add_argument("--refs", type=int, default=5)
    ap.add_argument("--steps", default="2,10,50")
    ap.add_argument("--sampler", default=None, help="default: sample's default (ancestral)")
    ap.add_argument("--no-pipeline", action="store_true", help="skip the default-pipeline row")
    ap.add_argument("--variant", action="append", default=[], metavar="LABEL=KEY=VALUE[,KEY=VALUE]",
                    help="also the pipeline with these generate_conformers options changed, e.g. "
                         "'expansion 1.5=expansion=1.5' (repeatable; numbers as floats/ints)")
    ap.add_argument("--pb-molecules", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--phi-floor", type=float, default=None,
                    help="sample with this guard of Φ⁻¹ instead of engine.defaults' (ε or v network) "
                         "(an experiment: it is patched in this process only)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--out", type=Path, help="write the markdown table here")
    args = ap.parse_args(argv)

    import torch

    from engine.defaults import DEFAULT_SAMPLER
    from engine.models.denoiser import default_checkpoint, load_denoiser

    torch.set_num_threads(args.threads)
    if args.phi_floor is not None:
        import engine.defaults

        engine.defaults.SAMPLING_PHI_FLOOR = engine.defaults.V_SAMPLING_PHI_FLOOR = args.phi_floor
    smiles = held_out_smiles(args.smiles, args.molecules)
    cache = args.refs_cache or args.smiles.with_name(f"refs_{len(smiles)}x{args.refs}.sdf")
    refs = references(smiles, args.refs, cache)
    sampler = args.sampler or DEFAULT_SAMPLER
    checkpoints = args.checkpoint or [f"shipped={default_checkpoint()}"]
    rows = []
    for item in checkpoints:
        label, _, path = item.rpartition("=")
        model = load_denoiser(path, "cpu")
        for steps in [int(s) for s in args.steps.split(",") if s]:
            rows.append(measure(label or path, model, smiles, refs, args.num_confs,
                                f"raw, {sampler} {steps}", dict(RAW, sampler=sampler, steps=steps), args.seed,
                                args.pb_molecules))
        if not args.no_pipeline:
            rows.append(measure(label or path, model, smiles, refs, args.num_confs,
                                "default pipeline", {}, args.seed, args.pb_molecules))
        for v in args.variant:
            name, _, opts = v.partition("=")
            rows.append(measure(label or path, model, smiles, refs, args.num_confs,
                                f"pipeline, {name}", _options(opts), args.seed, args.pb_molecules))
    floor = "" if args.phi_floor is None else f"; sampling floor of Φ⁻¹ {args.phi_floor}"
    header = (f"{len(smiles)} validation-split molecules (18–35 heavy atoms) × {args.num_confs} "
              f"conformers, seed {args.seed}; references: {args.refs} ETKDGv3 + MMFF conformers each "
              f"(seed 7); PoseBusters on every conformer of the first {args.pb_molecules} molecules; "
              f"{args.threads} torch thread(s), in process{floor}. Raw = `--guidance 0 --polish 0 --relax 0 "
              f"--expansion 1 --no-mirror-images --stereo ignore`.")
    text = table(rows, header)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
