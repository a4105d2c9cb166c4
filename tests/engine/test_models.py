"""Networks: E(3) equivariance, permutation equivariance, edges, lattice net, registry."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import shortest_path

from engine.errors import ConfigError
from engine.models import build_model, model_names
from engine.models.edges import khop_edges, knn_radius_edges, merge_edges
from engine.models.lattice_net import LatticeGraph

FEAT = 12


@dataclass
class FakeBatch:
    """The attributes of engine.data.batching.GraphBatch that the network reads."""

    features: torch.Tensor
    batch: torch.Tensor
    bond_index: torch.Tensor
    num_graphs: int


def random_tree_batch(sizes, seed=0, dtype=torch.float64):
    """Random connected molecules-like graphs (tree + a few ring closures), concatenated."""
    rng = np.random.default_rng(seed)
    edges, batch, offset = [], [], 0
    for g, n in enumerate(sizes):
        for i in range(1, n):
            edges.append((offset + i, offset + int(rng.integers(0, i))))
        for _ in range(n // 6):
            a, b = rng.choice(n, 2, replace=False)
            edges.append((offset + int(a), offset + int(b)))
        batch += [g] * n
        offset += n
    e = torch.tensor(edges, dtype=torch.long).T
    bond_index = torch.cat([e, e.flip(0)], dim=1)
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(offset, FEAT, generator=gen, dtype=dtype)
    return FakeBatch(features, torch.tensor(batch), bond_index, len(sizes))


def random_rotation(seed, reflect=False):
    gen = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    if reflect:
        q = q @ torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    return q


@pytest.fixture(scope="module")
def egnn():
    torch.manual_seed(0)
    model = build_model("egnn", feature_dim=FEAT, hidden=32, layers=3, knn=6, cutoff=3.0).double()
    # make the coordinate head non-trivial so the test sees real equivariant updates
    for layer in model.layers:
        torch.nn.init.normal_(layer.coord_out.weight, std=0.3)
    return model.eval()


@pytest.mark.parametrize("reflect", [False, True])
def test_egnn_rotation_reflection_translation_equivariance(egnn, reflect):
    g = random_tree_batch([7, 11, 5], seed=1)
    x = torch.randn(23, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 1.5
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    R = random_rotation(3, reflect)
    shift = torch.tensor([3.0, -7.0, 2.5], dtype=torch.float64)
    with torch.no_grad():
        eps = egnn(x, t, g)
        eps_moved = egnn(x @ R.T + shift, t, g)
    assert eps.abs().max() > 1e-3           # a non-trivial output
    assert torch.allclose(eps_moved, eps @ R.T, atol=1e-5, rtol=0)
    # and the output is mean-free per graph
    means = torch.zeros(3, 3, dtype=torch.float64).index_add_(0, g.batch, eps)
    assert means.abs().max() < 1e-10


def test_egnn_permutation_equivariance(egnn):
    g = random_tree_batch([9, 6], seed=4)
    n = 15
    x = torch.randn(n, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    t = torch.tensor([0.3, 0.7], dtype=torch.float64)
    # permute atoms within each graph (graphs stay contiguous, as in a concatenation)
    perm = torch.cat([torch.randperm(9, generator=torch.Generator().manual_seed(6)),
                      9 + torch.randperm(6, generator=torch.Generator().manual_seed(7))])
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    g_perm = FakeBatch(g.features[perm], g.batch[perm], inv[g.bond_index], g.num_graphs)
    with torch.no_grad():
        eps = egnn(x, t, g)
        eps_perm = egnn(x[perm], t, g_perm)
    assert torch.allclose(eps_perm, eps[perm], atol=1e-10)


def test_egnn_batch_independence(egnn):
    """A molecule's ε̂ does not depend on which other molecules share the batch."""
    g = random_tree_batch([8, 5], seed=8)
    x = torch.randn(13, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    t = torch.tensor([0.4, 0.6], dtype=torch.float64)
    single = FakeBatch(g.features[:8], g.batch[:8], g.bond_index[:, (g.bond_index < 8).all(0)], 1)
    with torch.no_grad():
        both = egnn(x, t, g)
        alone = egnn(x[:8], t[:1], single)
    assert torch.allclose(both[:8], alone, atol=1e-10)


def test_egnn_prepare_cache_gives_same_result(egnn):
    g = random_tree_batch([6, 6], seed=10)
    x = torch.randn(12, 3, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    with torch.no_grad():
        a = egnn(x, 0.5, g)
        b = egnn(x, 0.5, egnn.prepare(g))
    assert torch.equal(a, b)


def test_egnn_rejects_bad_shapes(egnn):
    g = random_tree_batch([5], seed=0)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        egnn(torch.zeros(5, 2, dtype=torch.float64), 0.5, g)
    with pytest.raises(ValueError, match="one time per graph"):
        egnn(torch.zeros(5, 3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64), g)


def test_khop_edges_match_shortest_paths():
    g = random_tree_batch([10, 14, 4], seed=12)
    n = g.features.shape[0]
    topo = khop_edges(g.bond_index, n, max_hops=3)
    adj = sp.coo_matrix((np.ones(g.bond_index.shape[1]), g.bond_index.numpy()), shape=(n, n))
    dist = shortest_path(adj, unweighted=True)
    expected = {(i, j): int(dist[i, j]) for i in range(n) for j in range(n)
                if i != j and dist[i, j] <= 3}
    got = {(int(i), int(j)): int(h) for (i, j), h in zip(topo.edge_index.T, topo.hops)}
    assert got == expected


def test_knn_radius_edges_match_brute_force():
    g = random_tree_batch([9, 13], seed=13)
    gen = torch.Generator().manual_seed(14)
    x = torch.randn(22, 3, generator=gen) * 2.0
    k, cutoff = 4, 2.5
    got = knn_radius_edges(x, g.batch, 2, k, cutoff)
    expected = set()
    for i in range(22):
        same = [j for j in range(22) if j != i and g.batch[j] == g.batch[i]]
        d = {j: float(((x[i] - x[j]) ** 2).sum().sqrt()) for j in same}
        nearest = sorted(same, key=d.get)[:k]
        expected |= {(i, j) for j in nearest if d[j] <= cutoff}
    assert {(int(a), int(b)) for a, b in got.T} == expected
    # merged with bond pairs: types are hop counts, spatial-only pairs get max_hops + 1
    topo = khop_edges(g.bond_index, 22, 2)
    ei, et = merge_edges(topo, got)
    types = {(int(a), int(b)): int(t) for (a, b), t in zip(ei.T, et)}
    for (a, b), h in zip(topo.edge_index.T.tolist(), topo.hops.tolist()):
        assert types[(a, b)] == h
    for pair in expected:
        assert pair in types
        if pair not in {tuple(p) for p in topo.edge_index.T.tolist()}:
            assert types[pair] == 3


def test_lattice_net_shapes_and_neighbourhood_softmax():
    torch.manual_seed(0)
    net = build_model("lattice", hidden=16, layers=2, heads=2, attention_hops=2)
    graph = LatticeGraph.from_shape((4, 3))
    x = torch.randn(5, 12, 3)
    out = net(x, torch.rand(5), graph)
    assert out.shape == (5, 12, 3)
    assert net(x[0], 0.5, graph).shape == (12, 3)
    prepared = net.prepare(graph)
    # neighbourhood sizes vary (corner < edge < interior) and include the site itself
    sizes = prepared.neighbour_mask.sum(1)
    assert sizes.min() < sizes.max()
    assert sizes[0] == 1 + 2 + 3          # corner of a 4x3 grid: itself, 2 at distance 1, 3 at 2
    # batch elements do not mix: changing one leaves the others unchanged
    x2 = x.clone()
    x2[1] += 1.0
    out2 = net(x2, torch.rand(5, generator=torch.Generator().manual_seed(1)), graph)
    out1 = net(x, torch.rand(5, generator=torch.Generator().manual_seed(1)), graph)
    assert torch.allclose(out1[0], out2[0]) and not torch.allclose(out1[1], out2[1])


def test_lattice_net_rejects_wrong_node_count():
    net = build_model("lattice", hidden=16, layers=1, heads=2)
    with pytest.raises(ValueError, match="N=12"):
        net(torch.zeros(2, 10, 3), 0.5, LatticeGraph.from_shape((4, 3)))


def test_registry_unknown_name_and_bad_kwargs():
    assert {"egnn", "lattice"} <= set(model_names())
    with pytest.raises(ConfigError, match="did you mean 'egnn'"):
        build_model("egn")
    with pytest.raises(ConfigError, match="bad arguments"):
        build_model("egnn", feature_dim=4, hiddn=3)


def test_score_of_a_network_is_minus_inverse_sigma_sqrt_of_its_eps(egnn):
    from engine.graphs import laplacian_from_edges
    from engine.process import GraphBatchDiffusion
    g = random_tree_batch([6, 4], seed=15)
    lap = []
    for lo, hi in [(0, 6), (6, 10)]:
        e = g.bond_index.T[(g.bond_index[0] >= lo) & (g.bond_index[0] < hi) & (g.bond_index[0] < g.bond_index[1])] - lo
        lap.append(laplacian_from_edges(hi - lo, e.numpy()))
    proc = GraphBatchDiffusion(lap, gamma=4.0, dtype=torch.float64)
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(16), dtype=torch.float64)
    t = torch.tensor([0.2, 0.7], dtype=torch.float64)
    with torch.no_grad():
        eps_hat = egnn(x, t, g)
        score = proc.score_from_eps(eps_hat, t)
    # dense check per graph: score = -Σ(t)^{-1/2} ε̂ on the centre-of-mass-free subspace
    for gi, (lo, hi) in enumerate([(0, 6), (6, 10)]):
        L = torch.from_numpy(lap[gi].toarray())
        mu, U = torch.linalg.eigh(4.0 * L)
        B = float(proc.schedule.integral(t[gi]))
        var = (1 - torch.exp(-B * mu[1:])) / mu[1:]
        inv_sqrt = U[:, 1:] @ torch.diag(var.rsqrt()) @ U[:, 1:].T
        assert torch.allclose(score[lo:hi], -inv_sqrt @ eps_hat[lo:hi], atol=1e-8)
    assert torch.allclose(proc.eps_from_score(score, t), eps_hat, atol=1e-8)


# ---------------------------------------------------------------- network options (issue 25)
@pytest.fixture(scope="module")
def egnn_options():
    """Self-conditioning and the virtual node on, heads made non-trivial."""
    torch.manual_seed(1)
    model = build_model("egnn", feature_dim=FEAT, hidden=32, layers=3, knn=6, cutoff=3.0,
                        self_cond=True, global_context=True, parameterization="v").double()
    for layer in model.layers:
        for head in (layer.coord_out, layer.coord_out_sc, layer.radial_out):
            torch.nn.init.normal_(head.weight, std=0.3)
    return model.eval()


@pytest.mark.parametrize("reflect", [False, True])
def test_egnn_options_are_equivariant_in_x_and_the_self_cond_estimate(egnn_options, reflect):
    """(x, ŝ) rotated/reflected together: the output turns with them; x and ŝ translated
    by different vectors: the output does not change."""
    g = random_tree_batch([7, 11, 5], seed=21)
    gen = torch.Generator().manual_seed(22)
    x = torch.randn(23, 3, generator=gen, dtype=torch.float64) * 1.5
    s = torch.randn(23, 3, generator=gen, dtype=torch.float64)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    R = random_rotation(23, reflect)
    with torch.no_grad():
        out = egnn_options(x, t, g, self_cond=s)
        moved = egnn_options(x @ R.T + torch.tensor([3.0, -7.0, 2.5], dtype=torch.float64), t, g,
                             self_cond=s @ R.T + torch.tensor([-1.0, 4.0, 0.5], dtype=torch.float64))
        without = egnn_options(x, t, g, self_cond=None)
    assert out.abs().max() > 1e-3
    assert torch.allclose(moved, out @ R.T, atol=1e-8, rtol=0)
    # the estimate is an input: another ŝ gives another output; None means zeros
    assert (out - without).abs().max() > 1e-4
    with torch.no_grad():
        zeros = egnn_options(x, t, g, self_cond=torch.zeros_like(x))
    assert torch.equal(without, zeros)
    means = torch.zeros(3, 3, dtype=torch.float64).index_add_(0, g.batch, out)
    assert means.abs().max() < 1e-10


def test_egnn_options_are_permutation_equivariant_and_batch_independent(egnn_options):
    g = random_tree_batch([9, 6], seed=24)
    n = 15
    gen = torch.Generator().manual_seed(25)
    x = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    s = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    t = torch.tensor([0.3, 0.7], dtype=torch.float64)
    perm = torch.cat([torch.randperm(9, generator=torch.Generator().manual_seed(26)),
                      9 + torch.randperm(6, generator=torch.Generator().manual_seed(27))])
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    g_perm = FakeBatch(g.features[perm], g.batch[perm], inv[g.bond_index], g.num_graphs)
    single = FakeBatch(g.features[:9], g.batch[:9], g.bond_index[:, (g.bond_index < 9).all(0)], 1)
    with torch.no_grad():
        out = egnn_options(x, t, g, self_cond=s)
        out_perm = egnn_options(x[perm], t, g_perm, self_cond=s[perm])
        alone = egnn_options(x[:9], t[:1], single, self_cond=s[:9])
    assert torch.allclose(out_perm, out[perm], atol=1e-10)
    # the virtual node pools over its own molecule only
    assert torch.allclose(out[:9], alone, atol=1e-10)


def test_egnn_without_options_is_the_network_it_was(egnn):
    """Options off: the parameters of the first shipped network (so old checkpoints load
    strictly) and no self_cond input accepted."""
    plain = build_model("egnn", feature_dim=FEAT, hidden=32, layers=3, knn=6, cutoff=3.0)
    assert list(plain.state_dict()) == list(egnn.state_dict())
    assert not any("sc" in k or "glob" in k or "radial" in k for k in plain.state_dict())
    assert plain.parameterization == "eps" and not plain.self_cond
    g = random_tree_batch([5], seed=0)
    with pytest.raises(ValueError, match="without self_cond"):
        egnn(torch.zeros(5, 3, dtype=torch.float64), 0.5, g, self_cond=torch.zeros(5, 3, dtype=torch.float64))
    with pytest.raises(ConfigError, match="parameterization"):
        build_model("egnn", feature_dim=FEAT, parameterization="x0")


def test_shipped_checkpoint_loads_into_the_default_network():
    from engine.models.checkpoint import read_network
    from engine.models.denoiser import default_checkpoint

    model, config = read_network(default_checkpoint())
    assert model.parameterization == "eps" and not model.self_cond and not model.global_context
    assert "self_cond" not in config["model"]["kwargs"]
