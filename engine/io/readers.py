"""Per-format record readers behind :func:`engine.io.iter_molecules`.

Each ``records_<fmt>(text, path, **options)`` is a generator of
``(index, mol, error)`` with exactly one of ``mol`` (an ``rdkit.Chem.Mol``) and ``error``
(an :class:`engine.errors.InputError` naming the file, the record and the line) set.
``index`` is the 0-based record number in the file (SMILES line, SDF/MOL2 record, PDB
MODEL, XYZ frame). PDB models / XYZ frames that repeat the same molecule are merged into
one molecule with several conformers; its ``index`` is that of its first model/frame.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdDetermineBonds

from engine.chem.conformers import add_conformer
from engine.errors import InputError
from engine.rdlog import capture_rdkit_log

Record = tuple[int, Chem.Mol | None, InputError | None]

# Bond-order perception (XYZ) is a combinatorial search; bound it so garbage cannot hang.
XYZ_MAX_BOND_ORDER_ITERATIONS = 200_000
# More neighbours than this after distance-based bonding means overlapping atoms.
XYZ_MAX_NEIGHBOURS = 8
# RDKit's stereo perception from 3D grows superlinearly (0.6 s at 5,000 atoms, 20 s at
# 20,000, holding the GIL); larger MOL2/PDB/XYZ records are read without stereo tags.
STEREO_FROM_3D_MAX_ATOMS = 5_000
# RDKit's ring perception on a SMILES grows about quadratically (a 5,001-membered ring:
# 1.6 s and ~740 MB); SMILES records with more atoms than this are refused before parsing.
SMILES_MAX_ATOMS = 2_000

# atoms of a SMILES string: bracket atoms, then the organic subset (two-letter first)
_SMILES_ATOM = re.compile(r"\[[^\]]*\]|Br|Cl|[BCNOPSFI]|[bcnops]|\*")


def smiles_atom_count(smiles: str) -> int:
    """Number of atoms written in a SMILES string (without implicit hydrogens), counted
    without parsing it (linear time, no RDKit)."""
    return len(_SMILES_ATOM.findall(smiles))


def smiles_size_error(smiles: str) -> str | None:
    """A message when ``smiles`` has more than ``SMILES_MAX_ATOMS`` atoms, else ``None``."""
    n = smiles_atom_count(smiles)
    if n > SMILES_MAX_ATOMS:
        return (f"SMILES has {n:,} atoms (hydrogens written in brackets included); at most "
                f"{SMILES_MAX_ATOMS:,} per SMILES record (read larger structures from an SDF, "
                f"MOL2 or PDB file)")
    return None

_PT = Chem.GetPeriodicTable()
_SYMBOL_TO_Z = {_PT.GetElementSymbol(z).lower(): z for z in range(1, 119)}


# --------------------------------------------------------------------------- helpers
def _rd_call(fn, *args, **kwargs):
    """Call an RDKit function; returns ``(result, reason)`` with reason '' on success.

    Exceptions and RDKit's own log messages become ``reason`` (the log is kept quiet).
    """
    with capture_rdkit_log() as log:
        try:
            result = fn(*args, **kwargs)
            exc = None
        except Exception as e:  # RDKit raises ValueError, RuntimeError and its own types
            result, exc = None, e
    if exc is None and result is not None:
        return result, ""
    parts = []
    if exc is not None:
        parts.append(f"{type(exc).__name__}: {str(exc).strip() or 'no details'}"[:300])
    if log.text():
        parts.append(log.text())
    return None, "; ".join(parts) or "RDKit could not parse it"


def _finish(mol: Chem.Mol, index: int, name: str, path, line: int, *, stereo_from_3d=False):
    """Validate a parsed molecule and set ``_Name``/``input_index``; returns (mol, error)."""
    if mol.GetNumAtoms() == 0:
        return None, InputError("record has no atoms", path=path, record=index, line=line)
    for conf in mol.GetConformers():
        pos = conf.GetPositions()
        bad = ~np.isfinite(pos).all(axis=1)
        if bad.any():
            atom = int(np.flatnonzero(bad)[0])
            return None, InputError(
                f"non-finite (NaN or inf) coordinates for atom {atom}",
                path=path, record=index, line=line,
            )
    if stereo_from_3d and mol.GetNumConformers() and mol.GetNumAtoms() <= STEREO_FROM_3D_MAX_ATOMS:
        with capture_rdkit_log():
            try:
                Chem.AssignStereochemistryFrom3D(mol)
            except Exception:  # stereo is a bonus here; the structure itself is fine
                pass
    mol.SetProp("_Name", name.strip())
    keep = None
    if mol.HasProp("input_index"):
        try:
            keep = int(mol.GetProp("input_index").strip())
        except (ValueError, RuntimeError):
            keep = None
    mol.SetIntProp("input_index", index if keep is None else keep)
    mol.SetIntProp("_record_index", index)
    return mol, None


def _err(reason, path, index, line) -> Record:
    return index, None, InputError(reason, path=path, record=index, line=line)


# --------------------------------------------------------------------------- SMILES
def records_smi(text: str, path, **_) -> Iterator[Record]:
    """One SMILES per line, optional name after whitespace; '#' comments, blank lines and
    a first line 'smiles ...' (header) are skipped. Molecules have no conformer and no
    explicit hydrogens."""
    index = 0
    seen_first = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if not seen_first:
            seen_first = True
            if parts[0].lower() == "smiles":
                continue
        smi = parts[0]
        name = parts[1].strip() if len(parts) > 1 else ""
        too_big = smiles_size_error(smi)
        if too_big:
            yield _err(too_big, path, index, lineno)
            index += 1
            continue
        mol, reason = _rd_call(Chem.MolFromSmiles, smi)
        if mol is None:
            yield _err(f"invalid SMILES {smi[:80]!r}: {reason}", path, index, lineno)
        else:
            mol, error = _finish(mol, index, name, path, lineno)
            yield index, mol, error
        index += 1


# --------------------------------------------------------------------------- SDF / MOL
def _split_sdf(text: str):
    """Yield ``(first_line_number, record_text)`` for each ``$$$$``-terminated record."""
    buf: list[str] = []
    start = 1
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not buf:
            start = lineno
        if line.rstrip() == "$$$$":
            yield start, "\n".join(buf) + "\n$$$$\n"
            buf = []
        else:
            buf.append(line)
    if any(line.strip() for line in buf):
        yield start, "\n".join(buf) + "\n$$$$\n"


_RD_LINE = re.compile(r"(on line\s*)(\d+)")


def _parse_sd_record(block: str):
    supplier = Chem.SDMolSupplier()
    supplier.SetData(block, sanitize=True, removeHs=False)
    return supplier[0] if len(supplier) else None


def records_sdf(text: str, path, **_) -> Iterator[Record]:
    """Multi-record SDF (also .mol): properties and explicit hydrogens are kept."""
    for index, (lineno, block) in enumerate(_split_sdf(text)):
        mol, reason = _rd_call(_parse_sd_record, block)
        if mol is None:
            # RDKit counts lines from the start of the record; make them file line numbers
            def file_line(m, lineno=lineno):
                return f"{m.group(1)}{int(m.group(2)) + lineno - 1} of the file"

            reason = _RD_LINE.sub(file_line, reason)
            yield _err(f"invalid MOL/SDF record: {reason}", path, index, lineno)
            continue
        name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
        mol, error = _finish(mol, index, name, path, lineno)
        yield index, mol, error


# --------------------------------------------------------------------------- MOL2
def _mol2_count_problem(block: list) -> str:
    """'' if the counts line (3rd line) announces no more atoms than the ATOM section holds.

    RDKit reads the atom count as an unsigned number and reserves memory for it before
    reading the atoms: '-1' or '2147483648' there made it allocate 8-16 GB and spin for
    about a minute. So the count must be a non-negative integer <= the ATOM lines present.
    """
    tokens = block[2].split() if len(block) > 2 else []
    if not tokens:
        return "missing counts line (line 3 of the record)"
    if not tokens[0].lstrip("+").isdigit():
        return f"atom count {tokens[0][:20]!r} on the counts line is not a non-negative integer"
    count = int(tokens[0].lstrip("+"))
    rows, inside = 0, False
    for line in block:
        head = line.strip().upper()
        if head.startswith("@<TRIPOS>"):
            inside = head == "@<TRIPOS>ATOM"
        elif inside and head:
            rows += 1
    if count > rows:
        return f"counts line announces {count} atoms but the ATOM section has {rows} line(s)"
    return ""


def records_mol2(text: str, path, **_) -> Iterator[Record]:
    """Tripos MOL2, several ``@<TRIPOS>MOLECULE`` sections allowed; Hs kept."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().upper() == "@<TRIPOS>MOLECULE"]
    if not starts:
        if any(line.strip() and not line.lstrip().startswith("#") for line in lines):
            yield _err("no @<TRIPOS>MOLECULE section found", path, 0, 1)
        return
    for index, begin in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(lines)
        block = "\n".join(lines[begin:end]) + "\n"
        problem = _mol2_count_problem(lines[begin:end])
        if problem:
            yield _err(f"invalid MOL2 record: {problem}", path, index, begin + 3)
            continue
        mol, reason = _rd_call(Chem.MolFromMol2Block, block, sanitize=True, removeHs=False)
        if mol is None:
            yield _err(f"invalid MOL2 record: {reason}", path, index, begin + 1)
            continue
        name = lines[begin + 1].strip() if begin + 1 < end else ""
        mol, error = _finish(mol, index, name, path, begin + 1, stereo_from_3d=True)
        yield index, mol, error


