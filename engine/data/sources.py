"""The SMILES sources that ship inside the rdkit wheel (docs/data.md: nothing is downloaded), and SMILES files.

Each reader returns ``(name, smiles)`` pairs in file order. ``SOURCES`` maps the source
names used in corpus configs to their readers; a source that is a path ending in ``.smi``
(one SMILES per line, optional name after white space) is read from that file.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

__all__ = ["SOURCES", "rdkit_dirs", "read_source", "source_path", "is_smiles_file"]


def rdkit_dirs() -> tuple[Path, Path]:
    """``(Data, Contrib)`` directories of the installed rdkit."""
    import rdkit
    from rdkit import RDConfig

    base = Path(os.path.dirname(rdkit.__file__))
    data = Path(RDConfig.RDDataDir) if os.path.isdir(RDConfig.RDDataDir) else base / "Data"
    contrib = (Path(RDConfig.RDContribDir) if os.path.isdir(RDConfig.RDContribDir)
               else base / "Contrib")
    return data, contrib


def _read_smi(path: Path, sep: str | None) -> list[tuple[str, str]]:
    """``SMILES<sep>ID`` per line, no header (NCI uses a tab, FreeWilson a space)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.strip().split(sep)
            if not parts or not parts[0]:
                continue
            name = parts[1] if len(parts) > 1 else f"{path.stem}:{lineno}"
            out.append((name, parts[0]))
    return out


def _read_wehi(path: Path) -> list[tuple[str, str]]:
    """Quoted CSV ``"SMILES","WEHI-id"``, no header."""
    with open(path, encoding="utf-8", newline="") as fh:
        return [(row[1] if len(row) > 1 else f"wehi:{k}", row[0])
                for k, row in enumerate(csv.reader(fh)) if row and row[0]]


def _read_nibr(path: Path) -> list[tuple[str, str]]:
    """CSV with a header; example molecules in columns EX1..EX5 with PubChem CIDs in
    CID_Ex1..CID_Ex5."""
    out = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            for k in range(1, 6):
                smi = (row.get(f"EX{k}") or "").strip()
                if smi:
                    cid = (row.get(f"CID_Ex{k}") or "").strip()
                    out.append((f"CID{cid}" if cid else f"{row.get('PATTERN_NAME')}:{k}", smi))
    return out


def source_path(name: str) -> Path:
    data, contrib = rdkit_dirs()
    paths = {
        "nci": data / "NCI" / "first_5K.smi",
        "wehi": data / "Pains" / "test_data" / "wehi_mols.csv",
        "chembl_freewilson": contrib / "FreeWilson" / "data" / "CHEMBL2321810.smi",
        "nibr_examples": contrib / "NIBRSubstructureFilters"
        / "SubstructureFilter_HitTriaging_wPubChemExamples.csv",
    }
    return paths[name]


_READERS = {
    "nci": lambda p: _read_smi(p, "\t"),
    "wehi": _read_wehi,
    "chembl_freewilson": lambda p: _read_smi(p, None),
    "nibr_examples": _read_nibr,
}
SOURCES: tuple[str, ...] = tuple(_READERS)


def is_smiles_file(name: str) -> bool:
    """A source given as a path to a ``.smi`` file rather than a bundled source name."""
    return str(name).lower().endswith(".smi")


def read_source(name: str) -> list[tuple[str, str]]:
    """``(name, smiles)`` pairs of one source; ``FileNotFoundError`` names a missing file."""
    if is_smiles_file(name):
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"source {name!r}: file not found")
        return _read_smi(path, None)
    if name not in _READERS:
        raise KeyError(f"unknown source {name!r}; known: {', '.join(SOURCES)}")
    path = source_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"source {name!r}: {path} not found in the rdkit install")
    return _READERS[name](path)
