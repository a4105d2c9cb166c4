"""Message-passing edges for batches of concatenated molecules (vectorised, no loop over graphs).

Edges are directed pairs ``(receiver, sender)`` stored as ``(2, E)`` long tensors with
global node indices into the concatenation. Two kinds:

* topological: pairs at bond distance 1, 2, …, ``max_hops`` (``khop_edges``), a function
  of the bond graph only, so computed once per batch and reused across network calls;
* spatial: for each atom its ``k`` nearest atoms of the same molecule within ``cutoff``
  (``knn_radius_edges``), recomputed from the current (noised) coordinates.

``molecule_edges`` merges both into one sorted edge list with an edge type per edge:
``type = hop`` (1 … max_hops) for topological pairs and ``max_hops + 1`` for pairs that
are only spatial neighbours.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Topology", "khop_edges", "knn_radius_edges", "merge_edges", "molecule_edges"]


@dataclass
class Topology:
    """Topological pairs of a batch: ``edge_index (2, E)`` (receiver, sender), ``hops (E,)``."""

    edge_index: torch.Tensor
    hops: torch.Tensor
    num_nodes: int
    max_hops: int

    def to(self, device) -> Topology:
        return Topology(self.edge_index.to(device), self.hops.to(device), self.num_nodes,
                        self.max_hops)


def _unique_pairs(keys: torch.Tensor) -> torch.Tensor:
    return torch.unique(keys, sorted=True)


def _extend(pairs_src: torch.Tensor, pairs_dst: torch.Tensor, rowptr: torch.Tensor,
            col: torch.Tensor):
    """All ``(i, k)`` with ``(i, j)`` in the pair list and ``j–k`` a bond (vectorised)."""
    counts = rowptr[pairs_dst + 1] - rowptr[pairs_dst]
    total = int(counts.sum())
    if total == 0:
        empty = pairs_src.new_zeros(0)
        return empty, empty
    src = torch.repeat_interleave(pairs_src, counts)
    starts = torch.repeat_interleave(rowptr[pairs_dst], counts)
    group_start = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    within = torch.arange(total, device=col.device) - group_start
    return src, col[starts + within]


def khop_edges(bond_index: torch.Tensor, num_nodes: int, max_hops: int = 3) -> Topology:
    """Pairs of atoms at bond distance 1 … ``max_hops`` (shortest path), both directions.

    ``bond_index`` is ``(2, E_b)`` with every bond listed in both directions (the
    ``GraphBatch`` convention; a one-directional list is symmetrised here). Returns a
    ``Topology`` whose ``edge_index`` is sorted by receiver and ``hops`` holds the bond
    distance of each pair. Cost: O(paths of length ``max_hops``), no dense N×N matrix.
    """
    if max_hops < 1:
        raise ValueError(f"max_hops must be at least 1, got {max_hops}")
    bond_index = torch.as_tensor(bond_index, dtype=torch.long)
    if bond_index.dim() != 2 or bond_index.shape[0] != 2:
        raise ValueError(f"bond_index must have shape (2, E), got {tuple(bond_index.shape)}")
    device = bond_index.device
    n = int(num_nodes)
    if bond_index.numel() and (int(bond_index.min()) < 0 or int(bond_index.max()) >= n):
        raise ValueError(f"bond_index refers to nodes outside [0, {n})")
    both = torch.cat([bond_index, bond_index.flip(0)], dim=1)
    both = both[:, both[0] != both[1]]
    keys = _unique_pairs(both[0] * n + both[1])
    src, dst = keys // n, keys % n
    # CSR of the (symmetric) bond graph, rows sorted because keys are sorted
    counts = torch.bincount(src, minlength=n)
    rowptr = torch.zeros(n + 1, dtype=torch.long, device=device)
    rowptr[1:] = torch.cumsum(counts, 0)
    col = dst

    all_keys = [keys]
    all_hops = [torch.ones_like(keys)]
    known = keys
    frontier_src, frontier_dst = src, dst
    self_keys = torch.arange(n, device=device) * (n + 1)
    for hop in range(2, max_hops + 1):
        a, b = _extend(frontier_src, frontier_dst, rowptr, col)
        new = _unique_pairs(a * n + b)
        new = new[~torch.isin(new, known) & ~torch.isin(new, self_keys)]
        if new.numel() == 0:
            break
        all_keys.append(new)
        all_hops.append(torch.full_like(new, hop))
        known = torch.cat([known, new])
        frontier_src, frontier_dst = new // n, new % n
    keys = torch.cat(all_keys)
    hops = torch.cat(all_hops)
    order = torch.argsort(keys)
    keys, hops = keys[order], hops[order]
    return Topology(torch.stack([keys // n, keys % n]), hops, n, max_hops)


def knn_radius_edges(pos: torch.Tensor, batch: torch.Tensor, num_graphs: int, k: int,
                     cutoff: float | None) -> torch.Tensor:
    """For every atom its ``k`` nearest atoms of the same graph within ``cutoff``.

    ``pos`` ``(N, 3)``, ``batch`` ``(N,)`` graph index (sorted, as in a concatenation).
    Returns ``(2, E)`` long ``(receiver, sender)``. The distances are computed on a padded
    ``(B, N_max, N_max)`` block, which for molecules (N_max ≲ 100) is small; no gradient
    flows through the choice of edges. ``k <= 0`` gives only the radius criterion (all
    atoms within ``cutoff``); ``cutoff=None`` gives plain kNN.
    """
    device = pos.device
    n = pos.shape[0]
    if n == 0:
        return torch.zeros(2, 0, dtype=torch.long, device=device)
    with torch.no_grad():
        counts = torch.bincount(batch, minlength=num_graphs)
        ptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=device)
        ptr[1:] = torch.cumsum(counts, 0)
        n_max = int(counts.max())
        local = torch.arange(n, device=device) - ptr[batch]
        dense = pos.new_zeros(num_graphs, n_max, 3)
        dense[batch, local] = pos.detach()
        valid = torch.zeros(num_graphs, n_max, dtype=torch.bool, device=device)
        valid[batch, local] = True
        d2 = ((dense[:, :, None, :] - dense[:, None, :, :]) ** 2).sum(-1)
        inf = torch.finfo(d2.dtype).max
        mask = valid[:, :, None] & valid[:, None, :]
        mask &= ~torch.eye(n_max, dtype=torch.bool, device=device)[None]
        if cutoff is not None:
            mask &= d2 <= float(cutoff) ** 2
        d2 = d2.masked_fill(~mask, inf)
        # rows belonging to real atoms only
        rows_graph, rows_local = batch, local
        row_d2 = d2[rows_graph, rows_local]                     # (N, N_max)
        row_ok = mask[rows_graph, rows_local]
        if k > 0 and k < n_max:
            vals, idx = torch.topk(row_d2, k, dim=1, largest=False, sorted=False)
            ok = vals < inf
        else:
            idx = torch.arange(n_max, device=device).expand(n, n_max)
            ok = row_ok
        receiver = torch.arange(n, device=device)[:, None].expand_as(idx)
        sender = idx + ptr[batch][:, None]
        return torch.stack([receiver[ok], sender[ok]])


def merge_edges(topology: Topology, spatial: torch.Tensor):
    """Union of topological and spatial pairs, sorted by receiver.

    Returns ``edge_index (2, E)`` and ``edge_type (E,)``: the hop count for topological
    pairs, ``max_hops + 1`` for pairs that are only spatial neighbours.
    """
    n = topology.num_nodes
    spatial_type = topology.max_hops + 1
    slots = spatial_type + 1
    keys = torch.cat([topology.edge_index[0] * n + topology.edge_index[1],
                      spatial[0] * n + spatial[1]])
    types = torch.cat([topology.hops,
                       torch.full((spatial.shape[1],), spatial_type, dtype=torch.long,
                                  device=spatial.device)])
    # sort (key, type) pairs; the first entry of each key carries its smallest type
    # (sorting instead of a scatter-min keeps this deterministic on CUDA as well)
    composite = torch.unique(keys * slots + types, sorted=True)
    pair = composite // slots
    first = torch.ones_like(pair, dtype=torch.bool)
    first[1:] = pair[1:] != pair[:-1]
    uniq, edge_type = pair[first], composite[first] % slots
    return torch.stack([uniq // n, uniq % n]), edge_type


def molecule_edges(pos: torch.Tensor, batch: torch.Tensor, num_graphs: int,
                   topology: Topology, k: int = 8, cutoff: float | None = None):
    """Topological pairs ∪ spatial kNN/radius pairs: ``(edge_index (2,E), edge_type (E,))``."""
    if k == 0 and cutoff is None:
        return topology.edge_index, topology.hops
    spatial = knn_radius_edges(pos, batch, num_graphs, k, cutoff)
    return merge_edges(topology, spatial)