# --------------------------------------------------------------------------- merging
def _topology_key(mol: Chem.Mol):
    atoms = tuple((a.GetAtomicNum(), a.GetFormalCharge()) for a in mol.GetAtoms())
    # bonds through their atoms: RDKit's mol.GetBonds() sequence is superlinear (7 s for
    # 20,000 bonds), the per-atom lists are linear
    bonds = tuple(sorted(
        (a.GetIdx(), b.GetOtherAtomIdx(a.GetIdx()), str(b.GetBondType()))
        for a in mol.GetAtoms() for b in a.GetBonds() if b.GetOtherAtomIdx(a.GetIdx()) > a.GetIdx()
    ))
    return atoms, bonds


class _Group:
    """Consecutive models/frames of one molecule, merged into one multi-conformer mol."""

    def __init__(self) -> None:
        self.mol = None
        self.key = None
        self.index = 0

    def offer(self, index, mol, key):
        """Add ``mol``; returns the finished previous group's record if it differs."""
        done = None
        if self.mol is not None and key == self.key:
            self.mol.AddConformer(Chem.Conformer(mol.GetConformer()), assignId=True)
            return None
        if self.mol is not None:
            done = (self.index, self.mol, None)
        self.mol, self.key, self.index = mol, key, index
        return done

    def flush(self):
        done = None if self.mol is None else (self.index, self.mol, None)
        self.mol = self.key = None
        return done


