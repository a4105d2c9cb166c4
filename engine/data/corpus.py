"""The conformer corpus (docs/data.md): SMILES from the rdkit wheel -> cached 3D targets.

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
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.data.config import CorpusConfig
from engine.data.shards import corpus_info
from engine.errors import ConfigError

__all__ = [
    "FORMAT_VERSION", "select_molecules", "corpus_key", "build_corpus", "corpus_info",
    "corpus_status", "sample_build",
    "default_corpus_dir",
]

FORMAT_VERSION = 1


class _Progress:
    """Progress dicts (``event`` "corpus") of one build, at most every ``every_s`` per
    phase, and the ``should_stop`` check (raises ``engine.errors.Cancelled``)."""

    def __init__(self, on_progress=None, should_stop=None, every_s: float = 0.2, **fields):
        self.on_progress = on_progress
        self.should_stop = should_stop
        self.every_s = every_s
        self.fields = fields
        self.phase: str | None = None
        self._t0 = self._last = 0.0
        self._done0 = 0

    def check(self) -> None:
        if self.should_stop is not None and self.should_stop():
            from engine.errors import Cancelled

            raise Cancelled(f"corpus build stopped during the {self.phase or 'set-up'} "
                              "phase; finished shards are kept and a new build resumes")

    def report(self, phase: str, done: int, total: int, *, force: bool = False, **extra):
        now = time.monotonic()
        if phase != self.phase:
            self.phase, self._t0, self._done0, force = phase, now, done, True
        if self.on_progress is None or (not force and now - self._last < self.every_s):
            return
        self._last = now
        elapsed = now - self._t0
        new = done - self._done0
        rate = new / elapsed if new > 0 and elapsed > 0 else None
        eta = (total - done) / rate if rate else None
        self.on_progress({"event": "corpus", "phase": phase, "done": int(done),
                          "total": int(total), "rate": rate, "eta_s": eta,
                          "elapsed_s": elapsed, **self.fields, **extra})


_CHECKED: dict[tuple, tuple] = {}

# Checking the bundled sources (~23,000 SMILES) costs ~5 s of RDKit calls that hold the
# GIL. In the app that ran beside the GUI thread (the training panel's plan) and stalled
# its event loop by > 100 ms while a Denoise ran: above this many entries the check runs
# in worker processes (niced when embedded, i.e. ``should_stop`` given), in chunks, and its
# result is kept on disk beside the corpora (``cache_dir/filtered/``), so that a later
# process reads it instead.
FILTER_IN_PROCESSES_FROM = 2000
FILTER_CHUNK = 500


def _source_key(source: str):
    from engine.data.sources import is_smiles_file

    if is_smiles_file(source) and os.path.isfile(source):
        st = os.stat(source)
        return (source, st.st_mtime_ns, st.st_size)
    return source


def _filter_cache_file(cache_root: Path | None, key: tuple) -> Path | None:
    """The file of the check results of sources ``key``: the key also holds the rdkit
    version (the bundled sources ship inside its wheel) and the filter code itself."""
    if cache_root is None:
        return None
    import rdkit

    payload = json.dumps({"sources": key, "rdkit": rdkit.__version__, "filters": _filters_digest()},
                         sort_keys=True, default=str)
    return cache_root / "filtered" / f"{hashlib.sha256(payload.encode()).hexdigest()[:16]}.json"


def _filters_digest() -> str:
    """A digest of the filter code: its source file, or — the packaged app holds bytecode
    only, and reading ``filters.py`` there raised FileNotFoundError, so its Training panel
    could not say what Start will do — the module's compiled code."""
    import marshal

    from engine.data import filters

    try:
        return hashlib.sha256(Path(filters.__file__).read_bytes()).hexdigest()
    except OSError:
        pass
    try:
        loader: Any = filters.__loader__
        code = loader.get_code(filters.__name__)
        return "code:" + hashlib.sha256(marshal.dumps(code)).hexdigest()
    except Exception:  # noqa: BLE001 -- no loader that hands out code: the engine version
        from engine import __version__

        return f"version:{__version__}"


def _read_filter_cache(path: Path | None, n_entries: int) -> tuple | None:
    if path is None:
        return None
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(rows, list) or len(rows) != n_entries:
        return None
    return tuple((c, int(h), r) for c, h, r in rows)


def _write_filter_cache(path: Path | None, result: tuple) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps([list(r) for r in result]), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:     # a read-only install: the check is simply repeated next time
        pass


def _check_chunk(smiles: list[str]) -> list[tuple]:
    """What a worker runs: the check of a chunk of SMILES."""
    from engine.data.filters import check_structure

    return [check_structure(s) for s in smiles]


