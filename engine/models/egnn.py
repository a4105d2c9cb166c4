"""E(3)-equivariant ε-network for batches of molecules (EGNN-style, plain PyTorch).

Call protocol (shared by every model in ``engine.models``)::

    eps_hat = model(x, t, graph)          # x (N, 3), t (B,) or float -> (N, 3)

``graph`` is any object with ``features (N, F)``, ``batch (N,)``, ``bond_index (2, E_b)``
and ``num_graphs`` — ``engine.data.batching.GraphBatch`` qualifies — or the
``MoleculeInput`` that ``model.prepare(graph)`` returns, which caches the bond-distance
edges so that a sampler calling the network many times on the same batch pays for them once.

Messages run over bond-distance pairs (1 … ``max_hops`` bonds apart) plus each atom's
``knn`` nearest atoms within ``cutoff`` (recomputed from the noised coordinates ``x``).
Layout (for speed: no per-edge matmul): the first edge layer ``W[h_i; h_j; r²_ij; r_ij; type]`` is computed
as ``(W₁h)_i + (W₂h)_j + w·r²_ij + w'·r_ij + e_type`` — project per node, then gather;
no concatenated edge tensor.

Symmetry: only differences ``x_i − x_j`` and distances enter, so ε̂ is invariant to
translations and equivariant to rotations and reflections; aggregation is by index, so
permuting atoms permutes ε̂. The output is made mean-free per graph (the diffusion lives in
the centre-of-mass-free subspace).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.models.edges import Topology, khop_edges, molecule_edges
from engine.models.embeddings import TimeEmbedding, per_graph_times

__all__ = ["EGNNEpsNet", "MoleculeInput", "segment_mean"]


@dataclass
class MoleculeInput:
    """What the network needs about a batch: ``features (N,F)``, ``batch (N,)``,
    ``num_graphs``, and the cached bond-distance ``topology``."""

    features: torch.Tensor
    batch: torch.Tensor
    num_graphs: int
    topology: Topology


def segment_mean(x: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Per-graph mean of ``x (N, D)`` -> ``(B, D)``."""
    sums = x.new_zeros(num_graphs, x.shape[1]).index_add_(0, batch, x)
    counts = torch.bincount(batch, minlength=num_graphs).clamp(min=1).to(x.dtype)
    return sums / counts[:, None]


class EGNNLayer(nn.Module):
    """One equivariant message-passing layer with coordinate update.

    ``h (N, H)``, ``x (N, 3)``; edges ``recv, send (E,)``, ``edge_type (E,)``;
    ``inv_deg (N, 1)`` = 1 / number of incoming edges. Returns updated ``(h, x)``.
    """

    def __init__(self, hidden: int, num_edge_types: int, update_features: bool = True):
        super().__init__()
        self.update_features = update_features
        self.norm = nn.LayerNorm(hidden)
        self.proj_recv = nn.Linear(hidden, hidden)
        self.proj_send = nn.Linear(hidden, hidden, bias=False)
        self.w_d2 = nn.Parameter(torch.randn(hidden) * 0.1)
        self.w_d = nn.Parameter(torch.randn(hidden) * 0.1)
        self.edge_type = nn.Embedding(num_edge_types, hidden)
        self.edge_out = nn.Linear(hidden, hidden)
        self.coord_hidden = nn.Linear(hidden, hidden)
        self.coord_out = nn.Linear(hidden, 1, bias=False)
        nn.init.normal_(self.coord_out.weight, std=1e-3)
        if update_features:         # the last layer only moves coordinates
            self.node_self = nn.Linear(hidden, hidden)
            self.node_msg = nn.Linear(hidden, hidden, bias=False)
            self.node_out = nn.Linear(hidden, hidden)
        self.act = nn.SiLU()

    def forward(self, h, x, recv, send, edge_type, inv_deg):
        hn = self.norm(h)
        diff = x[recv] - x[send]                                   # (E, 3)
        d2 = (diff * diff).sum(-1, keepdim=True)                   # (E, 1)
        d = torch.sqrt(d2 + 1e-12)
        pre = (self.proj_recv(hn)[recv] + self.proj_send(hn)[send]
               + d2 * self.w_d2 + d * self.w_d + self.edge_type(edge_type))
        m = self.act(self.edge_out(self.act(pre)))                 # (E, H)
        coef = self.coord_out(self.act(self.coord_hidden(m)))      # (E, 1)
        update = diff / (d + 1.0) * coef
        shift = update.new_zeros(x.shape).index_add_(0, recv, update)
        x = x + shift * inv_deg
        if not self.update_features:
            return h, x
        agg = m.new_zeros(h.shape[0], m.shape[1]).index_add_(0, recv, m) * inv_deg.to(m.dtype)
        h = h + self.node_out(self.act(self.node_self(hn) + self.node_msg(agg)))
        return h, x