# --------------------------------------------------------------------------- PDB
class _Model:
    def __init__(self, line: int, name: str) -> None:
        self.line = line
        self.name = name
        self.atoms: list[str] = []
        self.conect: list[str] = []


def _split_pdb(text: str) -> list[_Model]:
    """Split into models; CONECT records outside MODEL/ENDMDL apply to the models before
    them that have no CONECT of their own."""
    models: list[_Model] = []
    current: _Model | None = None
    implicit = False
    awaiting: list[_Model] = []
    attaching = False
    name = ""
    for lineno, line in enumerate(text.splitlines(), start=1):
        tag = line[:6].strip().upper()
        if tag == "MODEL":
            if attaching:
                awaiting, attaching = [], False
            current, implicit = _Model(lineno, name), False
            models.append(current)
        elif tag == "ENDMDL":
            if current is not None and not current.conect:
                awaiting.append(current)
            current = None
        elif tag in ("ATOM", "HETATM", "TER"):
            if current is None:
                current, implicit = _Model(lineno, name), True
                models.append(current)
            current.atoms.append(line)
        elif tag == "CONECT":
            if current is not None:
                current.conect.append(line)
            else:
                for model in awaiting:
                    model.conect.append(line)
                attaching = True
        elif tag == "COMPND":
            name = line[10:].strip()
        elif tag == "END":
            if current is not None and implicit:
                current = None
    return models


def records_pdb(text: str, path, **_) -> Iterator[Record]:
    """PDB; each MODEL is a record; consecutive models of the same molecule (same atoms,
    charges and bonds) become one molecule with several conformers. Hs kept."""
    group = _Group()
    for index, model in enumerate(_split_pdb(text)):
        atoms = [line for line in model.atoms if line[:6].strip().upper() != "TER"]
        if not atoms:
            done = group.flush()
            if done:
                yield done
            yield _err("MODEL has no ATOM/HETATM records", path, index, model.line)
            continue
        block = "\n".join(atoms + model.conect) + "\nEND\n"
        mol, reason = _rd_call(Chem.MolFromPDBBlock, block, sanitize=True, removeHs=False)
        error = None
        if mol is None:
            error = InputError(f"invalid PDB model: {reason}", path=path, record=index,
                               line=model.line)
        else:
            mol, error = _finish(mol, index, model.name, path, model.line, stereo_from_3d=True)
        if error is not None:
            done = group.flush()
            if done:
                yield done
            yield index, None, error
            continue
        done = group.offer(index, mol, _topology_key(mol))
        if done:
            yield done
    done = group.flush()
    if done:
        yield done


# --------------------------------------------------------------------------- XYZ
_CONF_SUFFIX = re.compile(r"\s*conformer=\d+\s*$")


