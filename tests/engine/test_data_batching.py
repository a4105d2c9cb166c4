"""engine.data.batching: collate offsets, ptr, batch vector, roundtrip, device moves."""
import numpy as np
import scipy.sparse as sp
import torch

from engine.data.batching import GraphBatch, GraphSample, collate
from engine.graphs import laplacian_from_edges


def _sample(n, index, seed):
    g = torch.Generator().manual_seed(seed)
    bonds = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1)  # a chain
    both = np.concatenate([bonds, bonds[:, ::-1]]).T.copy()
    return GraphSample(
        pos=torch.randn(n, 3, generator=g),
        features=torch.randn(n, 5, generator=g),
        bond_index=torch.as_tensor(both, dtype=torch.long),
        laplacian=laplacian_from_edges(n, bonds),
        masses=torch.rand(n, generator=g) + 1,
        atomic_numbers=torch.randint(1, 10, (n,), generator=g),
        index=index,
        smiles=f"mol{index}",
    )


def test_collate_offsets_ptr_and_batch_vector():
    sizes = [3, 1, 5, 2]
    samples = [_sample(n, 10 + k, k) for k, n in enumerate(sizes)]
    b = collate(samples)
    assert isinstance(b, GraphBatch)
    assert b.num_graphs == 4 and b.num_nodes == sum(sizes)
    assert b.ptr.tolist() == [0, 3, 4, 9, 11]
    assert b.batch.tolist() == [0, 0, 0, 1, 2, 2, 2, 2, 2, 3, 3]
    assert b.indices.tolist() == [10, 11, 12, 13]
    assert b.pos.shape == (11, 3) and b.features.shape == (11, 5)
    assert b.bond_index.shape == (2, sum(2 * (n - 1) for n in sizes))
    # every bond connects two nodes of the same graph, offset by that graph's ptr
    gi, gj = b.batch[b.bond_index[0]], b.batch[b.bond_index[1]]
    assert torch.equal(gi, gj)
    expected = torch.cat([s.bond_index + int(b.ptr[k]) for k, s in enumerate(samples)], 1)
    assert torch.equal(b.bond_index, expected)
    for k, s in enumerate(samples):
        lo, hi = b.ptr[k], b.ptr[k + 1]
        assert torch.equal(b.pos[lo:hi], s.pos)
        assert b.laplacians[k] is s.laplacian


def test_roundtrip_split_gives_back_the_samples():
    samples = [_sample(n, k, 100 + k) for k, n in enumerate([4, 2, 1, 6])]
    back = collate(samples).split()
    assert len(back) == len(samples)
    for a, s in zip(back, samples):
        for name in ("pos", "features", "bond_index", "masses", "atomic_numbers"):
            assert torch.equal(getattr(a, name), getattr(s, name)), name
        assert a.index == s.index and a.smiles == s.smiles
        assert (a.laplacian != s.laplacian).nnz == 0


def test_to_and_pin_memory_keep_contents():
    b = collate([_sample(3, 0, 0), _sample(2, 1, 1)])
    moved = b.to("cpu")
    assert torch.equal(moved.pos, b.pos) and moved.ptr.dtype == torch.long
    b64 = b.to(dtype=torch.float64)  # floating tensors only, indices stay long
    assert b64.pos.dtype == torch.float64 and b64.masses.dtype == torch.float64
    assert b64.ptr.dtype == torch.long and b64.bond_index.dtype == torch.long
    assert isinstance(moved.laplacians[0], sp.spmatrix) or sp.issparse(moved.laplacians[0])
    if torch.cuda.is_available():
        pinned = b.pin_memory()
        assert pinned.pos.is_pinned()
        cuda = pinned.to("cuda", non_blocking=True)
        assert cuda.pos.is_cuda and torch.equal(cuda.pos.cpu(), b.pos)


def test_collate_rejects_empty_list():
    import pytest
    with pytest.raises(ValueError, match="at least one"):
        collate([])
