"""Writers behind :func:`engine.io.write_molecules` and the trajectory exports.

Every writer writes *every conformer of every molecule*; files are written to a temporary
name next to ``path`` and renamed, so a failed write never leaves half a file behind.
"""
from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from rdkit import Chem

from engine.chem.conformers import mol_with_conformers
from engine.errors import InputError
from engine.rdlog import capture_rdkit_log

_PT = Chem.GetPeriodicTable()


def _label(i: int, mol: Chem.Mol) -> str:
    name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
    return f"molecule {i}" + (f" ({name!r})" if name else "")


def check_molecules(mols, path) -> list:
    """Turn ``mols`` (one Mol or an iterable) into a list; every molecule needs >= 1
    conformer with finite coordinates, else InputError naming it."""
    if isinstance(mols, Chem.Mol):
        mols = [mols]
    try:
        mols = list(mols)
    except TypeError:
        raise InputError(f"expected an rdkit Mol or a list of them, got {type(mols).__name__}",
                         path=path) from None
    if not mols:
        raise InputError("no molecules to write", path=path)
    for i, mol in enumerate(mols):
        if not isinstance(mol, Chem.Mol):
            raise InputError(f"molecule {i} is {type(mol).__name__}, not an rdkit Mol", path=path)
        if mol.GetNumConformers() == 0:
            raise InputError(f"{_label(i, mol)} has no conformer (no 3D coordinates) to write",
                             path=path)
        for conf in mol.GetConformers():
            if not np.isfinite(conf.GetPositions()).all():
                raise InputError(f"{_label(i, mol)}, conformer {conf.GetId()}: "
                                 "non-finite (NaN or inf) coordinates", path=path)
    return mols


