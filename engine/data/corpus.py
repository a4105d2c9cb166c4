"""The conformer corpus (SPEC §2): SMILES from the rdkit wheel -> cached 3D targets.

Layout of a corpus directory::

    build.json          the cache key and config (written first; guards resuming)
    shards/shard_00000.zip ...   molecules [k*shard_size, (k+1)*shard_size), see shards.py
    splits.json         scaffold split: corpus indices of train/val/test
    corpus.json         manifest (written last; its presence means "complete")

The key is a SHA-256 of (FORMAT_VERSION, rdkit version, feature layout, the content
config, the filtered SMILES list). Nothing time-dependent is written, so the same key
gives byte-identical files whatever the number of workers. An interrupted build resumes:
finished shards are kept, the others computed.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from engine.data.config import CorpusConfig
from engine.errors import ConfigError, InputError

__all__ = [
    "FORMAT_VERSION", "select_molecules", "corpus_key", "build_corpus", "corpus_info",
    "default_corpus_dir", "ConformerDataset", "make_loader",
]

FORMAT_VERSION = 1


@functools.lru_cache(maxsize=4)
def _checked(sources: tuple[str, ...]):
    """``(canonical, heavy_atoms, reason)`` for every source entry (cached per process)."""
    from engine.data.filters import check_structure
    from engine.data.sources import read_source

    return tuple(check_structure(smiles) for source in sources
                 for _name, smiles in read_source(source))


def _accepted(sources: tuple[str, ...], lo: int, hi: int):
    from engine.data.filters import size_reason

    accepted: dict[str, None] = {}
    rejected: Counter = Counter()
    for canonical, heavy, reason in _checked(sources):
        if canonical is not None:
            reason = size_reason(heavy, lo, hi)
        if reason is not None:
            rejected[reason.split(" ")[0] if "heavy atoms" not in reason
                     else "heavy atom count"] += 1
        elif canonical in accepted:
            rejected["duplicate"] += 1
        else:
            accepted[canonical] = None
    return tuple(accepted), tuple(sorted(rejected.items()))


def select_molecules(config: CorpusConfig) -> tuple[list[str], dict[str, int]]:
    """Filtered, deduplicated canonical SMILES in corpus order (sorted by a hash of the
    SMILES, which mixes the sources), truncated to ``max_molecules``; and the rejection
    counts by reason."""
    accepted, rejected = _accepted(tuple(config.sources), config.min_heavy_atoms,
                                   config.max_heavy_atoms)
    order = sorted(accepted, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    if config.max_molecules is not None:
        order = order[:config.max_molecules]
    return order, dict(rejected)


def corpus_key(config: CorpusConfig, smiles: list[str]) -> str:
    import rdkit

    from engine.chem.features import ATOM_FEATURE_DIM

    payload = json.dumps({
        "format": FORMAT_VERSION, "rdkit": rdkit.__version__,
        "feature_dim": ATOM_FEATURE_DIM, "config": config.key_dict(), "smiles": smiles,
    }, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def default_corpus_dir(config: CorpusConfig, key: str) -> Path:
    """``cache_dir/<key[:16]>``; a relative ``cache_dir`` is taken from the checkout root
    (the folder holding ``pyproject.toml`` above ``engine/``), else from the current
    directory."""
    cache = Path(config.cache_dir)
    if not cache.is_absolute():
        root = Path(__file__).resolve().parents[2]
        cache = (root if (root / "pyproject.toml").is_file() else Path.cwd()) / cache
    return cache / key[:16]


def _shard_path(out: Path, k: int) -> Path:
    return out / "shards" / f"shard_{k:05d}.zip"


def build_corpus(config: CorpusConfig, out_dir=None, *, workers: int | None = None,
                 smiles: list[str] | None = None, overwrite: bool = False,
                 progress: bool = True,
                 on_shard_written: Callable[[int], None] | None = None) -> Path:
    """Build (or resume, or reuse) the corpus; returns its directory.

    ``out_dir`` defaults to ``cache_dir/<key[:16]>``. ``smiles`` replaces the configured
    sources with an explicit list (still filtered and deduplicated, in the given order).
    A directory holding a different corpus raises ``ConfigError`` unless ``overwrite``.
    ``on_shard_written(k)`` is called after shard k is on disk (tests use it to
    interrupt a build).
    """
    from engine.data.shards import read_shard, write_json_atomic, write_shard
    from engine.data.split import scaffold_split

    if smiles is None:
        mols, rejected = select_molecules(config)
    else:
        mols, rejected = _filter_explicit(smiles, config)
    if not mols:
        raise ConfigError("no molecule passes the filters; nothing to build")
    key = corpus_key(config, mols)
    out = Path(out_dir) if out_dir is not None else default_corpus_dir(config, key)
    _claim(out, key, config, overwrite)

    manifest_path = out / "corpus.json"
    if manifest_path.is_file():
        return out
    n_shards = (len(mols) + config.shard_size - 1) // config.shard_size
    todo = [k for k in range(n_shards) if not _shard_path(out, k).is_file()]
    if todo:
        _run_shards(config, out, mols, todo, workers, progress, on_shard_written)

    # gather, split, manifest
    ok_items, failures, counts = [], Counter(), Counter()
    n_confs = n_atoms = 0
    ff = Counter()
    for k in range(n_shards):
        meta, arrays = read_shard(_shard_path(out, k))
        for r in meta["records"]:
            if r["status"] == "ok":
                ok_items.append((r["index"], r["smiles"]))
                n_confs += r["num_confs"]
                n_atoms += r["num_atoms"]
                ff[r["force_field"]] += 1
            else:
                failures[r["reason"]] += 1
    splits = scaffold_split(ok_items, config.split, config.seed)
    write_json_atomic(out / "splits.json", splits)
    write_json_atomic(manifest_path, {
        "key": key,
        "format": FORMAT_VERSION,
        "config": config.key_dict(),
        "num_shards": n_shards,
        "molecules_requested": len(mols),
        "molecules_ok": len(ok_items),
        "molecules_failed": sum(failures.values()),
        "failure_reasons": dict(sorted(failures.items())),
        "rejected_by_filter": rejected,
        "conformers": n_confs,
        "mean_atoms": round(n_atoms / max(1, len(ok_items)), 3),
        "force_fields": dict(sorted(ff.items())),
        "split_sizes": {k: len(v) for k, v in splits.items()},
    })
    return out


def _filter_explicit(smiles: list[str], config: CorpusConfig):
    from engine.data.filters import check_molecule

    out, seen, rejected = [], set(), Counter()
    for s in smiles:
        canonical, reason = check_molecule(s, config.min_heavy_atoms, config.max_heavy_atoms)
        if canonical is None:
            rejected[reason] += 1
        elif canonical in seen:
            rejected["duplicate"] += 1
        else:
            seen.add(canonical)
            out.append(canonical)
    if config.max_molecules is not None:
        out = out[:config.max_molecules]
    return out, dict(sorted(rejected.items()))


def _claim(out: Path, key: str, config: CorpusConfig, overwrite: bool) -> None:
    from engine.data.shards import write_json_atomic

    build_path = out / "build.json"
    if build_path.is_file():
        old = json.loads(build_path.read_text(encoding="utf-8"))
        if old.get("key") != key:
            if not overwrite:
                raise ConfigError(
                    f"{out} holds a different corpus (key {str(old.get('key'))[:16]}, this "
                    f"config gives {key[:16]}); choose another output directory or "
                    "pass overwrite (--overwrite)")
            for name in ("corpus.json", "splits.json", "build.json"):
                (out / name).unlink(missing_ok=True)
            for p in (out / "shards").glob("shard_*.zip*"):
                p.unlink()
    elif out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not a corpus directory (no build.json)")
    (out / "shards").mkdir(parents=True, exist_ok=True)
    write_json_atomic(build_path, {"key": key, "format": FORMAT_VERSION,
                                   "config": config.key_dict()})


def _run_shards(config, out, mols, todo, workers, progress, on_shard_written):
    import multiprocessing as mp

    from tqdm import tqdm

    from engine.data.conformers import make_conformers
    from engine.data.shards import write_shard

    size = config.shard_size
    items = [(i, mols[i]) for k in todo for i in range(k * size, min((k + 1) * size,
                                                                      len(mols)))]
    work = functools.partial(make_conformers, num_confs=config.num_confs,
                             prune_rms=config.prune_rms, force_field=config.force_field,
                             max_ff_iters=config.max_ff_iters, seed=config.seed,
                             embed_attempts=config.embed_attempts,
                             max_isomers=config.max_isomers)
    workers = workers or config.num_workers or os.cpu_count() or 1
    workers = max(1, min(workers, len(items)))
    bar = tqdm(total=len(mols), initial=len(mols) - len(items), unit="mol",
               desc="conformers", disable=not progress, dynamic_ncols=True)
    buffers: dict[int, list] = {}

    def consume(results):
        for rec in results:
            k = rec["index"] // size
            buffers.setdefault(k, []).append(rec)
            bar.update(1)
            if len(buffers[k]) == min(size, len(mols) - k * size):
                write_shard(_shard_path(out, k), buffers.pop(k))
                if on_shard_written is not None:
                    on_shard_written(k)

    try:
        if workers == 1:
            consume(map(work, items))
        else:
            ctx = mp.get_context("spawn" if os.name == "nt" else "fork")
            with ctx.Pool(workers) as pool:
                consume(pool.imap(work, items, chunksize=1))
    finally:
        bar.close()


def corpus_info(cache_dir) -> dict:
    """The manifest of a complete corpus plus its size on disk (bytes)."""
    d = Path(cache_dir)
    path = d / "corpus.json"
    if not path.is_file():
        what = "an unfinished corpus (build again to resume)" if (d / "build.json").is_file() \
            else "not a corpus directory"
        raise InputError(f"{d}: no corpus.json, {what}")
    info = json.loads(path.read_text(encoding="utf-8"))
    info["size_bytes"] = sum(p.stat().st_size for p in d.rglob("*") if p.is_file())
    return info


from engine.data.dataset import ConformerDataset, make_loader  # noqa: E402  (re-export)
