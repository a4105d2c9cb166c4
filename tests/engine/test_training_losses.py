"""Losses, time weighting, time sampling and regularisers (closed forms, gradients, layouts)."""
from __future__ import annotations

import pytest
import scipy.sparse as sp
import torch

from engine.graphs import grid_laplacian, laplacian_from_edges
from engine.process import GraphDiffusion, LinearSchedule
from engine.process import regularizers as R
from engine.training.losses import TimeSampler, dsm_loss, eps_mse, per_graph_mse, time_weight


def test_per_graph_mse_weights_graphs_equally():
    batch = torch.tensor([0, 0, 0, 0, 1])
    pred = torch.zeros(5, 3)
    target = torch.zeros(5, 3)
    target[0] = 2.0            # graph 0: one node of four off by 2 in every coordinate
    target[4] = 1.0            # graph 1: its only node off by 1
    per = per_graph_mse(pred, target, batch, 2)
    assert torch.allclose(per, torch.tensor([4.0 / 4, 1.0]))
    assert torch.isclose(eps_mse(pred, target, batch, 2), torch.tensor(1.0))
    assert torch.isclose(eps_mse(pred, target, batch, 2, weights=torch.tensor([2.0, 0.0])),
                         torch.tensor(1.0))
    assert per_graph_mse(torch.ones(4, 6, 3), torch.zeros(4, 6, 3)).shape == (4,)


