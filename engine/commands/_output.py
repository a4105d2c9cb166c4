"""The SDF output contract shared by ``sample`` and ``baseline`` (docs/math.md §6), and
what every command does when its output cannot be written.

For each input molecule, in input order: K conformers as separate records with all atoms,
``_Name`` copied from the input and the integer property ``input_index``. A molecule that
cannot be processed is reported on stderr with its index and reason; the others are
still written.
"""
from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from engine.commands._exit import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE

EPILOG = """\
output: for each input molecule, in input order, K conformers as separate SDF records with
all atoms (hydrogens added), _Name copied from the input and the integer property
input_index (0-based position in INPUT). A molecule that cannot be read or processed is
reported on stderr with its index and reason; the others are still written.

salts and mixtures: the largest organic fragment is kept (property removed_fragments lists
the others, as SMILES, and stderr says so); --keep-fragments embeds every component and
places them at least 3 A apart (property fragments: their count). A component that cannot
be embedded is left out, named on stderr and in failed_fragments; the rest is written.

provenance: every record carries gdapp_* properties (model and sha256 prefix, sampler,
steps, seed, stereo, relax, ..., and gdapp_energy_mmff / gdapp_stereo_ok when computed).

progress: a bar on a terminal, else a line every GDAPP_PROGRESS_INTERVAL s (default 10)
on stderr; --quiet for neither.

exit codes:
  0  every molecule was written
  3  some molecules failed (or lost a component), the others were written
  2  usage error, unreadable INPUT, or no molecule written
"""



# ------------------------------------------------------------------ unwritable outputs
class OutputError(Exception):
    """An output path that cannot be written (permission denied, missing folder, disk
    full). ``engine.cli.main`` reports it for every command the same way:
    ``error: cannot write PATH: REASON`` on stderr and exit code :data:`engine.commands._exit.EXIT_USAGE`. Not an
    ``EngineError``: the commands' handlers for unusable inputs let it through."""

    def __init__(self, path, exc: OSError):
        self.path = path
        super().__init__(f"cannot write {path}: {exc.strerror or exc}")


def _concerns(exc: OSError, path: Path) -> bool:
    """Whether ``exc`` is about ``path``, a file under it or a folder above it."""
    if exc.filename is None:
        return True
    failed = Path(os.path.abspath(os.fsdecode(exc.filename)))
    target = Path(os.path.abspath(path))
    return failed == target or target in failed.parents or failed in target.parents


@contextmanager
def output_errors(path) -> Iterator[None]:
    """Turn an ``OSError`` about ``path`` (a file or a folder the command writes into) into
    an :class:`OutputError`; other errors pass unchanged."""
    try:
        yield
    except OSError as exc:
        if _concerns(exc, Path(path)):
            raise OutputError(path, exc) from exc
        raise


class AtomicFile:
    """A file written under a temporary name beside ``path`` and renamed over ``path`` by
    :meth:`commit`, so an interrupted or failed write never leaves half a file there. Every
    ``OSError`` becomes an :class:`OutputError` (the temporary file is removed first)."""

    def __init__(self, path, mode: str = "w"):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        with self._errors():
            self.fh: IO[Any] = open(self.tmp, mode, encoding=None if "b" in mode else "utf-8")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            self.discard()
            raise OutputError(self.path, exc) from exc

    def write(self, data) -> None:
        with self._errors():
            self.fh.write(data)
            self.fh.flush()

    def commit(self) -> None:
        with self._errors():
            self.fh.close()
            os.replace(self.tmp, self.path)

    def discard(self) -> None:
        """Drop what was written (the temporary file); ``path`` is left as it was."""
        fh = getattr(self, "fh", None)
        if fh is not None:
            try:
                fh.close()
            except OSError:
                pass
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


