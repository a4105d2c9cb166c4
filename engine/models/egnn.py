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

Options (all off by default; a network built without them has exactly the parameters and
the outputs of the first shipped one):

* ``self_cond``: ``forward(x, t, graph, self_cond=S0_prev)`` takes the previous estimate
  Ŝ₀ (model units; ``None`` = zeros, "no estimate yet"). Every layer sees its pair
  distances ``|ŝ_i − ŝ_j|`` (and their squares) beside those of ``x`` on the same edges,
  and may move atom i along ``ŝ_i − ŝ_j`` as well as along ``x_i − x_j``; only differences
  of ŝ enter, so the symmetry above holds for ``(x, ŝ)`` rotated, reflected, permuted
  together and each translated independently.
* ``global_context``: a virtual node per molecule. Each layer adds an MLP of the
  molecule's mean (normalised) atom feature to every atom's features, and moves every atom
  radially about the molecule's centroid by a learned amount (``(x_i − c)/(|x_i − c| + 1)``
  times a function of its features and the molecule's): the whole molecule is in every
  atom's receptive field at every noise level, and its global size is one degree of freedom.
* ``parameterization``: what the output means, ``eps`` (ε̂, the default) or ``v`` (the
  preconditioned target of ``SpectralProcess.s0_from_v``: Ŝ₀ = Φ S_t + Σ^{1/2} v̂). The
  network computes the same thing either way; the trainer and the sampler convert
  (``engine.models.outputs``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.models.edges import Topology, khop_edges, molecule_edges
from engine.models.embeddings import TimeEmbedding, per_graph_times

__all__ = ["EGNNEpsNet", "MoleculeInput", "PARAMETERIZATIONS", "segment_mean"]

# what the output means: ε̂, or v̂ of SpectralProcess.s0_from_v
PARAMETERIZATIONS = ("eps", "v")


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
    ``sc``: ``(diff (E, 3), d2 (E, 1), d (E, 1))`` of the self-conditioning estimate on the
    same edges (``self_cond`` layers); ``graphs``: ``(batch (N,), num_graphs)``
    (``global_context`` layers).
    """

    def __init__(self, hidden: int, num_edge_types: int, update_features: bool = True,
                 self_cond: bool = False, global_context: bool = False):
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
        self.self_cond = bool(self_cond)
        if self.self_cond:
            self.w_sc2 = nn.Parameter(torch.randn(hidden) * 0.1)
            self.w_sc = nn.Parameter(torch.randn(hidden) * 0.1)
            self.coord_out_sc = nn.Linear(hidden, 1, bias=False)
            nn.init.normal_(self.coord_out_sc.weight, std=1e-3)
        self.global_context = bool(global_context)
        if self.global_context:
            self.glob_in = nn.Linear(hidden, hidden)
            self.glob_out = nn.Linear(hidden, hidden)
            self.radial_hidden = nn.Linear(hidden, hidden)
            self.radial_out = nn.Linear(hidden, 1, bias=False)
            nn.init.normal_(self.radial_out.weight, std=1e-3)
        self.act = nn.SiLU()

    def forward(self, h, x, recv, send, edge_type, inv_deg, sc=None, graphs=None):
        glob = None
        if self.global_context:
            batch, num_graphs = graphs
            pooled = segment_mean(self.norm(h), batch, num_graphs)            # (B, H)
            glob = self.glob_out(self.act(self.glob_in(pooled)))[batch]       # (N, H)
            h = h + glob
        hn = self.norm(h)
        diff = x[recv] - x[send]                                   # (E, 3)
        d2 = (diff * diff).sum(-1, keepdim=True)                   # (E, 1)
        d = torch.sqrt(d2 + 1e-12)
        pre = (self.proj_recv(hn)[recv] + self.proj_send(hn)[send]
               + d2 * self.w_d2 + d * self.w_d + self.edge_type(edge_type))
        if self.self_cond:
            pre = pre + sc[1] * self.w_sc2 + sc[2] * self.w_sc
        m = self.act(self.edge_out(self.act(pre)))                 # (E, H)
        gate = self.act(self.coord_hidden(m))
        coef = self.coord_out(gate)                                # (E, 1)
        update = diff / (d + 1.0) * coef
        if self.self_cond:
            update = update + sc[0] / (sc[2] + 1.0) * self.coord_out_sc(gate)
        shift = update.new_zeros(x.shape).index_add_(0, recv, update)
        x_new = x + shift * inv_deg
        if glob is not None:
            batch, num_graphs = graphs
            r = x - segment_mean(x, batch, num_graphs)[batch]
            radial = self.radial_out(self.act(self.radial_hidden(hn)))    # (N, 1)
            x_new = x_new + r / (torch.sqrt((r * r).sum(-1, keepdim=True) + 1e-12) + 1.0) * radial
        x = x_new
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
                 time_dim: int = 64, self_cond: bool = False, global_context: bool = False,
                 parameterization: str = "eps"):
        super().__init__()
        if feature_dim is None:
            from engine.chem.features import ATOM_FEATURE_DIM
            feature_dim = ATOM_FEATURE_DIM
        if hidden < 1 or layers < 1:
            raise ValueError("hidden and layers must be positive")
        if parameterization not in PARAMETERIZATIONS:
            raise ValueError(f"parameterization must be one of {', '.join(PARAMETERIZATIONS)}, "
                             f"got {parameterization!r}")
        self.feature_dim = int(feature_dim)
        self.max_hops = int(max_hops)
        self.knn = int(knn)
        self.cutoff = None if cutoff is None else float(cutoff)
        self.self_cond = bool(self_cond)
        self.global_context = bool(global_context)
        self.parameterization = parameterization
        self.embed = nn.Linear(self.feature_dim, hidden)
        self.time = TimeEmbedding(hidden, sin_dim=time_dim)
        self.time_per_layer = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.layers = nn.ModuleList(EGNNLayer(hidden, self.max_hops + 2, update_features=i < layers - 1,
                                              self_cond=self.self_cond,
                                              global_context=self.global_context)
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

    def forward(self, x: torch.Tensor, t, graph, self_cond: torch.Tensor | None = None) -> torch.Tensor:
        """ε̂ (or v̂, see ``parameterization``) ``(N, 3)``; ``self_cond``: the previous
        estimate Ŝ₀ ``(N, 3)`` for a ``self_cond`` network (``None``: zeros)."""
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
        sc = None
        if self.self_cond:
            s = torch.zeros_like(x) if self_cond is None else self_cond.to(x.dtype)
            if s.shape != x.shape:
                raise ValueError(f"self_cond must have the shape of x {tuple(x.shape)}, "
                                 f"got {tuple(s.shape)}")
            sdiff = s[recv] - s[send]
            sd2 = (sdiff * sdiff).sum(-1, keepdim=True)
            sc = (sdiff, sd2, torch.sqrt(sd2 + 1e-12))
        elif self_cond is not None:
            raise ValueError("this network was built without self_cond; pass self_cond=None")
        graphs = (g.batch, g.num_graphs) if self.global_context else None
        x0 = x
        for layer, tproj in zip(self.layers, self.time_per_layer):
            h = h + tproj(temb)[g.batch]
            h, x = layer(h, x, recv, send, edge_type, inv_deg, sc, graphs)
        eps = x - x0
        return eps - segment_mean(eps, g.batch, g.num_graphs)[g.batch]
