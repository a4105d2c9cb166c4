"""Baselines and metrics of the seed's reconstruction benchmark (engine.metrics.reconstruction)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from engine.errors import InputError
from engine.graphs import grid_laplacian, laplacian_from_edges
from engine.metrics import reconstruction as R
from engine.process import GraphBatchDiffusion, GraphDiffusion, LinearSchedule

RNG = np.random.default_rng(7)


def _path(n=5):
    return laplacian_from_edges(n, [(i, i + 1) for i in range(n - 1)])


def _random_graph(n=7, seed=1):
    rng = np.random.default_rng(seed)
    edges = [(i, i + 1) for i in range(n - 1)] + [(0, 4), (2, 6)]
    return laplacian_from_edges(n, edges, rng.uniform(0.5, 2.0, len(edges)))


def _rotation(seed=3):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((3, 3)))
    return q * np.sign(np.linalg.det(q))


# ----------------------------------------------------------------------------- metrics
def test_metrics_of_the_clean_structure_are_zero_error():
    S0 = RNG.standard_normal((6, 3))
    L = _path(6)
    m = R.structure_metrics(S0, S0, L, masses=np.arange(1, 7), align=True)
    assert m["mse"] == pytest.approx(0.0, abs=1e-20)
    assert m["energy"] == pytest.approx(0.0, abs=1e-20)
    assert m["smoothness"] == pytest.approx(float(np.sum((L.toarray() @ S0) ** 2)), rel=1e-12)


def test_mse_energy_and_smoothness_closed_forms():
    S0 = RNG.standard_normal((5, 3))
    D = RNG.standard_normal((5, 3))
    masses = np.array([1.0, 12.0, 16.0, 1.0, 14.0])
    assert R.mse(S0 + D, S0) == pytest.approx(np.sum(D ** 2) / 15, rel=1e-12)
    assert R.energy(S0 + D, S0, masses) == pytest.approx(0.5 * np.sum(masses[:, None] * D ** 2), rel=1e-12)
    assert R.energy(S0 + D, S0) == pytest.approx(0.5 * np.sum(D ** 2), rel=1e-12)
    # a constant field is perfectly smooth; scale multiplies every metric by scale^2
    assert R.smoothness(np.ones((5, 3)) * 3.0, _path(5)) == pytest.approx(0.0, abs=1e-24)
    a = R.structure_metrics(S0 + D, S0, _path(5), masses)
    b = R.structure_metrics(S0 + D, S0, _path(5), masses, scale=1.5)
    for key in a:
        assert b[key] == pytest.approx(2.25 * a[key], rel=1e-12)


def test_centring_removes_translation_and_alignment_removes_rotation():
    S0 = RNG.standard_normal((8, 3))
    moved = S0 @ _rotation() + np.array([1.0, -2.0, 0.5])
    assert R.mse(S0 + 3.0, S0) > 8.9
    assert R.mse(S0 + 3.0, S0, center=True) == pytest.approx(0.0, abs=1e-24)
    assert R.mse(moved, S0, center=True) > 1e-2
    assert R.mse(moved, S0, align=True) == pytest.approx(0.0, abs=1e-20)


def test_alignment_is_a_proper_rotation_not_a_reflection():
    S0 = RNG.standard_normal((8, 3))  # generic points: chiral
    mirror = S0 * np.array([1.0, 1.0, -1.0])
    aligned = R.kabsch_align(mirror, S0)
    assert R.mse(aligned, S0) > 1e-3
    # the result is a rigid motion of the input: distances are kept
    d = lambda X: np.linalg.norm(X[:, None] - X[None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(d(aligned), d(mirror), atol=1e-12)


def test_metrics_reject_bad_input():
    with pytest.raises(InputError, match=r"\(N, 3\)"):
        R.mse(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(InputError, match="differ"):
        R.mse(np.zeros((4, 3)), np.zeros((5, 3)))
    with pytest.raises(InputError, match="NaN"):
        R.mse(np.full((4, 3), np.nan), np.zeros((4, 3)))
    with pytest.raises(InputError, match="Laplacian"):
        R.smoothness(np.zeros((4, 3)), _path(5))
    with pytest.raises(InputError, match="masses"):
        R.energy(np.zeros((4, 3)), np.zeros((4, 3)), masses=np.ones(3))


# ----------------------------------------------------------------------------- baselines
def test_heat_smoothing_of_a_constant_field_is_the_identity():
    proc = GraphDiffusion(grid_laplacian((4, 3)), gamma=2.0, lam=0.1)
    const = torch.tensor([[0.3, -1.0, 2.0]], dtype=torch.float64).expand(12, 3)
    out = R.heat_smoothing(proc, const, tau=2.5)
    torch.testing.assert_close(out, const, rtol=0, atol=1e-12)


def test_heat_smoothing_equals_the_dense_heat_kernel():
    L = _random_graph()
    proc = GraphDiffusion(L, gamma=3.0, lam=0.2)
    S = RNG.standard_normal((7, 3))
    expected = scipy.linalg.expm(-0.7 * L.toarray()) @ S
    np.testing.assert_allclose(R.heat_smoothing(proc, S, 0.7).numpy(), expected, atol=1e-10)
    # the lattice (DCT) backend gives the same operator
    grid = grid_laplacian((4, 5))
    dct = GraphDiffusion(grid, gamma=1.0, lam=0.1, backend="dct")
    S = RNG.standard_normal((20, 3))
    np.testing.assert_allclose(R.heat_smoothing(dct, S, 1.3).numpy(),
                               scipy.linalg.expm(-1.3 * grid.toarray()) @ S, atol=1e-10)


def test_heat_smoothing_with_unguarded_phi_inverse_undoes_the_mean_of_the_process():
    proc = GraphDiffusion(_random_graph(), gamma=1.0, lam=0.1, schedule=LinearSchedule(0.1, 5.0))
    S0 = torch.as_tensor(RNG.standard_normal((7, 3)))
    back = R.heat_smoothing(proc, proc.apply_phi(S0, 0.4), 0.0, t=0.4, floor=0.0)
    torch.testing.assert_close(back, S0, rtol=0, atol=1e-10)


def test_heat_smoothing_on_a_centred_molecule_batch_is_centred():
    proc = GraphBatchDiffusion([_path(4), _random_graph()], gamma=4.0, dtype=torch.float64)
    S = torch.as_tensor(RNG.standard_normal((11, 3)))
    out = R.heat_smoothing(proc, S, 0.5, t=0.3)
    torch.testing.assert_close(proc.graph_mean(out), torch.zeros(2, 3, dtype=torch.float64),
                               rtol=0, atol=1e-12)
    with pytest.raises(InputError, match="tau"):
        R.heat_smoothing(proc, S, -1.0)


def test_neighbour_average_and_linear_interpolation_closed_forms():
    L = _path(4)
    S = np.arange(12, dtype=float).reshape(4, 3)
    avg = R.neighbour_average(S, L)
    np.testing.assert_allclose(avg[0], S[1])
    np.testing.assert_allclose(avg[1], 0.5 * (S[0] + S[2]))
    np.testing.assert_allclose(avg[3], S[2])
    np.testing.assert_allclose(R.neighbour_average(np.ones((4, 3)), L), np.ones((4, 3)))
    np.testing.assert_allclose(R.linear_interpolation(S, avg, 0.0), S)
    np.testing.assert_allclose(R.linear_interpolation(S, avg, 1.0), avg)
    np.testing.assert_allclose(R.linear_interpolation(S, 0, 0.25), 0.75 * S)
    with pytest.raises(InputError, match="finite"):
        R.linear_interpolation(S, 0, float("nan"))


def test_random_reconstruction_has_the_prior_covariance():
    """Monte-Carlo: 20k draws, sample covariance within 0.05 of Sigma(1) (entries ~0.5)."""
    proc = GraphDiffusion(_path(5), gamma=1.0, lam=0.5)
    gen = torch.Generator().manual_seed(0)
    draws = R.random_reconstruction(proc, torch.zeros(20000, 5, 3), generator=gen)
    X = draws.permute(0, 2, 1).reshape(-1, 5)
    cov = X.T @ X / X.shape[0]
    torch.testing.assert_close(cov, proc.sigma(1.0), rtol=0, atol=0.05)


# ----------------------------------------------------------------------------- exact Gaussian model
def _gaussian_setup(seed=0):
    proc = GraphDiffusion(grid_laplacian((3, 4)), gamma=1.0, lam=0.1, schedule=LinearSchedule(0.1, 10.0))
    g = torch.Generator().manual_seed(seed)
    var = torch.linspace(0.05, 2.0, 12, dtype=torch.float64)
    mean = torch.randn(12, 3, generator=g, dtype=torch.float64)
    model = R.GaussianModeModel(proc, mean, var)
    return proc, model, mean, var, g


def test_gaussian_model_posterior_mean_equals_s0_from_its_eps():
    proc, model, _, _, g = _gaussian_setup()
    St = torch.randn(12, 3, generator=g, dtype=torch.float64)
    exact = GraphDiffusion(proc.laplacian, gamma=1.0, lam=0.1, schedule=proc.schedule, phi_floor=0.0)
    for t in (0.05, 0.4, 0.9):
        torch.testing.assert_close(model.posterior_mean(St, t),
                                   exact.s0_from_eps(St, t, model.eps(St, t)), rtol=1e-9, atol=1e-9)


def test_gaussian_model_for_prior_data_predicts_sigma_a_z():
    """Data distributed as the stationary prior (v = 1/a, mean 0): E[eps|z_t] = sigma a z_t."""
    proc = GraphDiffusion(_random_graph(), gamma=2.0, lam=0.3)
    a = proc.eigenvalues
    model = R.GaussianModeModel(proc, torch.zeros(7, 3), 1.0 / a)
    St = torch.as_tensor(RNG.standard_normal((7, 3)))
    t = 0.35
    sigma = torch.sqrt((1 - torch.exp(-proc.integral(t) * a)) / a)
    expected = proc.from_modes((sigma * a).unsqueeze(-1) * proc.to_modes(St))
    torch.testing.assert_close(model.eps(St, t), expected, rtol=1e-10, atol=1e-10)


def test_gaussian_model_error_matches_its_mmse_by_monte_carlo():
    """20k draws from the model's own Gaussian: the posterior mean's squared error per mode
    averages to ``v sigma^2/(phi^2 v + sigma^2)``, total within 3 %."""
    proc, model, mean, var, g = _gaussian_setup()
    M, t = 20000, 0.3
    Z0 = proc.to_modes(mean) + var.sqrt().view(1, -1, 1) * torch.randn(M, 12, 3, generator=g, dtype=torch.float64)
    S0 = proc.from_modes(Z0)
    St, _ = proc.noise(S0, t, generator=g)
    err = ((model.posterior_mean(St, t) - S0) ** 2).sum(-1).mean(0).sum()
    assert float(err) == pytest.approx(3 * float(model.mmse(t).sum()), rel=0.03)
    # the identity estimate S_t (no denoising) is worse
    assert float(((St - S0) ** 2).sum(-1).mean(0).sum()) > 1.2 * float(err)


def test_gaussian_model_fit_recovers_mode_variances():
    proc, model, mean, var, g = _gaussian_setup(1)
    Z0 = proc.to_modes(mean) + var.sqrt().view(1, -1, 1) * torch.randn(6000, 12, 3, generator=g, dtype=torch.float64)
    fitted = R.GaussianModeModel.fit(proc, proc.from_modes(Z0))
    torch.testing.assert_close(fitted.var, var, rtol=0.06, atol=0)
    torch.testing.assert_close(fitted.mean, mean, rtol=0, atol=0.05)
    with pytest.raises(InputError, match="fit needs"):
        R.GaussianModeModel.fit(proc, torch.zeros(1, 12, 3))


def test_tune_scalar_picks_the_minimum():
    best, losses = R.tune_scalar(np.linspace(0, 2, 21), lambda x: (x - 1.3) ** 2)
    assert best == pytest.approx(1.3)
    assert len(losses) == 21
    with pytest.raises(InputError, match="non-empty"):
        R.tune_scalar([], lambda x: x)
