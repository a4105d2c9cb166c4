"""``python -m engine baseline``: RDKit ETKDGv3 (+ MMFF94) conformers, the reference method."""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from engine.commands._exit import error
from engine.commands._output import (
    ConformerWriter,
    add_common_arguments,
    add_fragment_argument,
    check_common_arguments,
)
from engine.commands._progress import add_quiet_argument

HELP = "RDKit ETKDGv3 (+ MMFF94) conformers for every molecule of a .smi/.sdf file (the baseline)."


@dataclass
class BaselineSettings:
    """What decides the baseline's conformers; written as ``gdapp_<field>`` on every record."""

    method: str = "ETKDGv3"
    seed: int = 0xF00D
    mmff: bool = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, "ETKDG")
    parser.add_argument("--seed", type=int, default=0xF00D, help="ETKDG random seed (default %(default)s)")
    parser.add_argument("--no-mmff", action="store_true", help="skip the MMFF94 optimisation")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="threads for ETKDG and MMFF (0 = all cores, default)")
    # salts and mixtures, progress (issue 14)
    add_fragment_argument(parser)
    add_quiet_argument(parser)


def _embed(mol, args):
    from engine.errors import EngineError
    from engine.metrics.baselines import etkdg_conformers

    try:
        return etkdg_conformers(mol, args.num_confs, seed=args.seed, mmff=not args.no_mmff,
                                num_threads=args.threads)
    except EngineError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - RDKit raises assorted errors
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def run(args) -> int:
    from engine.commands._fragments import expand, write_back
    from engine.commands._progress import Progress, count_inputs
    from engine.commands._provenance import settings_provenance
    from engine.errors import EngineError
    from engine.io import iter_molecules

    problem = check_common_arguments(args)
    if problem:
        return error(problem)
    out = ConformerWriter(args.out, "baseline")
    out.provenance = settings_provenance(BaselineSettings(seed=args.seed, mmff=not args.no_mmff))
    progress = Progress("baseline", count_inputs(args.input), quiet=args.quiet)
    out.progress = progress
    try:
        for record in iter_molecules(args.input):
            out.inputs += 1
            items, jobs, _ = expand([record], args.keep_fragments)
            before = out.conformers
            write_back(items, [_embed(m, args) for m in jobs], out)
            progress.update(1, out.conformers - before)
    except EngineError as exc:  # the whole file is unusable (missing, unknown format)
        progress.close()
        out.close()
        return error(exc)
    progress.close()
    return out.close()
