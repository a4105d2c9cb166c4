"""Reading a built conformer corpus as ``GraphSample`` items, and its DataLoader."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError

__all__ = ["ConformerDataset", "make_loader", "atomic_masses"]


def atomic_masses() -> np.ndarray:
    """``(119,)`` float64 standard atomic weights by atomic number (RDKit's table, the
    same values as ``Atom.GetMass()`` for atoms without an isotope label)."""
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    return np.array([table.GetAtomicWeight(z) if z else 0.0 for z in range(119)])


class ConformerDataset:
    """Molecules of one split of a built corpus (``engine.data.corpus.build_corpus``).

    ``dataset[i]`` is a ``GraphSample`` with one stored conformer, drawn from
    ``numpy.random.default_rng([seed, epoch, i])`` (``conformer="random"``; deterministic,
    independent of DataLoader workers; ``set_epoch`` changes the draw, ``make_loader``
    advances it every pass) or always the first (``conformer="first"``). Positions are
    centred (mean-free) when ``center``. ``max_atoms`` drops molecules with more atoms
    (hydrogens included). The Laplacian uses ``engine.chem.graph.graph_edges`` with the
    given options.
    """

    def __init__(self, cache_dir, split: str = "train", *, max_atoms: int | None = None,
                 seed: int = 0, conformer: str = "random", center: bool = True,
                 bond_order_weights: bool = False, angle_edges: bool = False,
                 angle_weight: float = 0.5):
        from engine.chem.features import ATOM_FEATURE_DIM
        from engine.data.shards import corpus_info, read_shard

        self.cache_dir = Path(cache_dir)
        info = corpus_info(self.cache_dir)
        splits = json.loads((self.cache_dir / "splits.json").read_text(encoding="utf-8"))
        if split not in splits and split != "all":
            raise InputError(f"unknown split {split!r}; choose one of "
                             f"{', '.join(list(splits) + ['all'])}")
        if conformer not in ("random", "first"):
            raise InputError(f"conformer must be 'random' or 'first', got {conformer!r}")
        wanted = (set(i for v in splits.values() for i in v) if split == "all"
                  else set(splits[split]))
        self.split, self.seed, self.epoch = split, int(seed), 0
        self.conformer, self.center = conformer, center
        self.graph_options: dict[str, Any] = dict(bond_order_weights=bond_order_weights,
                                  angle_edges=angle_edges, angle_weight=angle_weight)
        self.info = info
        self._masses = atomic_masses()
        self._entries = []  # (corpus index, smiles, shard arrays, row)
        for k in range(info["num_shards"]):
            meta, arrays = read_shard(self.cache_dir / "shards" / f"shard_{k:05d}.zip")
            if arrays["features"].shape[1] not in (0, ATOM_FEATURE_DIM):
                raise InputError(f"{self.cache_dir}: corpus features have "
                                 f"{arrays['features'].shape[1]} columns, this engine uses "
                                 f"{ATOM_FEATURE_DIM}; rebuild the corpus")
            for r in meta["records"]:
                if r["status"] != "ok" or r["index"] not in wanted:
                    continue
                if max_atoms is not None and r["num_atoms"] > max_atoms:
                    continue
                self._entries.append((r["index"], r["smiles"], arrays, r["row"]))

    def __len__(self) -> int:
        return len(self._entries)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def corpus_index(self, i: int) -> int:
        return self._entries[i][0]

    def num_conformers(self, i: int) -> int:
        _, _, a, row = self._entries[i]
        return int(a["conf_ptr"][row + 1] - a["conf_ptr"][row])

    def conformers(self, i: int) -> np.ndarray:
        """All stored conformers of item i, ``(C, N, 3)`` float32 (not centred)."""
        _, _, a, row = self._entries[i]
        n = int(a["atom_ptr"][row + 1] - a["atom_ptr"][row])
        p0, p1 = a["pos_ptr"][row], a["pos_ptr"][row + 1]
        return a["positions"][p0:p1].reshape(-1, n, 3)

    def __getitem__(self, i: int):
        import torch

        from engine.chem.graph import graph_edges
        from engine.data.batching import GraphSample
        from engine.graphs import laplacian_from_edges

        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} molecules")
        i = i % len(self)
        _, smiles, a, row = self._entries[i]
        a0, a1 = a["atom_ptr"][row], a["atom_ptr"][row + 1]
        b0, b1 = a["bond_ptr"][row], a["bond_ptr"][row + 1]
        n = int(a1 - a0)
        confs = self.conformers(i)
        c = 0 if self.conformer == "first" else int(
            np.random.default_rng([self.seed, self.epoch, i]).integers(len(confs)))
        pos = confs[c].astype(np.float32)
        if self.center:
            pos = pos - pos.mean(axis=0, keepdims=True)
        bonds = a["bonds"][b0:b1].astype(np.int64)
        edges, weights = graph_edges(n, bonds, a["bond_orders"][b0:b1], **self.graph_options)
        z = a["atomic_numbers"][a0:a1].astype(np.int64)
        both = np.concatenate([bonds, bonds[:, ::-1]]).T
        return GraphSample(
            pos=torch.from_numpy(np.ascontiguousarray(pos)),
            features=torch.from_numpy(a["features"][a0:a1].astype(np.float32)),
            bond_index=torch.from_numpy(np.ascontiguousarray(both)),
            laplacian=laplacian_from_edges(n, edges, weights),
            masses=torch.from_numpy(self._masses[z].astype(np.float32)),
            atomic_numbers=torch.from_numpy(z),
            index=i,
            smiles=smiles,
        )


def make_loader(dataset, batch_size: int, shuffle: bool = True, num_workers: int = 0,
                seed: int = 0, sampler=None, *, pin_memory: bool = False,
                drop_last: bool = False):
    """A ``torch.utils.data.DataLoader`` that collates ``GraphSample`` into ``GraphBatch``
    with a seeded shuffling generator; each pass over it calls ``dataset.set_epoch`` with
    the pass number (0, 1, ...) when the data set has one, so conformer draws change per
    epoch yet are reproducible."""
    import torch
    from torch.utils.data import DataLoader

    from engine.data.batching import collate

    class _EpochLoader(DataLoader):
        _epoch = 0

        def __iter__(self):
            if hasattr(self.dataset, "set_epoch"):
                self.dataset.set_epoch(self._epoch)
            self._epoch += 1
            return super().__iter__()

    generator = torch.Generator().manual_seed(int(seed))
    return _EpochLoader(dataset, batch_size=batch_size,
                        shuffle=shuffle if sampler is None else False, sampler=sampler,
                        num_workers=num_workers, collate_fn=collate, generator=generator,
                        pin_memory=pin_memory, drop_last=drop_last,
                        persistent_workers=False)
