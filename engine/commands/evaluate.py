"""``python -m engine evaluate``: COV/AMR (GEOM protocol) and PoseBusters validity of conformers."""
from __future__ import annotations

import argparse
import json
import sys

from engine.commands._exit import EXIT_OK, EXIT_USAGE, error

HELP = "Compare generated conformers with reference ones: COV-R/AMR-R/COV-P/AMR-P and PoseBusters validity."

EPILOG = """\
Records are grouped into molecules by their integer property input_index when every record
of both files has it, otherwise by canonical (non-isomeric, heavy-atom) SMILES. For each
molecule the heavy-atom RMSD matrix after symmetry-aware alignment (RDKit GetBestRMS) gives
  COV-R  share of reference conformers with a generated one closer than the threshold
  AMR-R  mean over reference conformers of the smallest RMSD to a generated one
  COV-P, AMR-P  the same with the roles swapped.
Aggregates are the mean (as in GEOM-Drugs papers) and the median over molecules.
Threshold: 0.75 A for drug-like molecules (default), 0.5 A for small ones (GEOM-QM9).
Molecules present in only one file are reported and skipped.

exit codes: 0 at least one molecule evaluated; 2 usage error, unreadable file or nothing
to compare.
"""



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("--ref", required=True, metavar="REF.sdf", help="reference conformers")
    parser.add_argument("--gen", required=True, metavar="GEN.sdf", help="generated conformers")
    parser.add_argument("--json", metavar="OUT.json", help="write per-molecule and aggregate results here")
    parser.add_argument("--threshold", type=float, default=0.75,
                        help="coverage threshold in Angstrom (default 0.75; use 0.5 for small molecules)")
    parser.add_argument("--posebusters", action=argparse.BooleanOptionalAction, default=True,
                        help="run the PoseBusters 'mol' checks on every generated conformer (default on)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="processes for the RMSD matrices and PoseBusters (default 1)")
    parser.add_argument("--max-matches", type=int, default=None, metavar="M",
                        help="cap on symmetry atom maps per molecule (default 10000)")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="no progress bar or progress lines on stderr")


def run(args) -> int:
    from engine.errors import EngineError
    from engine.metrics.evaluation import evaluate_files, format_table

    if args.threshold <= 0:
        return error(f"--threshold must be > 0, got {args.threshold}")
    from engine.commands._progress import Progress

    bars: dict = {}

    def progress(done, total, stage):
        # one Progress per stage: RMSD matrices per molecule, then the PoseBusters checks
        if stage not in bars:
            for bar in bars.values():
                bar.close()
            unit = "molecules (RMSD)" if stage == "rmsd" else "conformers (PoseBusters)"
            bars[stage] = Progress("evaluate", total, quiet=args.quiet, unit=unit)
            if stage == "posebusters" and not args.quiet and bars[stage].bar is None:
                print(f"evaluate: PoseBusters checks of {total} conformers ...", file=sys.stderr, flush=True)
        bar = bars[stage]
        if done > bar.done:
            bar.update(done - bar.done)

    try:
        result = evaluate_files(args.ref, args.gen, threshold=args.threshold,
                                posebusters=args.posebusters, workers=args.workers,
                                max_matches=args.max_matches, progress=progress)
    except EngineError as exc:
        return error(exc)
    finally:
        for bar in bars.values():
            bar.close()

    for msg in result["problems"]:
        print(msg, file=sys.stderr)
    print(format_table(result))
    if args.json:
        from engine.commands._output import atomic_output

        with atomic_output(args.json) as fh:
            fh.write(json.dumps(result, indent=2))
    return EXIT_OK if result["aggregate"]["num_molecules"] > 0 else EXIT_USAGE