def _element(token: str) -> int | None:
    if token.isdigit():
        z = int(token)
        return z if 1 <= z <= 118 else None
    sym = token.rstrip("0123456789").lower()
    return _SYMBOL_TO_Z.get(sym)


def _count_line(line: str) -> int | None:
    tokens = line.split()
    if len(tokens) == 1 and tokens[0].isdigit():
        return int(tokens[0])
    return None


def _xyz_frames(text: str):
    """Yield ``(index, line, zs, coords, comment, reason)`` per frame: ``line`` is the
    frame's first line, or the offending line when ``reason`` (else '') says what is wrong."""
    lines = text.splitlines()
    i, index = 0, 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        start = i + 1
        n = _count_line(lines[i])
        if n is None or n == 0:
            what = "atom count 0" if n == 0 else f"expected an atom count, got {lines[i].strip()[:40]!r}"
            yield index, start, None, None, "", what
            index += 1
            i += 1
            while i < len(lines) and not _count_line(lines[i]):  # resynchronise
                i += 1
            continue
        if i + 2 + n > len(lines):
            yield index, start, None, None, "", (
                f"truncated frame: {n} atoms announced, {max(0, len(lines) - i - 2)} lines follow")
            return
        comment = lines[i + 1].strip()
        zs = np.zeros(n, dtype=np.int64)
        xyz = np.zeros((n, 3), dtype=np.float64)
        reason = ""
        for k in range(n):
            lineno = i + 3 + k
            tokens = lines[i + 2 + k].split()
            if len(tokens) < 4:
                reason = "expected 'element x y z'"
                break
            z = _element(tokens[0])
            if z is None:
                reason = f"unknown element {tokens[0][:20]!r}"
                break
            try:
                p = [float(t) for t in tokens[1:4]]
            except ValueError:
                reason = "coordinates are not numbers"
                break
            if not np.isfinite(p).all():
                reason = "non-finite (NaN or inf) coordinates"
                break
            zs[k], xyz[k] = z, p
        yield index, (lineno if reason else start), zs, xyz, comment, reason
        index += 1
        i += 2 + n


def _perceive(zs: np.ndarray, xyz: np.ndarray, charge: int) -> tuple[Chem.Mol | None, str]:
    rw = Chem.RWMol()
    for z in zs:
        rw.AddAtom(Chem.Atom(int(z)))
    mol = rw.GetMol()
    add_conformer(mol, xyz)
    _, reason = _rd_call(lambda: rdDetermineBonds.DetermineConnectivity(mol) or True)
    if reason:
        return None, f"bond perception failed: {reason}"
    worst = max((a.GetDegree(), a.GetIdx()) for a in mol.GetAtoms())
    if worst[0] > XYZ_MAX_NEIGHBOURS:
        return None, (f"atom {worst[1]} has {worst[0]} neighbours within bonding distance "
                      "(overlapping atoms?)")
    _, reason = _rd_call(
        lambda: rdDetermineBonds.DetermineBondOrders(
            mol, charge=int(charge), maxIterations=XYZ_MAX_BOND_ORDER_ITERATIONS) or True)
    if reason:
        return None, f"bond orders could not be assigned with total charge {charge}: {reason}"
    return mol, ""


def records_xyz(text: str, path, charge: int = 0, **_) -> Iterator[Record]:
    """Multi-frame XYZ; bonds and bond orders perceived (``charge`` = total charge of each
    molecule); consecutive frames with identical elements become one molecule with several
    conformers (bonds from its first frame). ``_Name`` is the first frame's comment line
    (without the ``conformer=K`` suffix :func:`engine.io.write_molecules` adds)."""
    group = _Group()
    for index, line, zs, xyz, comment, reason in _xyz_frames(text):
        if reason:
            done = group.flush()
            if done:
                yield done
            yield _err(f"invalid XYZ frame: {reason}", path, index, line)
            continue
        key = tuple(zs.tolist())
        if group.mol is not None and key == group.key:
            add_conformer(group.mol, xyz)
            continue
        done = group.flush()
        if done:
            yield done
        mol, reason = _perceive(zs, xyz, charge)
        if mol is None:
            yield _err(reason, path, index, line)
            continue
        mol, error = _finish(mol, index, _CONF_SUFFIX.sub("", comment), path, line,
                             stereo_from_3d=True)
        if error is not None:
            yield index, None, error
            continue
        group.offer(index, mol, key)
    done = group.flush()
    if done:
        yield done


READERS = {
    ".smi": records_smi,
    ".sdf": records_sdf,
    ".mol": records_sdf,
    ".mol2": records_mol2,
    ".pdb": records_pdb,
    ".xyz": records_xyz,
}
