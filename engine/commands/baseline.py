"""``python -m engine baseline``: RDKit ETKDGv3 (+ MMFF94) conformers, the reference method."""
from __future__ import annotations

import argparse
import sys
import time

HELP = "RDKit ETKDGv3 (+ MMFF94) conformers for every molecule of a .smi/.sdf file (the baseline)."

EPILOG = """\
output: for each input molecule, in input order, K conformers as separate SDF records with
all atoms (hydrogens added), _Name copied from the input and the integer property
input_index (0-based position in INPUT). A molecule that cannot be read or embedded is
reported on stderr with its index and reason; the others are still written.

exit codes:
  0  every molecule was written
  3  some molecules failed, the others were written
  2  usage error, unreadable INPUT, or no molecule written
"""

EXIT_OK, EXIT_USAGE, EXIT_PARTIAL = 0, 2, 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("input", metavar="INPUT", help="molecules: .smi (SMILES [name] per line) or .sdf")
    parser.add_argument("--out", required=True, metavar="OUT.sdf", help="output SD file")
    parser.add_argument("--num-confs", "-k", type=int, required=True, metavar="K",
                        help="conformers per molecule")
    parser.add_argument("--seed", type=int, default=0xF00D, help="ETKDG random seed (default %(default)s)")
    parser.add_argument("--no-mmff", action="store_true", help="skip the MMFF94 optimisation")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="threads for ETKDG and MMFF (0 = all cores, default)")


def run(args) -> int:
    from rdkit import Chem

    from engine.errors import EngineError
    from engine.io import iter_molecules
    from engine.metrics.baselines import etkdg_conformers

    if args.num_confs < 1:
        print(f"error: --num-confs must be >= 1, got {args.num_confs}", file=sys.stderr)
        return EXIT_USAGE
    if not str(args.out).lower().endswith(".sdf"):
        print(f"error: --out must be an .sdf file, got {args.out}", file=sys.stderr)
        return EXIT_USAGE

    n_in = n_ok = n_confs = 0
    failed = []

    def fail(index, reason):
        failed.append(index)
        print(f"molecule {index}: {reason}", file=sys.stderr)

    t0 = time.perf_counter()
    try:
        writer = Chem.SDWriter(str(args.out))
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        for index, mol, error in iter_molecules(args.input):
            n_in += 1
            if mol is None:
                fail(index, str(error) if error else "could not be read")
                continue
            name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
            try:
                confs = etkdg_conformers(mol, args.num_confs, seed=args.seed,
                                         mmff=not args.no_mmff, num_threads=args.threads)
            except EngineError as exc:
                fail(index, str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - RDKit raises assorted errors
                fail(index, f"{type(exc).__name__}: {exc}")
                continue
            confs.SetProp("_Name", name)
            confs.SetIntProp("input_index", int(index))
            for conf in confs.GetConformers():
                writer.write(confs, confId=conf.GetId())
            writer.flush()
            n_ok += 1
            n_confs += confs.GetNumConformers()
    except EngineError as exc:  # the whole file is unusable (missing, unknown format)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        writer.close()

    dt = time.perf_counter() - t0
    print(f"baseline: wrote {n_confs} conformers for {n_ok}/{n_in} molecules to {args.out} "
          f"in {dt:.1f} s ({n_confs / dt if dt > 0 else 0.0:.1f} conformers/s)", file=sys.stderr)
    if n_ok == 0:
        return EXIT_USAGE
    return EXIT_PARTIAL if failed else EXIT_OK
