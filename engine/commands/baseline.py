"""``python -m engine baseline``: RDKit ETKDGv3 (+ MMFF94) conformers, the reference method."""
from __future__ import annotations

import argparse
import sys

from engine.commands._output import (EXIT_USAGE, ConformerWriter, add_common_arguments,
                                     check_common_arguments, input_name)

HELP = "RDKit ETKDGv3 (+ MMFF94) conformers for every molecule of a .smi/.sdf file (the baseline)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, "ETKDG")
    parser.add_argument("--seed", type=int, default=0xF00D, help="ETKDG random seed (default %(default)s)")
    parser.add_argument("--no-mmff", action="store_true", help="skip the MMFF94 optimisation")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="threads for ETKDG and MMFF (0 = all cores, default)")


def run(args) -> int:
    from engine.errors import EngineError
    from engine.io import iter_molecules
    from engine.metrics.baselines import etkdg_conformers

    problem = check_common_arguments(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        out = ConformerWriter(args.out, "baseline")
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        for index, mol, error in iter_molecules(args.input):
            out.inputs += 1
            if mol is None:
                out.fail(index, str(error) if error else "could not be read")
                continue
            try:
                confs = etkdg_conformers(mol, args.num_confs, seed=args.seed,
                                         mmff=not args.no_mmff, num_threads=args.threads)
            except EngineError as exc:
                out.fail(index, str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - RDKit raises assorted errors
                out.fail(index, f"{type(exc).__name__}: {exc}")
                continue
            out.write(confs, input_name(mol), index)
    except EngineError as exc:  # the whole file is unusable (missing, unknown format)
        out.close()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return out.close()
