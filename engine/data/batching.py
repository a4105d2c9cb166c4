"""Graph samples and their concatenation into batches (no padding).

A batch of B graphs with N_1..N_B nodes holds every node array concatenated, ``(N, ...)``
with ``N = sum N_b``; ``batch[i]`` is the graph of node i and ``ptr[b]:ptr[b+1]`` the node
range of graph b. ``bond_index`` is offset into the concatenation.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch

__all__ = ["GraphSample", "GraphBatch", "collate"]


@dataclass
class GraphSample:
    """One structure.

    pos: ``(N, 3)`` float32 coordinates (or a vector field).
    features: ``(N, F)`` float32 node features.
    bond_index: ``(2, 2*Eb)`` long, every bond in both directions.
    laplacian: ``(N, N)`` scipy.sparse csr of the diffusion graph.
    masses: ``(N,)`` float32 (amu).
    atomic_numbers: ``(N,)`` long.
    index: position in the data set.
    smiles: the molecule's SMILES (atom order = ``Chem.AddHs(Chem.MolFromSmiles(smiles))``).
    """

    pos: torch.Tensor
    features: torch.Tensor
    bond_index: torch.Tensor
    laplacian: object
    masses: torch.Tensor
    atomic_numbers: torch.Tensor
    index: int = -1
    smiles: str = ""

    @property
    def num_nodes(self) -> int:
        return int(self.pos.shape[0])


@dataclass
class GraphBatch:
    """B graphs concatenated.

    pos ``(N, 3)``, features ``(N, F)``, batch ``(N,)`` long, ptr ``(B+1,)`` long,
    bond_index ``(2, E)`` long (offset), laplacians: list of B scipy matrices,
    masses ``(N,)``, atomic_numbers ``(N,)`` long, indices ``(B,)`` long, smiles: B strings.
    """

    pos: torch.Tensor
    features: torch.Tensor
    batch: torch.Tensor
    ptr: torch.Tensor
    bond_index: torch.Tensor
    laplacians: list
    masses: torch.Tensor
    atomic_numbers: torch.Tensor
    indices: torch.Tensor
    smiles: list = field(default_factory=list)

    @property
    def num_graphs(self) -> int:
        return int(self.ptr.shape[0] - 1)

    @property
    def num_nodes(self) -> int:
        return int(self.pos.shape[0])

    def _map_tensors(self, fn) -> GraphBatch:
        values = {}
        for f in fields(self):
            v = getattr(self, f.name)
            values[f.name] = fn(v) if isinstance(v, torch.Tensor) else v
        return GraphBatch(**values)

    def to(self, device=None, dtype: torch.dtype | None = None,
           non_blocking: bool = False) -> GraphBatch:
        """A copy with every tensor on ``device``; ``dtype`` converts the floating-point
        tensors only (indices stay long). Laplacians stay scipy matrices on the host."""
        def move(t):
            t = t.to(device, non_blocking=non_blocking) if device is not None else t
            return t.to(dtype) if dtype is not None and t.is_floating_point() else t
        return self._map_tensors(move)

    def pin_memory(self) -> GraphBatch:
        """Pinned-memory copy (called by ``DataLoader(pin_memory=True)``)."""
        return self._map_tensors(lambda t: t.pin_memory())

    def split(self) -> list[GraphSample]:
        """Undo ``collate``: the B samples (bond indices back to local numbering)."""
        out = []
        ptr = self.ptr.tolist()
        edge_graph = self.batch[self.bond_index[0]] if self.bond_index.numel() else \
            torch.zeros(0, dtype=torch.long, device=self.pos.device)
        for b in range(self.num_graphs):
            lo, hi = ptr[b], ptr[b + 1]
            e = self.bond_index[:, edge_graph == b] - lo
            out.append(GraphSample(
                pos=self.pos[lo:hi], features=self.features[lo:hi], bond_index=e,
                laplacian=self.laplacians[b], masses=self.masses[lo:hi],
                atomic_numbers=self.atomic_numbers[lo:hi], index=int(self.indices[b]),
                smiles=self.smiles[b] if b < len(self.smiles) else ""))
        return out


def collate(samples: list[GraphSample]) -> GraphBatch:
    """Concatenate samples into a ``GraphBatch`` (node arrays stacked, bonds offset)."""
    if not samples:
        raise ValueError("collate needs at least one sample")
    sizes = torch.tensor([s.num_nodes for s in samples], dtype=torch.long)
    ptr = torch.zeros(len(samples) + 1, dtype=torch.long)
    ptr[1:] = torch.cumsum(sizes, 0)
    batch = torch.repeat_interleave(torch.arange(len(samples)), sizes)
    bond_index = torch.cat([s.bond_index.long() + ptr[b] for b, s in enumerate(samples)],
                           dim=1) if samples else torch.zeros(2, 0, dtype=torch.long)
    return GraphBatch(
        pos=torch.cat([s.pos for s in samples]),
        features=torch.cat([s.features for s in samples]),
        batch=batch,
        ptr=ptr,
        bond_index=bond_index,
        laplacians=[s.laplacian for s in samples],
        masses=torch.cat([s.masses for s in samples]),
        atomic_numbers=torch.cat([s.atomic_numbers for s in samples]),
        indices=torch.tensor([s.index for s in samples], dtype=torch.long),
        smiles=[s.smiles for s in samples],
    )