def _default_file_mode() -> int:
    """``0o666 & ~umask``: the mode ``open(path, "w")`` would give a new file."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)      # no /proc: read the umask by setting it back at once
    os.umask(mask)
    return 0o666 & ~mask


def write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file + rename). The file gets the
    user's default permissions (``mkstemp`` makes its temporary file 0600)."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                   dir=str(path.parent) if str(path.parent) else ".")
    except OSError as e:
        raise InputError(f"cannot write: {e.strerror or e}", path=path) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, _default_file_mode())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise InputError(f"cannot write: {e.strerror or e}", path=path) from None


# --------------------------------------------------------------------------- SDF
def sdf_text(mols: Sequence[Chem.Mol], path) -> str:
    """One SDF record per conformer; ``_Name``, all properties and stereo kept."""
    buf = io.StringIO()
    writer = Chem.SDWriter(buf)
    for i, mol in enumerate(mols):
        for conf in mol.GetConformers():
            with capture_rdkit_log() as log:
                try:
                    writer.write(mol, confId=conf.GetId())
                except Exception as e:
                    raise InputError(
                        f"{_label(i, mol)} cannot be written as SDF: {e} {log.text()}".strip(),
                        path=path) from None
    writer.close()
    return buf.getvalue()


# --------------------------------------------------------------------------- XYZ
def _xyz_frame(symbols: Sequence[str], coords: np.ndarray, comment: str) -> str:
    comment = " ".join(str(comment).split())  # one line
    rows = [f"{s:<2s} {x:15.8f} {y:15.8f} {z:15.8f}" for s, (x, y, z) in zip(symbols, coords)]
    return f"{len(symbols)}\n{comment}\n" + "\n".join(rows) + "\n"


def xyz_text(mols: Sequence[Chem.Mol]) -> str:
    """Multi-frame XYZ: every conformer of every molecule; comment '<name> conformer=<id>'."""
    out = []
    for mol in mols:
        symbols = [a.GetSymbol() for a in mol.GetAtoms()]
        name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
        for conf in mol.GetConformers():
            out.append(_xyz_frame(symbols, conf.GetPositions(),
                                  f"{name} conformer={conf.GetId()}".strip()))
    return "".join(out)


# --------------------------------------------------------------------------- PDB
def pdb_text(mols: Sequence[Chem.Mol], path, remarks: Sequence[str] | None = None) -> str:
    """Multi-model PDB: one MODEL per conformer, molecules one after the other (model
    numbers keep counting); a COMPND line with ``_Name`` before each molecule's models;
    CONECT records (bond orders as repeated entries) inside each model; ``remarks`` (one
    per model) as a REMARK line before it."""
    out = []
    model = 0
    for i, mol in enumerate(mols):
        name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
        if name:
            out.append(f"COMPND    {' '.join(name.split())}\n")
        for conf in mol.GetConformers():
            with capture_rdkit_log() as log:
                try:
                    block = Chem.MolToPDBBlock(mol, confId=conf.GetId())
                except Exception as e:
                    raise InputError(
                        f"{_label(i, mol)} cannot be written as PDB: {e} {log.text()}".strip(),
                        path=path) from None
            model += 1
            if remarks is not None:
                out.append(_remark(model, remarks[model - 1]))
            out.append(f"MODEL     {model:4d}\n")
            for line in block.splitlines():
                if line[:6].strip() in ("ATOM", "HETATM", "TER", "CONECT"):
                    out.append(line + "\n")
            out.append("ENDMDL\n")
    out.append("END\n")
    return "".join(out)


# --------------------------------------------------------------------------- trajectories
def _frames_array(frames, path) -> np.ndarray:
    if hasattr(frames, "detach"):  # torch tensor
        frames = frames.detach().cpu().numpy()
    arr = np.asarray(frames, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[-1] != 3 or arr.shape[0] == 0:
        raise InputError(f"frames must have shape (T, N, 3), got {tuple(arr.shape)}", path=path)
    if not np.isfinite(arr).all():
        t = int(np.flatnonzero(~np.isfinite(arr).all(axis=(1, 2)))[0])
        raise InputError(f"frame {t} has non-finite (NaN or inf) coordinates", path=path)
    return arr


def write_trajectory_xyz(path, symbols: Iterable, frames, comments: Sequence[str] | None = None
                         ) -> None:
    """Write a multi-frame XYZ trajectory.

    ``symbols``: N element symbols or atomic numbers; ``frames``: ``(T, N, 3)`` array or
    tensor (Å); ``comments``: T comment lines (default ``"frame t"``).
    """
    arr = _frames_array(frames, path)
    syms = []
    for s in symbols:
        if isinstance(s, (int, np.integer)):
            if not 1 <= int(s) <= 118:
                raise InputError(f"atomic number {int(s)} out of range", path=path)
            syms.append(_PT.GetElementSymbol(int(s)))
        else:
            syms.append(str(s))
    if len(syms) != arr.shape[1]:
        raise InputError(f"{len(syms)} symbols but frames have {arr.shape[1]} atoms", path=path)
    if comments is None:
        comments = [f"frame {t}" for t in range(arr.shape[0])]
    comments = list(comments)
    if len(comments) != arr.shape[0]:
        raise InputError(f"{len(comments)} comments for {arr.shape[0]} frames", path=path)
    write_text(path, "".join(_xyz_frame(syms, f, c) for f, c in zip(arr, comments)))


def _remark(model: int, text: str) -> str:
    return f"REMARK   1 FRAME {model} {' '.join(str(text).split())}"[:80] + "\n"


def _check_remarks(remarks, count: int, path) -> None:
    if remarks is not None and len(remarks) != count:
        raise InputError(f"{len(remarks)} remarks for {count} frames", path=path)


def write_trajectory_pdb(path, mol: Chem.Mol, frames, remarks: Sequence[str] | None = None) -> None:
    """Write ``frames`` ``(T, N, 3)`` of ``mol`` (N atoms, its bonds and bond orders) as a
    multi-model PDB; ``remarks`` (one per frame, e.g. what the frame is) as REMARK lines."""
    if not isinstance(mol, Chem.Mol):
        raise InputError(f"expected an rdkit Mol, got {type(mol).__name__}", path=path)
    arr = _frames_array(frames, path)
    if arr.shape[1] != mol.GetNumAtoms():
        raise InputError(f"frames have {arr.shape[1]} atoms but the molecule has "
                         f"{mol.GetNumAtoms()}", path=path)
    _check_remarks(remarks, len(arr), path)
    write_text(path, pdb_text([mol_with_conformers(mol, arr)], path, remarks))


def write_frames_pdb(path, symbols: Sequence[str], frames, bonds: Iterable = (),
                     remarks: Sequence[str] | None = None) -> None:
    """Write ``frames`` ``(T, N, 3)`` of N sites with element ``symbols`` (``X`` for a
    lattice site) as a multi-model PDB of HETATM records, ``bonds`` as CONECT records in
    every model: what RDKit's writer cannot do (sites that are not atoms)."""
    arr = _frames_array(frames, path)
    if len(symbols) != arr.shape[1]:
        raise InputError(f"{len(symbols)} symbols but frames have {arr.shape[1]} sites", path=path)
    _check_remarks(remarks, len(arr), path)
    out = []
    for k, f in enumerate(arr):
        if remarks is not None:
            out.append(_remark(k + 1, remarks[k]))
        out.append(f"MODEL     {k + 1:4d}\n")
        for i, (s, (x, y, z)) in enumerate(zip(symbols, f)):
            name = f"{s}{i + 1}"[:4]
            out.append(f"HETATM{i + 1:5d} {name:<4s} UNL A   1    "
                       f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00          {s:>2s}\n")
        out.extend(f"CONECT{a + 1:5d}{b + 1:5d}\n" for a, b in bonds)
        out.append("ENDMDL\n")
    out.append("END\n")
    write_text(path, "".join(out))
