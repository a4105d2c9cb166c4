"""``python -m engine sample``: conformers from the diffusion model (the contract of docs/math.md §6)."""
from __future__ import annotations

import argparse
import sys

from engine.commands._exit import error
from engine.commands._output import (
    ConformerWriter,
    add_common_arguments,
    add_fragment_argument,
    check_common_arguments,
)
from engine.commands._progress import add_quiet_argument
from engine.sampling.settings import STEREO_MODES, TIME_GRIDS, SamplingSettings

DEFAULTS = SamplingSettings()      # sample's defaults (engine.defaults, through the settings)

HELP = "Generate conformers with the graph-diffusion model for every molecule of a .smi/.sdf file."

def settings_from_args(args) -> SamplingSettings:
    """Everything that decides the conformers of ``sample`` (``engine.sampling.settings``):
    passed to ``generate_conformers`` and written as ``gdapp_<field>`` on every output
    record. A new sampling option only needs a field there (and its argument here)."""
    from dataclasses import fields

    return SamplingSettings(**{f.name: getattr(args, f.name) for f in fields(SamplingSettings)
                               if hasattr(args, f.name)})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, "generated")
    parser.add_argument("--steps", type=int, default=DEFAULTS.steps, metavar="N",
                        help="reverse steps (default %(default)s)")
    parser.add_argument("--sampler", default=DEFAULTS.sampler,
                        help="ddim | ancestral | pc | heun | adaptive (default %(default)s)")
    parser.add_argument("--time-grid", default=DEFAULTS.time_grid, choices=TIME_GRIDS,
                        help="the sampler's times: uniform in t, quadratic, or sigma (even in the "
                             "noise level sqrt(B(t)): the app's Denoise; default %(default)s)")
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="model checkpoint (default: the pretrained model shipped with the package)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=256, metavar="B",
                        help="structures sampled together (default %(default)s)")
    parser.add_argument("--chunk", type=int, default=64, metavar="M",
                        help="input molecules read and written per round (default %(default)s)")
    parser.add_argument("--guidance", type=float, default=DEFAULTS.guidance, metavar="W",
                        help="weight of the chemical energy (distance bounds, planarity, stereo) that "
                             "steers the network's estimate late in sampling (0 = off, default %(default)s)")
    parser.add_argument("--guidance-start", type=float, default=DEFAULTS.guidance_start, metavar="T",
                        help="the energy guidance acts at sampler times t <= T (default %(default)s)")
    parser.add_argument("--alignment", type=float, default=DEFAULTS.alignment, metavar="W",
                        help="steer the bonds towards the input's bond directions (the app's lambda_A; "
                             "needs 3D input, e.g. an SDF; larger = nearer the input pose; default 0 = off)")
    parser.add_argument("--smoothness", type=float, default=DEFAULTS.smoothness, metavar="W",
                        help="graph smoothness on the three-bond graph late in the run (the app's "
                             "lambda_G: straighter chains, more extended conformers; default 0 = off)")
    parser.add_argument("--polish", type=int, default=DEFAULTS.polish, metavar="ITERS",
                        help="L-BFGS iterations on the chemical energy for every sample, on the model's "
                             "device (0 = off, default %(default)s)")
    parser.add_argument("--expansion", type=float, default=DEFAULTS.expansion, metavar="F",
                        help="scale the network's estimates about each molecule's centroid by F over "
                             "the run (F^(1/steps) per step), against the trained network's too "
                             "compact estimates (1 = off, default %(default)s)")
    parser.add_argument("--mirror-images", action=argparse.BooleanOptionalAction,
                        default=DEFAULTS.mirror_images,
                        help="for a molecule without chirality tags, draw ceil(0.8 K) samples and write "
                             "the K most diverse (MaxMin on heavy-atom RMSD) of them and their mirror "
                             "images, equally valid conformers of it (default on; --no-mirror-images: "
                             "K samples)")
    parser.add_argument("--relax", type=int, default=DEFAULTS.relax, metavar="ITERS",
                        help="then minimise each conformer with up to ITERS MMFF94 iterations (UFF "
                             "where MMFF has no parameters; RDKit, on the CPU; 0 = off, default "
                             "%(default)s)")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="torch threads on the CPU (default 0 = torch's default, all cores: 1.5x "
                             "faster than 1 thread on an idle 2-core machine; use 1 when other jobs "
                             "share the cores: there 2 threads ran 5x slower)")
    parser.add_argument("--stereo", default=DEFAULTS.stereo, choices=STEREO_MODES,
                        help="check stereo against the input: reflect mirror images, flip back centres "
                             "MMFF inverted and resample the rest (fix), resample every violation "
                             "(reject), or keep all (ignore)")
    # salts and mixtures, progress, sharding (issue 14)
    add_fragment_argument(parser)
    add_quiet_argument(parser)
    parser.add_argument("--shard", metavar="K/N",
                        help="sample only shard K of N (1-based; blocks of --chunk molecules by input "
                             "index); merge the shards with `python -m engine merge`. Under torchrun "
                             "the shard comes from RANK/WORLD_SIZE")


