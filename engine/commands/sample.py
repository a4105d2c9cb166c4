"""``python -m engine sample``: conformers from the diffusion model (SPEC §3)."""
from __future__ import annotations

import argparse
import sys

from engine.commands._output import (EXIT_USAGE, ConformerWriter, add_common_arguments,
                                     check_common_arguments, input_name)
from engine.defaults import DEFAULT_SAMPLER, DEFAULT_STEPS

HELP = "Generate conformers with the graph-diffusion model for every molecule of a .smi/.sdf file."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, "generated")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, metavar="N",
                        help="reverse steps (default %(default)s)")
    parser.add_argument("--sampler", default=DEFAULT_SAMPLER,
                        help="ddim | ancestral | pc | heun | adaptive (default %(default)s)")
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="model checkpoint (default: the pretrained model shipped with the package)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=256, metavar="B",
                        help="structures sampled together (default %(default)s)")
    parser.add_argument("--chunk", type=int, default=64, metavar="M",
                        help="input molecules read and written per round (default %(default)s)")
    parser.add_argument("--relax", type=int, default=0, metavar="ITERS",
                        help="polish each conformer with up to ITERS MMFF94 iterations (0 = off, default)")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="torch threads on the CPU (default 0 = torch's default, all cores: 1.5x "
                             "faster than 1 thread on an idle 2-core machine; use 1 when other jobs "
                             "share the cores: there 2 threads ran 5x slower)")
    parser.add_argument("--stereo", default="fix", choices=["fix", "reject", "ignore"],
                        help="check stereo against the input: reflect mirror images and resample the "
                             "rest (fix), resample every violation (reject), or keep all (ignore)")


def run(args) -> int:
    from engine.errors import EngineError
    from engine.io import iter_molecules
    from engine.sampling.generate import GenerationReport, generate_conformers, load_generation_model
    from engine.sampling.samplers import SAMPLERS

    problem = check_common_arguments(args)
    if problem is None and args.sampler not in SAMPLERS:
        problem = f"unknown sampler {args.sampler!r}; choose one of {', '.join(SAMPLERS)}"
    if problem is None and args.steps < 1:
        problem = f"--steps must be >= 1, got {args.steps}"
    if problem is None and args.threads < 0:
        problem = f"--threads must be >= 0, got {args.threads}"
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if args.threads > 0:
        import torch
        torch.set_num_threads(args.threads)
    try:
        model = load_generation_model(args.checkpoint, args.device)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        out = ConformerWriter(args.out, "sample")
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = GenerationReport()
    chunk: list = []

    def flush():
        mols = [m if m is not None else ValueError(err) for _, m, err in chunk]
        results = generate_conformers(mols, args.num_confs, model, sampler=args.sampler, steps=args.steps,
                                      seed=args.seed + out.inputs, batch_size=args.batch_size,
                                      stereo=args.stereo, relax=args.relax, report=report)
        for (index, mol, err), res in zip(chunk, results):
            if isinstance(res, Exception):
                out.fail(index, str(err) if mol is None and err else str(res))
            else:
                out.write(res, input_name(mol), index)
        chunk.clear()

    try:
        for item in iter_molecules(args.input):
            out.inputs += 1
            chunk.append(item)
            if len(chunk) >= args.chunk:
                flush()
        if chunk:
            flush()
    except EngineError as exc:
        out.close()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if report.stereo_reflected or report.stereo_resampled or report.stereo_unfixed:
        print(f"sample: stereo: {report.stereo_reflected} reflected, {report.stereo_resampled} resampled, "
              f"{report.stereo_unfixed} kept with wrong stereo", file=sys.stderr)
    return out.close()
