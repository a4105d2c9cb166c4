"""Typed configuration of the conformer corpus, loaded from YAML and validated once.

Every key of ``CorpusConfig`` may appear in the YAML file; unknown keys, wrong types and
out-of-range values raise ``ConfigError`` naming the file and the key.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ConfigError

__all__ = ["CorpusConfig", "load_corpus_config", "corpus_config_from_dict"]


@dataclass(frozen=True)
class CorpusConfig:
    """What goes into the conformer corpus and how its targets are made.

    sources: names from ``engine.data.sources.SOURCES``, or paths of ``.smi`` files (one
        SMILES per line; in a YAML file relative to that file).
    max_molecules: keep this many accepted molecules (a hash-ordered, source-mixed
        subset); ``None`` keeps all.
    min_heavy_atoms, max_heavy_atoms: size filter (inclusive).
    num_confs: ETKDGv3 conformers requested per molecule (after pruning it may be fewer).
    prune_rms: ETKDG pruning threshold in Å (0 disables pruning).
    embed_attempts: ETKDG attempts per conformer (bounds the time spent on molecules
        that cannot be embedded).
    max_isomers: stereoisomers tried for a molecule with unspecified stereo (the first
        that embeds is kept).
    force_field: "mmff" (MMFF94 optimisation, UFF where MMFF has no parameters) or "none".
    max_ff_iters: optimiser iterations per conformer.
    seed: master seed; each molecule's embedding seed is derived from it and its SMILES.
    split: fractions of train/val/test (scaffold split), summing to 1.
    shard_size: molecules per cache shard (the unit of resuming).
    cache_dir: where corpora go when no output directory is given (not part of the key).
    num_workers: worker processes; ``None`` uses every core (not part of the key).
    """

    sources: tuple[str, ...] = ("nci", "wehi", "chembl_freewilson", "nibr_examples")
    max_molecules: int | None = None
    min_heavy_atoms: int = 4
    max_heavy_atoms: int = 40
    num_confs: int = 5
    prune_rms: float = 0.5
    embed_attempts: int = 10
    max_isomers: int = 4
    force_field: str = "mmff"
    max_ff_iters: int = 500
    seed: int = 0
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    shard_size: int = 256
    cache_dir: str = ".cache/corpus"
    num_workers: int | None = None

    def key_dict(self) -> dict:
        """The fields that decide the corpus contents (hashed into the cache key)."""
        d = dataclasses.asdict(self)
        for name in ("cache_dir", "num_workers"):
            d.pop(name)
        d["sources"] = list(d["sources"])
        d["split"] = list(d["split"])
        return d


_FIELDS = {f.name: f for f in dataclasses.fields(CorpusConfig)}


def _fail(where: str, key: str, message: str):
    raise ConfigError(f"{where}: '{key}' {message}")


def _int(where, key, v, lo=None, hi=None, optional=False):
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        _fail(where, key, f"must be an integer{' or null' if optional else ''}, "
                          f"got {type(v).__name__} {v!r}")
    if lo is not None and v < lo:
        _fail(where, key, f"must be >= {lo}, got {v}")
    if hi is not None and v > hi:
        _fail(where, key, f"must be <= {hi}, got {v}")
    return v


def _float(where, key, v, lo=None):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        _fail(where, key, f"must be a number, got {type(v).__name__} {v!r}")
    v = float(v)
    if v != v or v in (float("inf"), float("-inf")):
        _fail(where, key, f"must be finite, got {v}")
    if lo is not None and v < lo:
        _fail(where, key, f"must be >= {lo}, got {v}")
    return v


def corpus_config_from_dict(data: dict | None, where: str = "corpus config",
                            base_dir=None) -> CorpusConfig:
    """Validate a mapping (e.g. parsed YAML) into a ``CorpusConfig``; relative ``.smi``
    source paths are taken from ``base_dir`` (default: the current directory)."""
    from engine.data.sources import SOURCES, is_smiles_file

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got "
                          f"{type(data).__name__}")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                          f"known keys: {', '.join(_FIELDS)}")
    out: dict[str, Any] = {}
    for key, v in data.items():
        if key == "sources":
            if isinstance(v, str):
                v = [v]
            if not isinstance(v, (list, tuple)) or not v:
                _fail(where, key, "must be a non-empty list of source names")
            resolved = []
            for s in v:
                if isinstance(s, str) and is_smiles_file(s):
                    p = Path(s)
                    if not p.is_absolute() and base_dir is not None:
                        p = Path(base_dir) / p
                    if not p.is_file():
                        _fail(where, key, f"names the SMILES file {s!r}, which does not exist")
                    s = str(p.resolve())
                elif s not in SOURCES:
                    _fail(where, key, f"has unknown source {s!r}; known: {', '.join(SOURCES)} "
                                      "or a path ending in .smi")
                resolved.append(s)
            v = resolved
            if len(set(v)) != len(v):
                _fail(where, key, "lists a source twice")
            out[key] = tuple(v)
        elif key == "max_molecules":
            out[key] = _int(where, key, v, lo=1, optional=True)
        elif key in ("min_heavy_atoms", "max_heavy_atoms"):
            out[key] = _int(where, key, v, lo=1, hi=200)
        elif key == "num_confs":
            out[key] = _int(where, key, v, lo=1, hi=1000)
        elif key == "prune_rms":
            out[key] = _float(where, key, v, lo=0.0)
        elif key == "embed_attempts":
            out[key] = _int(where, key, v, lo=1, hi=10000)
        elif key == "max_isomers":
            out[key] = _int(where, key, v, lo=1, hi=1024)
        elif key == "force_field":
            if v not in ("mmff", "none"):
                _fail(where, key, f"must be 'mmff' or 'none', got {v!r}")
            out[key] = v
        elif key == "max_ff_iters":
            out[key] = _int(where, key, v, lo=0)
        elif key == "seed":
            out[key] = _int(where, key, v, lo=0, hi=2**31 - 1)
        elif key == "split":
            if isinstance(v, dict):
                if set(v) != {"train", "val", "test"}:
                    _fail(where, key, f"must have exactly the keys train, val, test; got "
                                      f"{sorted(v)}")
                v = [v["train"], v["val"], v["test"]]
            if not isinstance(v, (list, tuple)) or len(v) != 3:
                _fail(where, key, "must be three fractions [train, val, test]")
            fr = tuple(_float(where, key, x, lo=0.0) for x in v)
            if abs(sum(fr) - 1.0) > 1e-6:
                _fail(where, key, f"fractions must sum to 1, got {sum(fr):g}")
            if fr[0] <= 0:
                _fail(where, key, "train fraction must be > 0")
            out[key] = fr
        elif key == "shard_size":
            out[key] = _int(where, key, v, lo=1)
        elif key == "cache_dir":
            if not isinstance(v, str) or not v:
                _fail(where, key, f"must be a non-empty path string, got {v!r}")
            out[key] = v
        elif key == "num_workers":
            out[key] = _int(where, key, v, lo=1, optional=True)
    cfg = CorpusConfig(**out)
    if cfg.min_heavy_atoms > cfg.max_heavy_atoms:
        raise ConfigError(f"{where}: 'min_heavy_atoms' ({cfg.min_heavy_atoms}) is larger than "
                          f"'max_heavy_atoms' ({cfg.max_heavy_atoms})")
    return cfg


def load_corpus_config(path) -> CorpusConfig:
    """Read and validate a YAML corpus config; ``ConfigError`` names the file and key."""
    from engine.yaml_config import read_yaml

    path = Path(path)
    data = read_yaml(path)
    return corpus_config_from_dict(data, where=str(path), base_dir=path.parent)