def run(args) -> int:
    from engine.commands._fragments import expand, write_back
    from engine.commands._progress import Progress, count_inputs
    from engine.commands._provenance import conformer_results, model_provenance, settings_provenance
    from engine.commands._shard import ShardError, in_shard, parse_shard, shard_from_env, shard_output, shard_size
    from engine.errors import EngineError
    from engine.io import iter_molecules
    from engine.models.denoiser import default_checkpoint, load_denoiser
    from engine.sampling.generate import GenerationReport, generate_conformers

    problem = check_common_arguments(args)
    settings = None
    if problem is None:
        try:
            settings = settings_from_args(args).check(as_flags=True)     # names the flag that is wrong
        except EngineError as exc:
            problem = str(exc)
    if problem is None and args.threads < 0:
        problem = f"--threads must be >= 0, got {args.threads}"
    if problem is None and args.chunk < 1:
        problem = f"--chunk must be >= 1, got {args.chunk}"
    shard, out_path = None, args.out
    if problem is None:
        try:
            shard = parse_shard(args.shard) if args.shard else shard_from_env()
        except ShardError as exc:
            problem = str(exc)
        if shard is not None and not args.shard:
            out_path = shard_output(args.out, shard)
    if problem:
        return error(problem)
    if args.threads > 0:
        import torch
        torch.set_num_threads(args.threads)
    try:
        model = load_denoiser(args.checkpoint, args.device)
    except EngineError as exc:
        return error(exc)
    out = ConformerWriter(out_path, "sample" if shard is None else f"sample (shard {shard[0]}/{shard[1]})")
    out.allow_empty = shard is not None
    out.provenance = {**model_provenance(args.checkpoint or default_checkpoint()), **settings_provenance(settings)}
    progress = Progress(out.label, shard_size(count_inputs(args.input), args.chunk, shard), quiet=args.quiet)
    out.progress = progress
    report = GenerationReport()
    chunk: list = []

    assert settings is not None               # checked above (problem is None)

    def finish(mol):
        conformer_results(mol, energy=settings.relax > 0, stereo=settings.stereo != "ignore")

    def flush():
        items, jobs, keys = expand(chunk, args.keep_fragments)
        results = generate_conformers(jobs, args.num_confs, model, settings,
                                      batch_size=args.batch_size, report=report, keys=keys)
        for job, message in sorted(report.warnings.items()):    # e.g. no chemical energy
            out.warn(keys[job][0], message)
        report.warnings.clear()
        before = out.conformers
        write_back(items, results, out, finish)
        progress.update(len(items), out.conformers - before)
        chunk.clear()

    try:
        for item in iter_molecules(args.input):
            if not in_shard(item[0], args.chunk, shard):
                continue
            if chunk and item[0] // args.chunk != chunk[0][0] // args.chunk:
                flush()
            out.inputs += 1
            chunk.append(item)
        if chunk:
            flush()
    except EngineError as exc:
        progress.close()
        out.close()
        return error(exc)
    progress.close()
    if report.stereo_reflected or report.stereo_resampled or report.stereo_unfixed:
        print(f"sample: stereo: {report.stereo_reflected} reflected, {report.stereo_resampled} resampled, "
              f"{report.stereo_unfixed} kept with wrong stereo", file=sys.stderr)
    if report.amides_turned:
        print(f"sample: {report.amides_turned} conformers had a cis secondary amide; it was turned trans "
              "and minimised again", file=sys.stderr)
    if report.relax_flipped:
        print(f"sample: MMFF94 inverted stereocentres of {report.relax_flipped} strained conformers; "
              f"they were flipped back and minimised again", file=sys.stderr)
    if report.relax_undone:
        print(f"sample: MMFF94 inverted a stereocentre of {report.relax_undone} strained conformers; "
              f"they were written as polished, without MMFF", file=sys.stderr)
    return out.close()
