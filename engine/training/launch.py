"""Training jobs for the app: the shipped configs, what Start will do (corpus build or not),
building the corpus, and running (or resuming) a training run with progress and stop.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.errors import check_stop
from engine.resources import resource_path

#: the config the app preselects: it trains in seconds once its small corpus (about 300
#: molecules, under a minute to build on 2 cores) is built
DEFAULT_TRAINING_CONFIG = "small_test.yaml"


def training_configs() -> list[Path]:
    """Training configs that ship in ``resources/configs`` (YAML files with a model section)."""
    folder = resource_path("configs")
    if not folder.exists():
        return []
    out = []
    for p in sorted(folder.glob("*.y*ml")):
        try:
            if "model" in p.read_text():
                out.append(p)
        except OSError:
            continue
    return out


@dataclass(frozen=True)
class TrainingConfigInfo:
    """A training config as the app lists it: ``name`` (file stem), ``path``,
    ``description`` (the first sentence of the file's leading comment), ``kind``
    (molecules | lattice), ``total_steps`` and ``corpus_config`` (the data-build YAML a
    molecule config builds its corpus from, or None)."""

    name: str
    path: Path
    description: str
    kind: str
    total_steps: int
    corpus_config: Path | None


def _config_description(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        body = line.lstrip("#").strip()
        if not body or body.split()[0] in ("python", "torchrun", "nice", "then"):
            break
        lines.append(body)
    joined = " ".join(lines)
    for k, ch in enumerate(joined):
        if ch == "." and (k + 1 == len(joined) or joined[k + 1] == " ") \
                and not joined[max(0, k - 3):k + 1].endswith(("e.g.", "i.e.")):
            joined = joined[:k + 1]
            break
    return joined.rstrip(":").strip()


def training_config_info(config) -> TrainingConfigInfo:
    """Read a training config's description and data source (``ConfigError`` when the
    file is not a valid training config)."""
    from engine.training.config import load_config, resolve_path

    path = Path(config)
    cfg = load_config(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        text = ""
    corpus = None
    if cfg.data.kind != "lattice" and not cfg.data.cache_dir and cfg.data.corpus_config:
        corpus = resolve_path(cfg, cfg.data.corpus_config)
    return TrainingConfigInfo(path.stem, path, _config_description(text), cfg.data.kind,
                              int(cfg.optim.total_steps), corpus)


@dataclass(frozen=True)
class TrainingPlan:
    """What :func:`train` will do before its first step (:func:`training_plan`).

    ``corpus_dir``: the corpus it trains on (None for lattice data); ``corpus_built``:
    complete already; otherwise Start builds it first: ``molecules`` in ``shards_total``
    shards, of which ``shards_done`` (``molecules_done`` molecules) are kept from an earlier
    build and resumed from. A sample build of ``sampled`` molecules spread evenly over
    what is left (``engine.data.corpus.sample_build``: ``workers`` niced processes, as the
    build runs them) measured ``seconds_per_molecule`` (wall seconds per molecule and
    worker, with what else runs on the cores now) and ``cpu_seconds_per_molecule`` (on idle
    cores); ``build_seconds`` = molecules left × ``seconds_per_molecule`` / ``workers``
    (the estimate for now), ``idle_build_seconds`` the same from the CPU seconds."""

    config: TrainingConfigInfo
    corpus_config: Path | None = None
    corpus_dir: Path | None = None
    corpus_built: bool = True
    molecules: int = 0
    molecules_done: int = 0
    shards_done: int = 0
    shards_total: int = 0
    workers: int = 1
    seconds_per_molecule: float | None = None
    build_seconds: float | None = None
    cpu_seconds_per_molecule: float | None = None
    idle_build_seconds: float | None = None
    sampled: int = 0

    @property
    def needs_build(self) -> bool:
        return self.corpus_dir is not None and not self.corpus_built


def _corpus_for(config, data):
    """``(info, corpus CorpusConfig or None, corpus_dir or None)`` of a training config."""
    from engine.data.config import load_corpus_config
    from engine.training.config import load_config, resolve_path

    info = training_config_info(config)
    if info.kind == "lattice":
        return info, None, None
    if data:
        return info, None, Path(data).resolve()
    if info.corpus_config is None:
        cfg = load_config(config)
        return info, None, resolve_path(cfg, cfg.data.cache_dir)
    return info, load_corpus_config(info.corpus_config), None


def training_plan(config, data=None, *, measure: bool = True,
                  on_progress: Callable[[dict], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> TrainingPlan:
    """What Start will do with ``config`` (and ``data``, as in :func:`train`): which corpus,
    whether it is built, and if not how many molecules it holds and about how long its
    build takes here (``measure``: time a few molecules, about a second and a half).
    Filtering the sources takes a few seconds the first time in a process
    (``on_progress`` gets phase "filter"); ``should_stop`` raises :class:`engine.errors.Cancelled`."""
    from engine.data.corpus import corpus_status, sample_build, select_molecules

    info, corpus_cfg, corpus_dir = _corpus_for(config, data)
    if corpus_cfg is None:
        built = corpus_dir is None or (corpus_dir / "corpus.json").is_file()
        return TrainingPlan(info, corpus_dir=corpus_dir, corpus_built=built)
    timing: dict = {}
    st = corpus_status(corpus_cfg, on_progress=on_progress, should_stop=should_stop)
    if not st["built"] and measure:
        mols, _ = select_molecules(corpus_cfg)
        size = corpus_cfg.shard_size
        left = [m for k in range(st["shards_total"])
                if not (Path(st["dir"]) / "shards" / f"shard_{k:05d}.zip").is_file()
                for m in mols[k * size:(k + 1) * size]]
        sample = sample_build(corpus_cfg, left, workers=st["workers"], should_stop=should_stop)
        check_stop(should_stop)
        if sample is not None:
            left_n = st["molecules"] - st["molecules_done"]
            timing = {
                "seconds_per_molecule": sample["seconds_per_molecule"],
                "cpu_seconds_per_molecule": sample["cpu_seconds_per_molecule"],
                "sampled": sample["molecules"],
                "build_seconds": sample["seconds_per_molecule"] * left_n / st["workers"],
                "idle_build_seconds": sample["cpu_seconds_per_molecule"] * left_n / st["workers"],
            }
    return TrainingPlan(info, corpus_config=info.corpus_config, corpus_dir=Path(st["dir"]),
                        corpus_built=st["built"], molecules=st["molecules"],
                        molecules_done=st["molecules_done"], shards_done=st["shards_done"],
                        shards_total=st["shards_total"], workers=st["workers"], **timing)


def build_training_corpus(config, *, on_progress: Callable[[dict], None] | None = None,
                          should_stop: Callable[[], bool] | None = None) -> Path:
    """Build (or resume) the corpus a training config trains on, without training;
    progress and stopping as in ``engine.data.corpus.build_corpus`` (a stop raises
    :class:`engine.errors.Cancelled`; the shards written so far are kept). Returns its folder."""
    from engine.data.corpus import build_corpus
    from engine.errors import ConfigError

    info, corpus_cfg, corpus_dir = _corpus_for(config, None)
    if corpus_cfg is None:
        if corpus_dir is None:
            raise ConfigError(f"{info.path}: {info.kind} data are generated, no corpus to build")
        return corpus_dir
    return Path(build_corpus(corpus_cfg, progress=False, on_progress=on_progress,
                             should_stop=should_stop))


def train(config, out_dir, *, data=None, resume: bool = False, overrides: dict | None = None,
          on_progress: Callable[[dict], None] | None = None,
          should_stop: Callable[[], bool] | None = None) -> dict:
    """Run (or resume) a training job with ``engine.training``; files go to ``out_dir``.

    ``data``: a built corpus folder replacing the config's data source. ``overrides``:
    ``{"section.key": value}``. ``on_progress(info)`` receives the trainer's event dicts
    (``event`` train/val/checkpoint/done/stopped, ``step``, ``total_steps``, ``loss``,
    ``val_loss``, ``eta_s``; checkpoint events carry ``checkpoint``, the file written).
    Before the first step it also receives the corpus build's dicts (``event`` "corpus":
    ``phase``, ``done``, ``total``, ``rate``, ``eta_s``; see
    ``engine.data.corpus.build_corpus``) when the config's corpus is not built yet, and
    ``{"event": "setup", "phase"}``. When ``should_stop()`` turns True the trainer writes
    a checkpoint and returns with ``status`` "stopped"; before the first step (building
    the corpus, loading data) it raises :class:`engine.errors.Cancelled` within a fraction of a second,
    worker processes ended, corpus shards kept for the next start. Returns the trainer's
    result dict (``status``, ``step``, ``checkpoint``, ``val_loss``).
    """
    from engine.errors import ConfigError
    from engine.training.config import load_config
    from engine.training.trainer import Trainer

    cfg = load_config(config)
    if data:
        cfg.data.cache_dir = str(Path(data).resolve())
        cfg.data.corpus_config = None
    for key, value in (overrides or {}).items():
        section, _, name = key.partition(".")
        if not hasattr(cfg, section) or not hasattr(getattr(cfg, section), name):
            raise ConfigError(f"unknown config override {key!r}")
        setattr(getattr(cfg, section), name, value)

    def relay(info: dict):
        if on_progress is None:
            return
        info = dict(info)
        if info.get("event") == "checkpoint":
            info["checkpoint"] = info.get("path")
        on_progress(info)

    trainer = Trainer(cfg, out_dir, resume=resume, on_progress=relay, should_stop=should_stop)
    return trainer.run()
