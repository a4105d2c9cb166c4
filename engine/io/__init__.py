"""Molecule files in and out: the file contract of docs/math.md §6.

    from engine.io import read_molecules, write_molecules, InputError
    mols = read_molecules(path, skip_invalid=False)   # .smi .sdf .mol .mol2 .pdb .xyz
    write_molecules(path, mols)                       # .sdf .xyz .pdb

Reading
-------
Every returned ``rdkit.Chem.Mol`` carries ``_Name`` (from the file: SMILES name column, SDF
/MOL title line, MOL2 molecule name, PDB ``COMPND``, XYZ comment line; '' if none) and an
int property ``input_index``: the 0-based record number in the file, except that a record
which already has an integer ``input_index`` property (e.g. an SDF written by
``engine sample``) keeps it, so conformers stay grouped by source molecule. The private
int property ``_record_index`` is always the record number.

* ``.smi``: one SMILES per line, optional name after whitespace; blank lines, ``#``
  comments and a first line starting with ``smiles`` (a header) are skipped. The molecules
  have **no conformer and no explicit hydrogens** (callers add them, e.g. ``Chem.AddHs``).
* ``.sdf`` / ``.mol``: every record, properties and explicit hydrogens kept.
* ``.mol2``: every ``@<TRIPOS>MOLECULE`` section, hydrogens kept.
* ``.pdb``: each MODEL is a record; consecutive models with the same atoms, charges and
  bonds become **one molecule with several conformers** (its index is its first model's).
* ``.xyz``: each frame is a record; bonds and bond orders are perceived with
  ``rdDetermineBonds`` (``charge`` = total charge of each molecule, default 0);
  consecutive frames with identical elements become one molecule with several
  conformers.

Stereo is assigned from 3D for MOL2/PDB/XYZ records of up to 5,000 atoms (SDF does so
itself for 3D records); larger records are read without stereo tags (RDKit's perception
takes ~20 s at 20,000 atoms).
Errors are :class:`InputError` (a ``ValueError``) naming the file, the record and the line,
with RDKit's reason where it gave one. A file without any molecule raises
``InputError("no molecules")``; :func:`read_molecules` never returns an empty list.

Writing
-------
``.sdf`` (one record per conformer, ``_Name``, properties and stereo kept), ``.xyz``
(multi-frame, comment ``"<name> conformer=<id>"``) and ``.pdb`` (one MODEL per conformer,
molecules one after another). A molecule without conformers raises InputError naming it.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from rdkit import Chem

from engine.errors import InputError
from engine.io.readers import READERS
from engine.io.writers import (
    check_molecules,
    pdb_text,
    sdf_text,
    write_frames_pdb,
    write_text,
    write_trajectory_pdb,
    write_trajectory_xyz,
    xyz_text,
)

__all__ = [
    "InputError",
    "READ_FORMATS",
    "WRITE_FORMATS",
    "TRAJECTORY_FORMATS",
    "iter_molecules",
    "read_molecules",
    "write_molecules",
    "write_frames_pdb",
    "write_trajectory_pdb",
    "write_trajectory_xyz",
]

log = logging.getLogger(__name__)

READ_FORMATS = tuple(READERS)                 # ('.smi', '.sdf', '.mol', '.mol2', '.pdb', '.xyz')
WRITE_FORMATS = (".sdf", ".xyz", ".pdb")      # conformers (write_molecules)
TRAJECTORY_FORMATS = (".xyz", ".pdb")         # frames of a trajectory (engine.structures.export_trajectory)


def _extension(path: Path, allowed, verb: str) -> str:
    ext = path.suffix.lower()
    if ext not in allowed:
        raise InputError(
            f"cannot {verb} {ext or 'files without an extension'!s}: supported formats are "
            + " ".join(allowed),
            path=path,
        )
    return ext


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a file", path=path) from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", path=path) from None
    if b"\x00" in data:
        raise InputError("not a text file (contains NUL bytes)", path=path)
    return data.decode("utf-8", errors="replace")


def iter_molecules(path, *, charge: int = 0
                   ) -> Iterator[tuple[int, Chem.Mol | None, str | None]]:
    """Yield ``(index, mol, None)`` or ``(index, None, message)`` for each record, in file
    order, so a caller can report bad records and go on with the others.

    ``message`` is the full error text (file, record, line and reason). File-level
    problems (missing file, unknown extension, binary file) raise :class:`InputError`
    here, before iteration; a file with no records at all raises ``InputError`` ("no
    molecules") when the iteration ends. ``charge``: total charge per molecule, used
    only for ``.xyz`` bond perception.
    """
    path = Path(path)
    records = _records(path, charge)
    return ((index, mol, None if err is None else str(err)) for index, mol, err in records)


def _records(path: Path, charge: int):
    ext = _extension(path, READ_FORMATS, "read")
    text = _read_text(path)
    return _checked(READERS[ext](text, path, charge=charge), path)


def _checked(records, path):
    seen = False
    for record in records:
        seen = True
        yield record
    if not seen:
        raise InputError("no molecules in file", path=path)


def read_molecules(path, skip_invalid: bool = False, *, charge: int = 0) -> list[Chem.Mol]:
    """Read every molecule of ``path`` (``.smi .sdf .mol .mol2 .pdb .xyz``).

    With ``skip_invalid=False`` the first bad record raises :class:`InputError` (naming the
    file, record and line); with ``True`` each bad record is logged as a warning (logger
    ``engine.io``) and skipped. Raises InputError when no molecule could be read.
    ``charge``: total charge per molecule for ``.xyz`` bond perception.
    """
    path = Path(path)
    mols: list[Chem.Mol] = []
    skipped = 0
    for _, mol, err in _records(path, charge):
        if err is not None:
            if not skip_invalid:
                raise err
            skipped += 1
            log.warning("skipping invalid record: %s", err)
            continue
        mols.append(mol)
    if not mols:
        raise InputError(f"no valid molecules ({skipped} invalid record(s) skipped)", path=path)
    return mols


def write_molecules(path, mols) -> None:
    """Write every conformer of every molecule in ``mols`` (a Mol or a list) to ``path``
    (``.sdf``, ``.xyz`` or ``.pdb``, chosen by extension). InputError for an unknown
    extension, a molecule without conformers, non-finite coordinates or a write failure."""
    path = Path(path)
    ext = _extension(path, WRITE_FORMATS, "write")
    mols = check_molecules(mols, path)
    if ext == ".sdf":
        text = sdf_text(mols, path)
    elif ext == ".xyz":
        text = xyz_text(mols)
    else:
        text = pdb_text(mols, path)
    write_text(path, text)
