"""ε-network for lattice systems: a vector per site on a 1D/2D/3D grid (or any fixed graph).

``forward(x, t, graph) -> ε̂`` with ``x`` ``(N, 3)`` or ``(B, N, 3)`` (the same graph for
every batch element, as ``GraphDiffusion`` noises it), ``t`` a float or ``(B,)``.

Each block: time-conditioned shift of the node state → LayerNorm → graph convolution
(degree-normalised mean over the nearest neighbours) + multi-head attention over the
neighbourhood of sites within ``attention_hops`` steps (including the site itself), with a
softmax per receiving site, so boundary and corner sites with fewer neighbours are handled
exactly → residual → per-node MLP (residual). Node inputs are the vector at the site and
the site's normalised grid coordinates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from engine.models.edges import khop_edges
from engine.models.embeddings import TimeEmbedding

__all__ = ["LatticeGraph", "LatticeEpsNet"]


@dataclass
class LatticeGraph:
    """A fixed graph for the lattice network.

    ``edge_index (2, E)``: nearest-neighbour pairs (receiver, sender), both directions;
    ``num_nodes``; ``positions (N, P)``: site coordinates scaled to [0, 1] (P = 1–3, zeros
    padded to 3 columns).
    """

    edge_index: torch.Tensor
    num_nodes: int
    positions: torch.Tensor

    @classmethod
    def from_shape(cls, shape) -> LatticeGraph:
        from engine.graphs import grid_edges
        shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
        edges = torch.as_tensor(grid_edges(shape), dtype=torch.long)
        n = int(np.prod(shape))
        grids = np.meshgrid(*[np.linspace(0.0, 1.0, s) if s > 1 else np.zeros(1) for s in shape],
                            indexing="ij")
        pos = np.zeros((n, 3), dtype=np.float32)
        for axis, g in enumerate(grids):
            pos[:, axis] = g.ravel()
        return cls.from_edges(n, edges, torch.from_numpy(pos))

    @classmethod
    def from_edges(cls, num_nodes: int, edges, positions=None) -> LatticeGraph:
        """``edges (E, 2)`` each undirected edge once (or both ways); positions optional."""
        edges = torch.as_tensor(edges, dtype=torch.long).reshape(-1, 2)
        both = torch.cat([edges, edges.flip(1)]).T
        keys = torch.unique(both[0] * num_nodes + both[1])
        edge_index = torch.stack([keys // num_nodes, keys % num_nodes])
        if positions is None:
            positions = torch.zeros(num_nodes, 3)
        positions = torch.as_tensor(positions, dtype=torch.float32)
        if positions.shape[1] < 3:
            positions = torch.cat([positions, positions.new_zeros(num_nodes, 3 - positions.shape[1])], 1)
        return cls(edge_index, int(num_nodes), positions)


@dataclass
class _PreparedLattice:
    conv_index: torch.Tensor      # (2, E1) nearest neighbours
    neighbours: torch.Tensor      # (N, K) neighbourhood incl. self, padded with 0
    neighbour_mask: torch.Tensor  # (N, K) True for real neighbours
    inv_deg: torch.Tensor         # (N, 1)
    positions: torch.Tensor       # (N, 3)
    num_nodes: int


class LatticeBlock(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.heads = heads
        self.norm1 = nn.LayerNorm(hidden)
        self.time = nn.Linear(hidden, hidden)
        self.conv = nn.Linear(hidden, hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.SiLU(), nn.Linear(2 * hidden, hidden))

    def forward(self, h, temb, g: _PreparedLattice):
        b, n, hid = h.shape
        a = self.norm1(h + self.time(temb)[:, None, :])
        # graph convolution: mean of projected neighbours
        proj = self.conv(a)
        recv, send = g.conv_index
        conv = proj.new_zeros(b, n, hid).index_add_(1, recv, proj[:, send]) * g.inv_deg.to(proj.dtype)
        # attention over variable-size neighbourhoods: padded (N, K) lists + mask
        q, k, v = self.qkv(a).chunk(3, dim=-1)
        dh = hid // self.heads
        nbr, mask = g.neighbours, g.neighbour_mask
        q = q.reshape(b, n, 1, self.heads, dh)
        k = k.reshape(b, n, self.heads, dh)[:, nbr]                          # (B, N, K, heads, dh)
        v = v.reshape(b, n, self.heads, dh)[:, nbr]
        scores = (q * k).sum(-1) / math.sqrt(dh)                             # (B, N, K, heads)
        scores = scores.masked_fill(~mask[None, :, :, None], -torch.inf)
        weights = torch.softmax(scores, dim=2)
        attn = (weights[..., None] * v).sum(2)                               # (B, N, heads, dh)
        h = h + conv + self.out(attn.reshape(b, n, hid))
        return h + self.mlp(self.norm2(h))


class LatticeEpsNet(nn.Module):
    """Lattice ε-network: ``forward(x, t, graph: LatticeGraph) -> ε̂`` (shape of ``x``)."""

    kind = "lattice"

    def __init__(self, hidden: int = 64, layers: int = 3, heads: int = 4,
                 attention_hops: int = 2, time_dim: int = 64):
        super().__init__()
        self.attention_hops = int(attention_hops)
        self.embed = nn.Linear(3 + 3, hidden)
        self.time = TimeEmbedding(hidden, sin_dim=time_dim)
        self.blocks = nn.ModuleList(LatticeBlock(hidden, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, 3)

    def prepare(self, graph) -> _PreparedLattice:
        if isinstance(graph, _PreparedLattice):
            return graph
        cached = getattr(self, "_prepared", None)
        if cached is not None and cached[0] is graph:
            return cached[1]
        n = int(graph.num_nodes)
        conv_index = graph.edge_index
        deg = torch.bincount(conv_index[0], minlength=n).clamp(min=1).float()
        if self.attention_hops >= 1 and conv_index.numel():
            topo = khop_edges(conv_index, n, self.attention_hops)
            attn = topo.edge_index
        else:
            attn = conv_index.new_zeros(2, 0)
        self_loops = torch.arange(n, device=conv_index.device).repeat(2, 1)
        attn_index = torch.cat([self_loops, attn], dim=1)
        order = torch.argsort(attn_index[0] * n + attn_index[1])
        recv, send = attn_index[0][order], attn_index[1][order]
        counts = torch.bincount(recv, minlength=n)
        width = int(counts.max())
        start = torch.cumsum(counts, 0) - counts
        slot = torch.arange(recv.shape[0], device=recv.device) - start[recv]
        neighbours = torch.zeros(n, width, dtype=torch.long, device=recv.device)
        mask = torch.zeros(n, width, dtype=torch.bool, device=recv.device)
        neighbours[recv, slot] = send
        mask[recv, slot] = True
        prepared = _PreparedLattice(conv_index, neighbours, mask, (1.0 / deg)[:, None],
                                    graph.positions, n)
        self._prepared = (graph, prepared)     # the same graph object is reused every step
        return prepared

    def forward(self, x: torch.Tensor, t, graph) -> torch.Tensor:
        g = self.prepare(graph)
        squeeze = x.dim() == 2
        if squeeze:
            x = x[None]
        if x.dim() != 3 or x.shape[-1] != 3 or x.shape[1] != g.num_nodes:
            raise ValueError(f"x must be (N, 3) or (B, N, 3) with N={g.num_nodes}, "
                             f"got {tuple(x.shape)}")
        b = x.shape[0]
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1)
        if t.numel() == 1:
            t = t.expand(b)
        if t.shape[0] != b:
            raise ValueError(f"expected one time per batch element ({b}), got {t.shape[0]}")
        pos = g.positions.to(x.device, x.dtype)[None].expand(b, -1, -1)
        h = self.embed(torch.cat([x, pos], dim=-1))
        temb = self.time(t)
        for block in self.blocks:
            h = block(h, temb, g)
        eps = self.head(self.norm(h))
        return eps[0] if squeeze else eps