def _check_entries(entries: list[str], progress: _Progress | None) -> list[tuple]:
    import multiprocessing as mp

    chunks = [entries[i:i + FILTER_CHUNK] for i in range(0, len(entries), FILTER_CHUNK)]
    out: list[tuple] = []

    def tell():
        if progress is not None:
            progress.check()
            progress.report("filter", len(out), len(entries), unit="SMILES")

    if len(entries) < FILTER_IN_PROCESSES_FROM:
        for chunk in chunks:
            tell()
            out.extend(_check_chunk(chunk))
        return out
    embedded = progress is not None and progress.should_stop is not None
    workers = max(1, min(os.cpu_count() or 1, len(chunks)))
    pool = mp.get_context("spawn" if os.name == "nt" else "fork").Pool(
        workers, initializer=_lower_priority, initargs=(10 if embedded else 0,))
    try:
        results = pool.imap(_check_chunk, chunks)
        for _ in chunks:
            while True:
                tell()
                try:
                    out.extend(results.next(timeout=0.1))
                    break
                except mp.TimeoutError:
                    continue
    finally:
        pool.terminate()
        pool.join()
    return out


def _checked(sources: tuple[str, ...], progress: _Progress | None = None,
             cache_root: Path | None = None):
    """``(canonical, heavy_atoms, reason)`` for every source entry (cached per process
    and, given ``cache_root``, on disk; a ``.smi`` file is read again when it changed)."""
    from engine.data.sources import read_source

    key = tuple(_source_key(s) for s in sources)
    hit = _CHECKED.get(key)
    if hit is not None:
        return hit
    entries = [smiles for source in sources for _name, smiles in read_source(source)]
    cache_file = _filter_cache_file(cache_root, key)
    result = _read_filter_cache(cache_file, len(entries))
    if result is None:
        result = tuple(_check_entries(entries, progress))
        _write_filter_cache(cache_file, result)
    if len(_CHECKED) >= 4:
        _CHECKED.pop(next(iter(_CHECKED)))
    _CHECKED[key] = result
    return result


def _accepted(sources: tuple[str, ...], lo: int, hi: int, progress: _Progress | None = None,
              cache_root: Path | None = None):
    from engine.data.filters import size_reason

    accepted: dict[str, None] = {}
    rejected: Counter = Counter()
    for canonical, heavy, reason in _checked(sources, progress, cache_root):
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


def select_molecules(config: CorpusConfig, *, on_progress=None,
                     should_stop=None) -> tuple[list[str], dict[str, int]]:
    """Filtered, deduplicated canonical SMILES in corpus order (sorted by a hash of the
    SMILES, which mixes the sources), truncated to ``max_molecules``; and the rejection
    counts by reason. ``on_progress``/``should_stop`` as in :func:`build_corpus` (phase
    "filter"; checking the bundled sources' ~23,000 SMILES takes a few seconds once per
    process)."""
    progress = _Progress(on_progress, should_stop)
    return _select(config, progress)


def _select(config: CorpusConfig, progress: _Progress):
    accepted, rejected = _accepted(tuple(config.sources), config.min_heavy_atoms,
                                   config.max_heavy_atoms, progress, _cache_root(config))
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


def _cache_root(config: CorpusConfig) -> Path:
    """``cache_dir``; a relative one is taken from the checkout root when running from a
    checkout, else (the packaged app, an installed wheel) from the user's cache directory:
    ``.cache/corpus`` is ``~/.cache/gdapp/corpus`` there (``engine.resources.cache_path``)."""
    from engine.resources import cache_path

    return cache_path(config.cache_dir)


def default_corpus_dir(config: CorpusConfig, key: str) -> Path:
    """``cache_dir/<key[:16]>`` (a relative ``cache_dir`` as in :func:`_cache_root`)."""
    return _cache_root(config) / key[:16]


def _shard_path(out: Path, k: int) -> Path:
    return out / "shards" / f"shard_{k:05d}.zip"