@contextmanager
def atomic_output(path, mode: str = "w") -> Iterator[AtomicFile]:
    """``with atomic_output(path) as out: out.write(...)``: ``path`` appears, complete,
    when the block ends without an error, and is left as it was otherwise."""
    out = AtomicFile(path, mode)
    try:
        yield out
    except BaseException:
        out.discard()
        raise
    out.commit()


def add_common_arguments(parser, what: str) -> None:
    import argparse

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("input", metavar="INPUT", help="molecules: .smi (SMILES [name] per line) or .sdf")
    parser.add_argument("--out", required=True, metavar="OUT.sdf", help="output SD file")
    parser.add_argument("--num-confs", "-k", type=int, required=True, metavar="K",
                        help=f"{what} conformers per molecule")


def check_common_arguments(args) -> str | None:
    if args.num_confs < 1:
        return f"--num-confs must be >= 1, got {args.num_confs}"
    if not str(args.out).lower().endswith(".sdf"):
        return f"--out must be an .sdf file, got {args.out}"
    return None


class ConformerWriter:
    """Writes records in input order and keeps the counts for the summary and exit code."""

    def __init__(self, path, label: str):
        from rdkit import Chem

        self.label = label
        self.path = path
        self.file = AtomicFile(path)     # OutputError when the folder is missing or read-only
        self.buffer = io.StringIO()      # one SDWriter for the whole file (it numbers the records)
        self.writer = Chem.SDWriter(self.buffer)
        self.inputs = self.molecules = self.conformers = 0
        self.failed: list[int] = []
        self.warned: list[int] = []     # written, but not all of the molecule (a component left out)
        self.start = time.perf_counter()
        self.progress: Any = None            # a _progress.Progress: messages go through it (tqdm bar)
        self.provenance: dict = {}      # gdapp_* properties written on every record
        self.allow_empty = False        # a shard may hold no molecule

    def _drain(self) -> None:
        """Move what the SDWriter wrote so far to the file (OutputError on a full disk)."""
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        if text:
            self.file.write(text)

    def note(self, index: int, message: str) -> None:
        """A message about molecule ``index`` on stderr (above a progress bar)."""
        text = f"molecule {index}: {message}"
        if self.progress is not None:
            self.progress.write(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def fail(self, index: int, reason: str) -> None:
        self.failed.append(index)
        self.note(index, reason)

    def warn(self, index: int, reason: str) -> None:
        self.warned.append(index)
        self.note(index, reason)

    def write(self, mol, name: str, index: int) -> None:
        from engine.commands._provenance import conformer_props, set_props

        mol.SetProp("_Name", name)
        mol.SetIntProp("input_index", int(index))
        set_props(mol, self.provenance)
        for conf in mol.GetConformers():
            extra = conformer_props(conf)
            set_props(mol, extra)
            self.writer.write(mol, confId=conf.GetId())
            for key in extra:
                mol.ClearProp(key)
        self.writer.flush()
        self._drain()
        self.molecules += 1
        self.conformers += mol.GetNumConformers()

    def close(self) -> int:
        """Close the file, print the summary, return the exit code."""
        self.writer.close()
        self._drain()
        self.file.commit()
        dt = time.perf_counter() - self.start
        rate = self.conformers / dt if dt > 0 else 0.0
        print(f"{self.label}: wrote {self.conformers} conformers for {self.molecules}/{self.inputs} "
              f"molecules to {self.path} in {dt:.1f} s ({rate:.1f} conformers/s)", file=sys.stderr)
        if self.molecules == 0 and not (self.allow_empty and self.inputs == 0):
            return EXIT_USAGE
        return EXIT_PARTIAL if self.failed or self.warned else EXIT_OK


def add_fragment_argument(parser) -> None:
    parser.add_argument("--keep-fragments", action="store_true",
                        help="embed every component of a salt or mixture, placed >= 3 A apart "
                             "(default: keep the largest organic fragment and report the rest)")


def input_name(mol) -> str:
    return mol.GetProp("_Name") if mol.HasProp("_Name") else ""
