"""What differs between molecule and lattice training: data, process, noise layout.

A task turns a collated batch into a ``Prepared`` record: clean structure ``x0`` in model
units, the network's ``graph`` argument, the diffusion ``process`` for this batch, the
data-set ``ids`` of its structures (for per-sample random streams) and the node counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.errors import ConfigError
from engine.training.config import TrainConfig, resolve_path

__all__ = ["Prepared", "MoleculeTask", "LatticeTask", "make_task", "per_sample_draws"]


@dataclass
class Prepared:
    x0: torch.Tensor               # (N, 3) concatenated or (B, N, 3)
    graph: object                  # the model's graph argument
    process: object                # GraphBatchDiffusion / GraphDiffusion
    ids: list                      # data-set position of each structure
    sizes: list                    # nodes per structure
    batch: torch.Tensor | None     # (N,) graph index (molecules) or None (stacked lattice)
    num_graphs: int
    extra: dict                    # masses, laplacians … for regularisers


def per_sample_draws(seed: int, tag: int, step: int, ids, sizes):
    """One uniform ``u`` and one standard-normal ``(n, 3)`` block per structure.

    Each comes from ``numpy.random.default_rng([seed, tag, step, id])``, so a structure's
    noise depends only on the run seed, the step and its data-set position — not on the
    batch composition, the rank or the number of processes (exact resume, DDP = 1 process).
    Returns ``(u (B,) float64, eps list of (n_i, 3) float32 arrays)``.
    """
    us, eps = [], []
    for i, n in zip(ids, sizes):
        rng = np.random.default_rng([int(seed), int(tag), int(step), int(i)])
        us.append(rng.random())
        eps.append(rng.standard_normal((int(n), 3)).astype(np.float32))
    return np.asarray(us, dtype=np.float64), eps


def _schedule(cfg: TrainConfig):
    from engine.process.schedules import schedule_from_config
    return schedule_from_config(cfg.process)


class MoleculeTask:
    """Conformers of a built corpus; ``GraphBatchDiffusion`` per batch (centre-of-mass free)."""

    kind = "molecule"

    def __init__(self, cfg: TrainConfig, out_dir: Path | None = None, build_ok: bool = True,
                 on_progress=None, should_stop=None):
        from engine.data.dataset import ConformerDataset
        self.cfg = cfg
        self.schedule = _schedule(cfg)
        cache = self._corpus_dir(cfg, build_ok, on_progress, should_stop)
        self.cache_dir = cache
        d = cfg.data
        if on_progress is not None:
            on_progress({"event": "setup", "phase": "loading data", "corpus": str(cache)})
        self.train_set = ConformerDataset(cache, "train", max_atoms=d.max_atoms, seed=cfg.run.seed,
                                          conformer="random", center=True)
        self.val_set = ConformerDataset(cache, "val", max_atoms=d.max_atoms, seed=cfg.run.seed,
                                        conformer="first", center=True)
        if len(self.train_set) == 0:
            raise ConfigError(f"{cache}: the training split holds no molecule with at most "
                              f"{d.max_atoms} atoms")
        self.val_indices = list(range(min(d.val_size, len(self.val_set))))

    @staticmethod
    def _corpus_dir(cfg: TrainConfig, build_ok: bool, on_progress=None,
                    should_stop=None) -> Path:
        d = cfg.data
        if d.cache_dir:
            path = resolve_path(cfg, d.cache_dir)
            if not (path / "corpus.json").is_file():
                raise ConfigError(f"data.cache_dir {path} is not a built corpus (no corpus.json); "
                                  f"build it with 'python -m engine data build'")
            return path
        from engine.data.config import load_corpus_config
        from engine.data.corpus import build_corpus
        corpus_cfg = load_corpus_config(resolve_path(cfg, d.corpus_config))
        if not build_ok:
            raise ConfigError("data.corpus_config needs a build, not allowed here")
        # from the app (on_progress given) the build reports to it, not to a tqdm bar;
        # should_stop ends it (worker processes included) with engine.errors.Cancelled
        return Path(build_corpus(corpus_cfg, progress=on_progress is None,
                                 on_progress=on_progress, should_stop=should_stop))

    def feature_dim(self) -> int:
        return int(self.train_set[0].features.shape[1])

    def collate(self, samples):
        from engine.data.batching import collate
        return collate(samples)

    def set_epoch(self, epoch: int) -> None:
        self.train_set.set_epoch(epoch)

    def prepare(self, batch, device) -> Prepared:
        from engine.process import GraphBatchDiffusion
        p = self.cfg.process
        batch = batch.to(device)
        proc = GraphBatchDiffusion(batch.laplacians, gamma=p.gamma, lam=p.lam,
                                   schedule=self.schedule, dtype=torch.float32,
                                   device=device, center=True)
        sizes = (batch.ptr[1:] - batch.ptr[:-1]).tolist()
        x0 = batch.pos.float() / p.coord_scale
        return Prepared(x0, batch, proc, batch.indices.tolist(), sizes, batch.batch,
                        int(batch.num_graphs),
                        {"masses": batch.masses, "laplacians": batch.laplacians,
                         "bond_index": batch.bond_index})

    def stack_noise(self, eps_blocks, device) -> torch.Tensor:
        return torch.from_numpy(np.concatenate(eps_blocks)).to(device)


class _FieldSet:
    """Items ``(index, field (N, 3))`` over a stacked ``(M, N, 3)`` tensor."""

    def __init__(self, fields: torch.Tensor):
        self.fields = torch.as_tensor(fields, dtype=torch.float32)

    def __len__(self):
        return int(self.fields.shape[0])

    def __getitem__(self, i):
        return int(i), self.fields[i]


class LatticeTask:
    """Vector fields on one grid; ``GraphDiffusion`` on the grid Laplacian (λ > 0, not
    centred); batches are stacked ``(B, N, 3)``.

    ``train_fields``/``val_fields`` are ``(M, N, 3)`` with ``N = prod(shape)`` (C order);
    ``LatticeTask.from_config`` gets them from ``engine.data.lattice``.
    """

    kind = "lattice"

    def __init__(self, cfg: TrainConfig, train_fields, val_fields, shape):
        from engine.graphs import grid_laplacian
        from engine.models.lattice_net import LatticeGraph
        from engine.process import GraphDiffusion
        self.cfg = cfg
        self.schedule = _schedule(cfg)
        self.shape = tuple(int(s) for s in shape)
        n = int(np.prod(self.shape))
        for name, f in (("training", train_fields), ("validation", val_fields)):
            if tuple(f.shape[1:]) != (n, 3):
                raise ConfigError(f"lattice {name} fields have shape {tuple(f.shape)}, expected "
                                  f"(M, {n}, 3) for grid {self.shape}")
        self.train_set = _FieldSet(train_fields)
        self.val_set = _FieldSet(val_fields)
        self.graph = LatticeGraph.from_shape(self.shape)
        self.L = grid_laplacian(self.shape)
        p = cfg.process
        if p.lam <= 0:
            raise ConfigError("process.lam must be > 0 for lattices (the prior needs A = γL + λI "
                              "to be positive definite)")
        self._process_args = dict(gamma=p.gamma, lam=p.lam, schedule=self.schedule,
                                  dtype=torch.float32, center=False)
        self._GraphDiffusion = GraphDiffusion
        self._cache: dict = {}
        self.val_indices = list(range(min(len(self.val_set), max(1, cfg.data.val_size))))

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> LatticeTask:
        """Synthetic fields from ``engine.data.lattice.LatticeDataset``: ``data.lattice``
        holds ``kind`` (elastic | spin | skyrmion), ``shape``, ``n_samples`` and the kind's
        physical parameters; the last ``val_size`` fields (at most a fifth) are held out."""
        from engine.data.lattice import LatticeDataset
        from engine.errors import InputError
        opts = dict(cfg.data.lattice)
        missing = [k for k in ("kind", "shape", "n_samples") if k not in opts]
        if missing:
            raise ConfigError(f"data.lattice needs {', '.join(missing)} "
                              f"(e.g. kind: spin, shape: [8, 8], n_samples: 1024)")
        kind, shape, count = opts.pop("kind"), opts.pop("shape"), opts.pop("n_samples")
        if isinstance(shape, list):
            shape = tuple(shape)
        try:
            data = LatticeDataset(kind, shape, count, seed=cfg.run.seed, **opts)
        except (InputError, TypeError) as exc:
            raise ConfigError(f"data.lattice: {exc}") from None
        fields = torch.stack([data[i] for i in range(len(data))])
        n_val = min(max(1, cfg.data.val_size), fields.shape[0] // 5)
        if fields.shape[0] - n_val < 1:
            raise ConfigError(f"data.lattice.n_samples ({count}) is too small to hold out "
                              f"a validation set")
        return cls(cfg, fields[: fields.shape[0] - n_val], fields[fields.shape[0] - n_val:],
                   data.shape)

    def feature_dim(self) -> int:
        return 0

    def collate(self, samples):
        return [s[0] for s in samples], torch.stack([s[1] for s in samples])

    def set_epoch(self, epoch: int) -> None:
        pass

    def prepare(self, batch, device) -> Prepared:
        from engine.models.lattice_net import LatticeGraph
        ids, fields = batch
        key = str(device)
        if key not in self._cache:
            g = self.graph
            self._cache[key] = (self._GraphDiffusion(self.L, device=device, **self._process_args),
                                LatticeGraph(g.edge_index.to(device), g.num_nodes,
                                             g.positions.to(device)))
        process, graph = self._cache[key]
        x0 = fields.to(device) / self.cfg.process.coord_scale
        return Prepared(x0, graph, process, list(ids), [x0.shape[1]] * len(ids), None, len(ids),
                        {"laplacians": self.L})

    def stack_noise(self, eps_blocks, device) -> torch.Tensor:
        return torch.from_numpy(np.stack(eps_blocks)).to(device)


def make_task(cfg: TrainConfig, out_dir=None, build_ok: bool = True, *, on_progress=None,
              should_stop=None):
    """The task of ``cfg``; a molecule task whose corpus is not built builds it (see
    ``engine.data.corpus.build_corpus`` for ``on_progress``/``should_stop``)."""
    if cfg.data.kind == "lattice":
        if on_progress is not None:
            on_progress({"event": "setup", "phase": "generating lattice data"})
        return LatticeTask.from_config(cfg)
    return MoleculeTask(cfg, out_dir, build_ok, on_progress, should_stop)