class EGNNEpsNet(nn.Module):
    """ε-network for molecules: ``forward(x (N,3), t (B,), graph) -> ε̂ (N,3)``.

    Parameters: ``feature_dim`` (atom features, default ``ATOM_FEATURE_DIM``), ``hidden``,
    ``layers``, ``max_hops`` (bond-distance pairs), ``knn`` and ``cutoff`` (spatial pairs
    in model coordinate units; ``knn=0, cutoff=None`` disables them), ``time_dim``.
    """

    kind = "molecule"

    def __init__(self, feature_dim: int | None = None, hidden: int = 64, layers: int = 4,
                 max_hops: int = 3, knn: int = 8, cutoff: float | None = 4.0,
                 time_dim: int = 64):
        super().__init__()
        if feature_dim is None:
            from engine.chem.features import ATOM_FEATURE_DIM
            feature_dim = ATOM_FEATURE_DIM
        if hidden < 1 or layers < 1:
            raise ValueError("hidden and layers must be positive")
        self.feature_dim = int(feature_dim)
        self.max_hops = int(max_hops)
        self.knn = int(knn)
        self.cutoff = None if cutoff is None else float(cutoff)
        self.embed = nn.Linear(self.feature_dim, hidden)
        self.time = TimeEmbedding(hidden, sin_dim=time_dim)
        self.time_per_layer = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.layers = nn.ModuleList(EGNNLayer(hidden, self.max_hops + 2, update_features=i < layers - 1)
                                    for i in range(layers))

    # -- graph preparation -------------------------------------------------------------
    def prepare(self, graph) -> MoleculeInput:
        """Cache the bond-distance pairs of ``graph`` (a ``GraphBatch``-like object)."""
        if isinstance(graph, MoleculeInput):
            return graph
        features = graph.features
        batch = graph.batch
        num_graphs = int(graph.num_graphs)
        topology = khop_edges(graph.bond_index.to(batch.device), batch.shape[0], self.max_hops)
        return MoleculeInput(features, batch, num_graphs, topology)

    def forward(self, x: torch.Tensor, t, graph) -> torch.Tensor:
        g = self.prepare(graph)
        if x.dim() != 2 or x.shape[1] != 3:
            raise ValueError(f"x must have shape (N, 3), got {tuple(x.shape)}")
        if g.features.shape[0] != x.shape[0] or g.batch.shape[0] != x.shape[0]:
            raise ValueError(f"x has {x.shape[0]} nodes but features/batch have "
                             f"{g.features.shape[0]}/{g.batch.shape[0]}")
        if g.features.shape[1] != self.feature_dim:
            raise ValueError(f"model expects {self.feature_dim} atom features, "
                             f"got {g.features.shape[1]}")
        t = per_graph_times(t, g.num_graphs, x)
        edge_index, edge_type = molecule_edges(x, g.batch, g.num_graphs, g.topology,
                                               k=self.knn, cutoff=self.cutoff)
        recv, send = edge_index[0], edge_index[1]
        deg = torch.bincount(recv, minlength=x.shape[0]).clamp(min=1).to(x.dtype)
        inv_deg = (1.0 / deg)[:, None]
        temb = self.time(t)                                         # (B, H)
        h = self.embed(g.features.to(x.dtype))
        x0 = x
        for layer, tproj in zip(self.layers, self.time_per_layer):
            h = h + tproj(temb)[g.batch]
            h, x = layer(h, x, recv, send, edge_type, inv_deg)
        eps = x - x0
        return eps - segment_mean(eps, g.batch, g.num_graphs)[g.batch]
