"""``python -m engine merge``: put the shards of ``sample --shard K/N`` back together."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from engine.commands._exit import EXIT_OK, error
from engine.commands._output import atomic_output

HELP = "Merge SD files written by `sample --shard K/N` into one file ordered by input_index."

EPILOG = """\
Records are ordered by their integer property input_index (stable: the conformers of a
molecule keep their order); the records are copied byte for byte (only the record
numbers RDKit writes in property headers are renumbered), so merging
the N shards of a run gives exactly the file the unsharded run writes (same --seed,
--chunk, --batch-size and device). An input_index found in two files, or a record without
one, is an error and nothing is written.

exit codes: 0 merged; 2 usage error, unreadable shard or conflicting shards.
"""


_NUMBER = re.compile(rb"^(>\s*<[^>\n]*>\s*)\(\d+\)", re.M)
_INDEX = re.compile(rb"^>\s*<input_index>.*?\n([^\n]*)", re.M)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("out", metavar="OUT.sdf", help="merged output")
    parser.add_argument("shards", nargs="+", metavar="SHARD.sdf", help="shard outputs, in any order")


def split_records(data: bytes) -> list[bytes]:
    """SD records, each ending with its ``$$$$`` line."""
    records, start = [], 0
    for m in re.finditer(rb"^\$\$\$\$[ \t]*\r?\n?", data, re.M):
        records.append(data[start:m.end()])
        start = m.end()
    if data[start:].strip():
        raise ValueError("the file does not end with a $$$$ line (truncated?)")
    return records


def merge_files(out, shards) -> int:
    """Merge ``shards`` into ``out``; returns the number of records. Raises ValueError
    naming the file and record on a missing or duplicated input_index."""
    owner: dict[int, str] = {}
    keyed: list[tuple] = []
    for path in shards:
        data = Path(path).read_bytes()
        try:
            records = split_records(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        here = set()
        for n, rec in enumerate(records):
            m = _INDEX.search(rec)
            try:
                index = int(m.group(1).strip()) if m else None
            except ValueError:
                index = None
            if index is None:
                raise ValueError(f"{path}: record {n + 1} has no integer input_index property")
            if index in owner and owner[index] != str(path):
                raise ValueError(f"input_index {index} is in both {owner[index]} and {path} "
                                 "(shards of different runs, or one shard given twice?)")
            owner[index] = str(path)
            here.add(index)
            keyed.append((index, len(keyed), rec))
    keyed.sort(key=lambda k: (k[0], k[1]))
    with atomic_output(out, "wb") as fh:
        for number, (_, _, rec) in enumerate(keyed, start=1):
            # RDKit's SDWriter numbers the records in property headers: ">  <name>  (7)"
            rec = _NUMBER.sub(rb"\g<1>(%d)" % number, rec)
            fh.write(rec if rec.endswith(b"\n") else rec + b"\n")
    return len(keyed)


def run(args) -> int:
    if not str(args.out).lower().endswith(".sdf"):
        return error(f"OUT must be an .sdf file, got {args.out}")
    resolved_out = Path(args.out).resolve()
    for path in args.shards:
        if not Path(path).is_file():
            return error(f"shard {path} does not exist")
        if Path(path).resolve() == resolved_out:
            return error(f"OUT {args.out} is also one of the shards")
    try:
        n = merge_files(args.out, args.shards)
    except (OSError, ValueError) as exc:
        return error(exc)
    print(f"merge: wrote {n} records from {len(args.shards)} files to {args.out}", file=sys.stderr)
    return EXIT_OK