def build_corpus(config: CorpusConfig, out_dir=None, *, workers: int | None = None,
                 smiles: list[str] | None = None, overwrite: bool = False,
                 progress: bool = True,
                 on_shard_written: Callable[[int], None] | None = None,
                 on_progress: Callable[[dict], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> Path:
    """Build (or resume, or reuse) the corpus; returns its directory.

    ``out_dir`` defaults to ``cache_dir/<key[:16]>``. ``smiles`` replaces the configured
    sources with an explicit list (still filtered and deduplicated, in the given order).
    A directory holding a different corpus raises ``ConfigError`` unless ``overwrite``.
    ``on_shard_written(k)`` is called after shard k is on disk (tests use it to
    interrupt a build). ``progress`` draws a tqdm bar on stderr.

    ``on_progress(info)`` receives dicts ``{"event": "corpus", "phase", "done", "total",
    "unit", "rate" (per second, or None), "eta_s" (or None), "elapsed_s", "corpus"}``,
    at most five a second per phase: phase "filter" (SMILES checked), "conformers"
    (molecules embedded and optimised; also ``resumed`` — molecules already in kept shards
    — ``shards_done``, ``shards_total`` and ``workers``), "split" (shards read back).
    ``should_stop()`` is polled at least every 0.1 s: when it turns True the worker
    processes are terminated, the shards already written stay, and
    ``engine.errors.Cancelled`` is raised; building again resumes from those shards.
    With ``should_stop`` the conformers are always made in worker processes (so a stop
    never waits for a molecule), niced by 10 so that they never take the CPU from the
    caller (the app's event loop).
    """
    from engine.data.shards import read_shard, write_json_atomic
    from engine.data.split import scaffold_split

    report = _Progress(on_progress, should_stop)
    if smiles is None:
        mols, rejected = _select(config, report)
    else:
        mols, rejected = _filter_explicit(smiles, config)
    if not mols:
        raise ConfigError("no molecule passes the filters; nothing to build")
    key = corpus_key(config, mols)
    out = Path(out_dir) if out_dir is not None else default_corpus_dir(config, key)
    report.fields["corpus"] = str(out)
    report.check()
    _claim(out, key, config, overwrite)

    manifest_path = out / "corpus.json"
    if manifest_path.is_file():
        return out
    n_shards = (len(mols) + config.shard_size - 1) // config.shard_size
    todo = [k for k in range(n_shards) if not _shard_path(out, k).is_file()]
    if todo:
        _run_shards(config, out, mols, todo, workers, progress, on_shard_written, report)

    # gather, split, manifest
    ok_items: list = []
    failures: Counter = Counter()
    n_confs = n_atoms = 0
    ff: Counter = Counter()
    for k in range(n_shards):
        report.check()
        report.report("split", k, n_shards, unit="shards")
        meta, arrays = read_shard(_shard_path(out, k))
        for r in meta["records"]:
            if r["status"] == "ok":
                ok_items.append((r["index"], r["smiles"]))
                n_confs += r["num_confs"]
                n_atoms += r["num_atoms"]
                ff[r["force_field"]] += 1
            else:
                failures[r["reason"]] += 1
    report.report("split", n_shards, n_shards, force=True, unit="shards")
    splits = scaffold_split(ok_items, config.split, config.seed)
    report.check()
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


def corpus_status(config: CorpusConfig, out_dir=None, *, workers: int | None = None,
                  on_progress: Callable[[dict], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> dict:
    """What :func:`build_corpus` would do, without doing it: ``{"dir", "key",
    "molecules", "built", "shards_total", "shards_done", "molecules_done", "workers"}``
    (``shards_done``/``molecules_done``: what a build would resume from). Filters the
    sources (phase "filter" of ``on_progress``), so the first call takes a few seconds."""
    mols, _ = _select(config, _Progress(on_progress, should_stop))
    key = corpus_key(config, mols) if mols else ""
    out = Path(out_dir) if out_dir is not None else default_corpus_dir(config, key)
    n_shards = (len(mols) + config.shard_size - 1) // config.shard_size
    mine = False
    try:
        mine = json.loads((out / "build.json").read_text(encoding="utf-8")).get("key") == key
    except (OSError, ValueError):
        pass
    done = [k for k in range(n_shards) if mine and _shard_path(out, k).is_file()]
    size = config.shard_size
    return {
        "dir": str(out), "key": key, "molecules": len(mols),
        "built": bool(mine and (out / "corpus.json").is_file()),
        "shards_total": n_shards, "shards_done": len(done),
        "molecules_done": sum(min(size, len(mols) - k * size) for k in done),
        "workers": _num_workers(config, workers, max(1, len(mols))),
    }


#: molecules of the sample build that estimates a corpus build (spread evenly over the list)
ESTIMATE_SAMPLE = 12


def sample_build(config: CorpusConfig, smiles: list[str], *, workers: int = 1,
                 sample: int = ESTIMATE_SAMPLE, max_wall_s: float = 60.0,
                 should_stop: Callable[[], bool] | None = None) -> dict | None:
    """Make the conformers of ``sample`` molecules spread evenly over ``smiles`` as a build
    makes them (``workers`` processes niced by 10, one molecule at a time each) and say
    what they cost: ``{"molecules", "workers", "seconds_per_molecule"`` (wall seconds a
    worker spent on one, with whatever else runs on the cores now), ``"cpu_seconds_per_molecule"``
    (CPU seconds: what the molecules cost on idle cores)``}``; None for an empty list or when
    stopped before the first molecule. The sample is the same every time for the same list
    (no time budget decides how many are timed), so the estimate does not jump between
    calls; only a sample taking over ``max_wall_s`` is cut short. ``should_stop`` (polled
    every 0.1 s) ends the worker processes at once."""
    import multiprocessing as mp

    if not smiles:
        return None
    n = min(sample, len(smiles))
    picks = [(i, smiles[int(i * len(smiles) / n)]) for i in range(n)]
    work = functools.partial(_timed_conformers, **_conformer_kwargs(config))
    workers = max(1, min(workers, n))
    times: list[tuple[float, float]] = []
    t0 = time.monotonic()
    pool = mp.get_context("spawn" if os.name == "nt" else "fork").Pool(
        workers, initializer=_lower_priority, initargs=(10,))
    try:
        results = pool.imap_unordered(work, picks, chunksize=1)
        while len(times) < n and time.monotonic() - t0 < max_wall_s:
            if should_stop is not None and should_stop():
                break
            try:
                times.append(results.next(timeout=0.1))
            except mp.TimeoutError:
                continue
    finally:
        pool.terminate()
        pool.join()
    if not times:
        return None
    return {"molecules": len(times), "workers": workers,
            "seconds_per_molecule": sum(w for w, _ in times) / len(times),
            "cpu_seconds_per_molecule": sum(c for _, c in times) / len(times)}


def _lower_priority(increment: int) -> None:
    """Pool initializer: make this worker process nicer by ``increment``."""
    if increment and hasattr(os, "nice"):
        try:
            os.nice(increment)
        except OSError:
            pass


def _timed_conformers(item, **kwargs) -> tuple[float, float]:
    """(wall, CPU) seconds of one molecule's conformers in this process."""
    from engine.data.targets import make_conformers

    t, c = time.perf_counter(), time.process_time()
    make_conformers(item, **kwargs)
    return time.perf_counter() - t, time.process_time() - c


def _conformer_kwargs(config: CorpusConfig) -> dict:
    return dict(num_confs=config.num_confs, prune_rms=config.prune_rms,
                force_field=config.force_field, max_ff_iters=config.max_ff_iters,
                seed=config.seed, embed_attempts=config.embed_attempts,
                max_isomers=config.max_isomers)


def _num_workers(config: CorpusConfig, workers: int | None, n_items: int) -> int:
    workers = workers or config.num_workers or os.cpu_count() or 1
    return max(1, min(workers, n_items))


def _filter_explicit(smiles: list[str], config: CorpusConfig):
    from engine.data.filters import check_molecule

    out: list = []
    seen: set = set()
    rejected: Counter = Counter()
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


def _run_shards(config, out, mols, todo, workers, progress, on_shard_written,
                report: _Progress):
    import multiprocessing as mp

    from tqdm import tqdm

    from engine.data.shards import write_shard
    from engine.data.targets import make_conformers

    size = config.shard_size
    items = [(i, mols[i]) for k in todo for i in range(k * size, min((k + 1) * size,
                                                                      len(mols)))]
    work = functools.partial(make_conformers, **_conformer_kwargs(config))
    workers = _num_workers(config, workers, len(items))
    n_shards = (len(mols) + size - 1) // size
    resumed = len(mols) - len(items)
    state = {"done": resumed, "shards": n_shards - len(todo)}
    bar = tqdm(total=len(mols), initial=resumed, unit="mol",
               desc="conformers", disable=not progress, dynamic_ncols=True)
    buffers: dict[int, list] = {}

    def tell(force=False):
        report.report("conformers", state["done"], len(mols), force=force, unit="molecules",
                      resumed=resumed, shards_done=state["shards"], shards_total=n_shards,
                      workers=workers)

    def consume(rec):
        k = rec["index"] // size
        buffers.setdefault(k, []).append(rec)
        bar.update(1)
        state["done"] += 1
        if len(buffers[k]) == min(size, len(mols) - k * size):
            write_shard(_shard_path(out, k), buffers.pop(k))
            state["shards"] += 1
            if on_shard_written is not None:
                on_shard_written(k)
        tell()

    tell(force=True)
    try:
        if workers == 1 and report.should_stop is None:
            for rec in map(work, items):
                consume(rec)
        else:
            ctx = mp.get_context("spawn" if os.name == "nt" else "fork")
            # embedded (should_stop given: the app) the workers run niced, so that they
            # never take the CPU from the caller's event loop
            pool = ctx.Pool(workers, initializer=_lower_priority,
                            initargs=(10 if report.should_stop is not None else 0,))
            try:
                results = pool.imap(work, items, chunksize=1)
                for _ in range(len(items)):
                    while True:
                        report.check()
                        try:
                            rec = results.next(timeout=0.1)
                            break
                        except mp.TimeoutError:
                            tell()
                    consume(rec)
                pool.close()
            finally:
                # on a stop or an error: kill the workers mid-molecule (SIGTERM) and
                # reap them; the shards already written stay for the next build
                pool.terminate()
                pool.join()
        tell(force=True)
    finally:
        bar.close()