def test_dsm_target_is_minus_inverse_sigma_sqrt_eps():
    L = laplacian_from_edges(4, [(0, 1), (1, 2), (2, 3)])
    proc = GraphDiffusion(L, gamma=1.0, lam=0.5, schedule=LinearSchedule(0.1, 20.0),
                          dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    eps = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    t = 0.3
    sigma = proc.sigma(t)
    evals, evecs = torch.linalg.eigh(sigma)
    inv_sqrt = evecs @ torch.diag(evals.rsqrt()) @ evecs.T
    exact = -inv_sqrt @ eps
    assert float(dsm_loss(exact, eps, t, proc)) < 1e-20
    assert float(dsm_loss(torch.zeros_like(eps), eps, t, proc)) == pytest.approx(
        float((exact ** 2).mean()), rel=1e-10)


def test_time_weights_closed_forms():
    sch = LinearSchedule(0.1, 20.0)
    t = torch.tensor([0.01, 0.3, 1.0], dtype=torch.float64)
    B = 0.1 * t + 0.5 * t ** 2 * 19.9
    v = 1 - torch.exp(-B)
    assert torch.allclose(time_weight("none", t, sch), torch.ones(3, dtype=torch.float64))
    assert torch.allclose(time_weight("sigma2", t, sch), v)
    assert torch.allclose(time_weight("min_snr", t, sch),
                          torch.clamp(5.0 * v / (1 - v), max=1.0))
    with pytest.raises(ValueError, match="unknown time weighting"):
        time_weight("snr", t, sch)


def test_min_snr_gamma_weights_by_hand():
    """Min-SNR-γ: the x₀-loss weight min(snr, γ), expressed for the network's target —
    divided by snr for ε, by snr + 1 for v — at a few times, one by one in plain floats."""
    import math

    from engine.process.schedules import CosineSchedule
    sch = CosineSchedule(0.008, 10.0)
    ts = [0.05, 0.2, 0.5, 0.8, 1.0]
    t = torch.tensor(ts, dtype=torch.float64)
    for gamma in (5.0, 1.0):
        got_eps = time_weight("min_snr", t, sch, target="eps", snr_gamma=gamma)
        got_v = time_weight("min_snr", t, sch, target="v", snr_gamma=gamma)
        for k, tk in enumerate(ts):
            B = sch.integral(tk)               # the schedule's B(t), a float
            snr = math.exp(-B) / (1.0 - math.exp(-B))
            assert float(got_eps[k]) == pytest.approx(min(snr, gamma) / snr, rel=1e-9)
            assert float(got_v[k]) == pytest.approx(min(snr, gamma) / (snr + 1.0), rel=1e-9)
    # the default (γ = 5, ε target) is the weighting it was
    assert torch.equal(time_weight("min_snr", t, sch), time_weight("min_snr", t, sch, "eps", 5.0))
    with pytest.raises(ValueError, match="unknown target"):
        time_weight("min_snr", t, sch, target="x")


def test_uniform_time_sampler_is_uniform_on_range():
    s = TimeSampler("uniform", t_min=0.1)
    u = torch.rand(100_000, generator=torch.Generator().manual_seed(0))
    t, w = s.sample(u)
    assert float(t.min()) >= 0.1 and float(t.max()) <= 1.0
    assert torch.all(w == 1.0)
    # mean of U(0.1, 1) = 0.55, std of the mean ≈ 0.26/316 ≈ 8e-4
    assert abs(float(t.mean()) - 0.55) < 4e-3


def test_importance_sampler_follows_loss_and_stays_unbiased():
    s = TimeSampler("importance", t_min=0.0, bins=4, warmup_per_bin=1, uniform_mix=0.0,
                    history_decay=0.0)
    # losses 1 in bins 0..2 and 3 in bin 3  ->  p ∝ sqrt(E L²) = (1,1,1,3)/6
    t_fb = torch.tensor([0.1, 0.35, 0.6, 0.9], dtype=torch.float64)
    s.update(t_fb, torch.tensor([1.0, 1.0, 1.0, 3.0]))
    p = s.bin_probabilities()
    assert torch.allclose(p, torch.tensor([1, 1, 1, 3], dtype=torch.float64) / 6)
    u = torch.rand(200_000, generator=torch.Generator().manual_seed(1))
    t, w = s.sample(u)
    frac_last = float((t >= 0.75).double().mean())
    assert abs(frac_last - 0.5) < 0.01               # 3/6, 5 sigma ≈ 0.0056
    # importance weights keep E_p[w f(t)] = E_uniform[f(t)] for any f, e.g. f(t) = t²
    est = float((w.double() * t.double() ** 2).mean())
    assert abs(est - 1.0 / 3.0) < 5e-3
    # state round trip
    s2 = TimeSampler("importance", t_min=0.0, bins=4, warmup_per_bin=1, uniform_mix=0.0)
    s2.load_state_dict(s.state_dict())
    assert torch.equal(s2.bin_probabilities(), p)


# ----------------------------------------------------------------------------- regularisers
def test_energy_closed_form_and_layouts():
    gen = torch.Generator().manual_seed(2)
    S = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    ref = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    m = torch.tensor([1.0, 12.0, 14.0, 16.0, 1.0], dtype=torch.float64)
    expected = 0.5 * sum(float(m[i]) * float(((S[i] - ref[i]) ** 2).sum()) for i in range(5))
    assert float(R.energy(S, ref, m)) == pytest.approx(expected, rel=1e-12)
    batch = torch.tensor([0, 0, 1, 1, 1])
    per = R.energy(S, ref, m, batch, 2)
    assert per.shape == (2,) and float(per.sum()) == pytest.approx(expected, rel=1e-12)
    stacked = R.energy(torch.stack([S, ref]), ref, m)
    assert stacked.shape == (2,) and float(stacked[1]) == 0.0
    # gradient M (S - S*)
    S.requires_grad_(True)
    (g,) = torch.autograd.grad(R.energy(S, ref, m), S)
    assert torch.allclose(g, m[:, None] * (S.detach() - ref))


def test_smoothness_matches_dense_laplacian_blockwise():
    L1 = laplacian_from_edges(3, [(0, 1), (1, 2)])
    L2 = grid_laplacian((2, 2))
    gen = torch.Generator().manual_seed(3)
    S = torch.randn(7, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    op = R.laplacian_operator([L1, L2], dtype=torch.float64)
    per = R.smoothness(S, op, torch.tensor([0, 0, 0, 1, 1, 1, 1]), 2)
    d1 = torch.from_numpy(L1.toarray()) @ S[:3]
    d2 = torch.from_numpy(L2.toarray()) @ S[3:]
    assert torch.allclose(per, torch.stack([(d1 ** 2).sum(), (d2 ** 2).sum()]))
    # gradient 2 L² S, and the (B, N, 3) layout on one graph
    (g,) = torch.autograd.grad(per.sum(), S)
    Ld = torch.from_numpy(sp.block_diag([L1, L2]).toarray())
    assert torch.allclose(g, 2 * Ld @ Ld @ S.detach())
    stacked = torch.stack([S.detach()[3:], 2 * S.detach()[3:]])
    out = R.smoothness(stacked, L2)
    assert torch.allclose(out, torch.stack([(d2 ** 2).sum(), 4 * (d2 ** 2).sum()]).detach())


def test_alignment_zero_for_reference_and_known_values():
    ref = torch.tensor([[0.0, 0, 0], [1, 0, 0], [1, 1, 0]], dtype=torch.float64)
    edges = torch.tensor([[0, 1], [1, 2]])
    dirs = R.reference_directions(ref, edges)
    assert float(R.alignment(ref * 3.0 + 1.0, edges, dirs)) == pytest.approx(0.0, abs=1e-12)
    # rotate the second bond by 90°: cos = 0 -> 1; reverse the first: cos = -1 -> 2
    bent = torch.tensor([[0.0, 0, 0], [-1, 0, 0], [-1, 0, 1]], dtype=torch.float64)
    assert float(R.alignment(bent, edges, dirs, torch.tensor([1.0, 0.5]))) == pytest.approx(2.0 + 0.5)
    # lattice form: cos between neighbouring vectors
    field = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 2, 0]], dtype=torch.float64)
    assert float(R.alignment(field, edges)) == pytest.approx(1.0)
    assert R.alignment(torch.stack([field, field]), edges).shape == (2,)


def test_combined_sums_weighted_terms_and_checks_inputs():
    gen = torch.Generator().manual_seed(4)
    S = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    ref = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    L = laplacian_from_edges(4, [(0, 1), (1, 2), (2, 3)])
    edges = torch.tensor([[0, 1], [1, 2], [2, 3]])
    ctx = R.RegularizerContext(S_ref=ref, masses=None, laplacian_apply=R.laplacian_operator(L, torch.float64),
                               edges=edges, ref_dirs=R.reference_directions(ref, edges))
    total = R.combined(S, ctx, 0.5, 0.25, 2.0)
    expected = (0.5 * R.energy(S, ref) + 0.25 * R.smoothness(S, L)
                + 2.0 * R.alignment(S, edges, ctx.ref_dirs))
    assert torch.allclose(total, expected)
    assert float(R.combined(S, ctx)) == 0.0
    with pytest.raises(ValueError, match="S_ref"):
        R.combined(S, R.RegularizerContext(), lambda_E=1.0)
