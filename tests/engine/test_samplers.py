"""Samplers against exact Gaussian answers, guidance, fixed atoms, and extreme settings.

With data ``N(m, C ⊗ I_3)`` the optimal ε-predictor is known in closed form:
``eps_hat(x, t) = Sigma^{1/2} (Phi C Phi + Sigma)^{-1} (x - Phi m)``. Plugged into any
sampler started from the exact ``p_1``, the output must be ``N(m, C)`` up to the
sampler's discretisation error and Monte-Carlo error. Tolerances (M = 2000 structures of
5 nodes × 3 columns = 6000 draws per node pair): mean within 4.5 standard errors per
entry; covariance within 7% relative Frobenius error (the Monte-Carlo floor is about 2%;
the discretisation error at the step counts used is below 4%, measured).
"""

import numpy as np
import pytest
import torch

from engine.errors import InputError
from engine.graphs import grid_laplacian, laplacian_from_edges
from engine.process import CosineSchedule, GraphBatchDiffusion, GraphDiffusion, LinearSchedule
from engine.process.regularizers import RegularizerContext, smoothness
from engine.sampling.guidance import FixedAtoms, RegularizerGuidance, compose, harmonic_conditional
from engine.sampling.samplers import (
    SAMPLERS,
    SamplingCancelled,
    get_sampler,
    probability_flow_drift,
    sample_adaptive,
    time_grid,
)

N = 5
STEPS = {"ddim": 200, "ancestral": 400, "pc": 200, "heun": 60, "adaptive": None}


class GaussianData:
    """The exact ε-predictor for data ``N(m, C ⊗ I_3)`` (dense, float64, cached per t)."""

    def __init__(self, proc, m, C):
        self.proc, self.m, self.C = proc, m, C
        self.cache = {}

    def matrices(self, t):
        key = round(float(t), 15)
        if key not in self.cache:
            phi, sig = self.proc.phi(t), self.proc.sigma(t)
            K = phi @ self.C @ phi + sig
            self.cache[key] = (phi, torch.linalg.inv(K))
        return self.cache[key]

    def __call__(self, x, t):
        phi, K_inv = self.matrices(t)
        return self.proc.apply_sigma_sqrt(K_inv @ (x - phi @ self.m), t)

    def exact_start(self, M, generator):
        phi, K_inv = self.matrices(1.0)
        root = torch.linalg.cholesky(torch.linalg.inv(K_inv))
        z = torch.randn(M, N, 3, generator=generator, dtype=torch.float64)
        return phi @ self.m + root @ z


@pytest.fixture(scope="module")
def gaussian_problem():
    rng = np.random.default_rng(0)
    L = laplacian_from_edges(N, [(0, 1), (1, 2), (2, 3), (3, 4), (0, 2)], rng.uniform(0.5, 2, 5))
    proc = GraphDiffusion(L, gamma=1.0, lam=0.5, schedule=LinearSchedule(0.1, 20.0))
    Q = rng.normal(size=(N, N))
    C = torch.tensor(Q @ Q.T / N + 0.1 * np.eye(N))
    m = torch.tensor(rng.normal(size=(N, 3)))
    return proc, m, C


def moments(x):
    mean = x.mean(0)
    X = (x - mean).permute(0, 2, 1).reshape(-1, x.shape[1])
    return mean, X.T @ X / X.shape[0]


def assert_gaussian(x, m, C, cov_tol=0.07):
    mean, cov = moments(x)
    se = torch.sqrt(torch.diagonal(C) / x.shape[0]).unsqueeze(-1)
    z = ((mean - m) / se).abs().max()
    assert z < 4.5, f"mean off by {z:.2f} standard errors"
    rel = float(torch.linalg.norm(cov - C) / torch.linalg.norm(C))
    assert rel < cov_tol, f"covariance off by {rel:.3f} (relative Frobenius)"


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_sampler_reproduces_gaussian_data(gaussian_problem, name):
    proc, m, C = gaussian_problem
    model = GaussianData(proc, m, C)
    g = torch.Generator().manual_seed(1)
    xT = model.exact_start(2000, g)
    if name == "adaptive":
        stats = {}
        x = sample_adaptive(model, xT, proc, time_grid(1), generator=g, rtol=1e-3, atol=1e-4, stats=stats)
        assert stats["nfe"] > 10 and stats["accepted"] > 5
    else:
        x = SAMPLERS[name](model, xT, proc, time_grid(STEPS[name]), generator=g)
    assert_gaussian(x, m, C)


def test_conditional_sampling_matches_exact_gaussian_conditional(gaussian_problem):
    proc, m, C = gaussian_problem
    fixed = torch.tensor([1, 3])
    free = torch.tensor([0, 2, 4])
    x_fixed = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]], dtype=torch.float64)
    # exact conditional of N(m, C) given the fixed rows
    gain = C[free][:, fixed] @ torch.linalg.inv(C[fixed][:, fixed])
    m_cond = m.clone()
    m_cond[fixed] = x_fixed
    m_cond[free] = m[free] + gain @ (x_fixed - m[fixed])
    C_cond = torch.zeros_like(C)
    C_cond[free.unsqueeze(1), free] = C[free][:, free] - gain @ C[fixed][:, free]
    model = GaussianData(proc, m_cond, C_cond)  # the conditional data's exact predictor
    hook = FixedAtoms(fixed, x_fixed)
    g = torch.Generator().manual_seed(2)
    for name in ["ddim", "ancestral"]:
        xT = model.exact_start(2000, g)
        x = SAMPLERS[name](model, xT, proc, time_grid(STEPS[name]), generator=g, transform_s0=hook)
        assert torch.equal(x[:, fixed], x_fixed.expand(2000, 2, 3))  # exactly, not approximately
        mean, cov = moments(x)
        sub = free.unsqueeze(1), free
        assert_gaussian(x[:, free], m_cond[free], C_cond[sub])


def test_harmonic_conditional_is_the_schur_complement():
    L = laplacian_from_edges(6, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (1, 4)], [1, 2, 1, 0.5, 1, 1.5])
    A = L.toarray() + 0.3 * np.eye(6)
    cov = np.linalg.inv(A)
    fixed = [0, 4]
    x_fixed = np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]])
    free, mean, ccov = harmonic_conditional(A, fixed, x_fixed)
    Skk = cov[np.ix_(fixed, fixed)]
    Suk = cov[np.ix_(free, fixed)]
    assert np.allclose(mean, Suk @ np.linalg.solve(Skk, x_fixed), atol=1e-12)
    assert np.allclose(ccov, cov[np.ix_(free, free)] - Suk @ np.linalg.solve(Skk, Suk.T), atol=1e-12)
    # singular Laplacian (lambda = 0): still defined once a node is fixed
    free, mean, ccov = harmonic_conditional(L.toarray(), [2], np.zeros((1, 3)))
    assert np.all(np.isfinite(ccov)) and np.allclose(mean, 0)


def test_heun_solves_the_probability_flow_ode_at_second_order(gaussian_problem):
    """Heun's result converges to a fine Runge–Kutta solution of
    dS/dt = -1/2 beta (A S + score) at second order (error / 4 when steps double)."""
    proc, m, C = gaussian_problem
    model = GaussianData(proc, m, C)
    x_start = model.exact_start(3, torch.Generator().manual_seed(3))
    t_stop = 0.05
    x = x_start.clone()  # classical RK4 on the drift, 1000 steps (error ~1e-9)
    ts = torch.linspace(1.0, t_stop, 1001, dtype=torch.float64)
    f = lambda y, t: probability_flow_drift(model, proc, y, float(t))  # noqa: E731
    for a, b in zip(ts[:-1], ts[1:]):
        h = float(b - a)
        k1 = f(x, a)
        k2 = f(x + 0.5 * h * k1, a + 0.5 * h)
        k3 = f(x + 0.5 * h * k2, a + 0.5 * h)
        k4 = f(x + h * k3, b)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    errors = []
    for steps in [50, 100, 200]:
        x_heun = SAMPLERS["heun"](model, x_start, proc, torch.linspace(1.0, t_stop, steps + 1, dtype=torch.float64))
        errors.append(float((x_heun - x).abs().max() / x.abs().max()))
    assert errors[-1] < 1e-3
    assert all(3.0 < errors[i] / errors[i + 1] < 5.0 for i in range(2)), errors


def test_callback_streams_every_step_and_can_cancel(gaussian_problem):
    proc, m, C = gaussian_problem
    point = lambda x, t: proc.eps_from_s0(x, t, m)  # noqa: E731 - data = the point m
    seen = []
    xT = proc.prior_sample()
    for name in SAMPLERS:
        seen.clear()
        SAMPLERS[name](point, xT, proc, time_grid(7), callback=lambda k, t, x, x0: seen.append((k, t)))
        assert [k for k, _ in seen] == list(range(1, len(seen) + 1)) and seen[-1][1] == 0.0
        if name != "adaptive":
            assert len(seen) == 7

    def stop(k, t, x, x0):
        if k == 3:
            raise SamplingCancelled("user")

    with pytest.raises(SamplingCancelled):
        get_sampler("ddim")(point, xT, proc, time_grid(10), callback=stop)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_seeded_sampling_is_reproducible(gaussian_problem, name):
    proc, m, C = gaussian_problem
    point = lambda x, t: proc.eps_from_s0(x, t, m)  # noqa: E731
    runs = []
    for _ in range(2):
        g = torch.Generator().manual_seed(11)
        runs.append(SAMPLERS[name](point, proc.prior_sample(generator=g), proc, time_grid(9), generator=g))
    assert torch.equal(runs[0], runs[1])


EXTREMES = [
    dict(gamma=1e-3, lam=0.0, beta_max=20.0),
    dict(gamma=1e3, lam=0.0, beta_max=20.0),
    dict(gamma=1.0, lam=1e3, beta_max=20.0),
    dict(gamma=1.0, lam=1e-6, beta_max=0.2),
    dict(gamma=1.0, lam=0.1, beta_max=1e3),
    dict(gamma=1e3, lam=1e3, beta_max=1e3),
]


@pytest.mark.parametrize("setting", EXTREMES, ids=lambda s: "-".join(f"{k}{v:g}" for k, v in s.items()))
@pytest.mark.parametrize("steps", [2, 1000])
def test_extreme_settings_stay_finite_in_float32(setting, steps):
    L = grid_laplacian((3, 3))
    proc = GraphDiffusion(L, gamma=setting["gamma"], lam=setting["lam"], dtype=torch.float32,
                          schedule=LinearSchedule(min(0.1, setting["beta_max"]), setting["beta_max"]))
    target = torch.randn(9, 3, generator=torch.Generator().manual_seed(0))
    point = lambda x, t: proc.eps_from_s0(x, t, target)  # noqa: E731
    g = torch.Generator().manual_seed(0)
    for name, sampler in SAMPLERS.items():
        grid = time_grid(steps)
        kw = dict(rtol=0.05, atol=1e-2) if name == "adaptive" else {}
        x = sampler(point, proc.prior_sample((2,), generator=g), proc, grid, generator=g, **kw)
        assert x.dtype == torch.float32
        assert bool(torch.isfinite(x).all()), f"{name} produced NaN/inf"
        if steps == 1000 and name in ("ddim", "heun"):
            # a point-mass data set is recovered
            assert float((x - target).abs().max()) < 1e-2 * max(1.0, float(target.abs().max()))


def test_fixed_atoms_are_preserved_to_float_precision():
    L = grid_laplacian((4, 3))
    proc = GraphDiffusion(L, gamma=1.0, lam=0.1, dtype=torch.float32)
    target = torch.randn(12, 3)
    noisy_model = lambda x, t: proc.eps_from_s0(x, t, target) + 0.3 * torch.sin(x)  # noqa: E731
    fixed = torch.tensor([0, 5, 11])
    coords = torch.tensor([[1.0, 2.0, 3.0], [-1.5, 0.25, 0.0], [3.0, -2.0, 1.0]])
    for name, sampler in SAMPLERS.items():
        x = sampler(noisy_model, proc.prior_sample((3,)), proc, time_grid(20), transform_s0=FixedAtoms(fixed, coords))
        assert torch.equal(x[:, fixed], coords.expand(3, 3, 3)), name


def test_smoothness_guidance_makes_samples_smoother():
    L = grid_laplacian((6, 6))
    proc = GraphDiffusion(L, gamma=1.0, lam=0.1)
    rough = torch.randn(36, 3, generator=torch.Generator().manual_seed(4))
    model = lambda x, t: proc.eps_from_s0(x, t, rough)  # noqa: E731 - data: a rough field
    smooth_of = lambda x: float(smoothness(x, L).mean())  # noqa: E731
    results = {}
    for lam_G in [0.0, 1.0]:
        ctx = RegularizerContext()
        hook = RegularizerGuidance(ctx, lambda_G=lam_G, scale=0.5, laplacian=L) if lam_G else None
        g = torch.Generator().manual_seed(9)
        x = SAMPLERS["ddim"](model, proc.prior_sample((4,), generator=g), proc, time_grid(30),
                             transform_s0=hook)
        results[lam_G] = smooth_of(x)
    assert results[1.0] < 0.75 * results[0.0], results  # measured: 0.59


def test_energy_guidance_pulls_towards_reference_and_guidance_validates():
    L = grid_laplacian((5,))
    proc = GraphDiffusion(L, gamma=1.0, lam=0.1)
    target = torch.randn(5, 3, dtype=torch.float64)
    ref = torch.zeros(5, 3, dtype=torch.float64)
    model = lambda x, t: proc.eps_from_s0(x, t, target)  # noqa: E731
    ctx = RegularizerContext(S_ref=ref, masses=torch.full((5,), 12.0, dtype=torch.float64))
    plain = SAMPLERS["ddim"](model, proc.prior_sample(), proc, time_grid(20))
    guided = SAMPLERS["ddim"](model, proc.prior_sample(), proc, time_grid(20),
                              transform_s0=compose(RegularizerGuidance(ctx, lambda_E=1.0, scale=0.3), None))
    assert float(guided.norm()) < float(plain.norm())
    with pytest.raises(ValueError, match="lambda_E"):
        RegularizerGuidance(ctx, lambda_E=-1.0)
    with pytest.raises(ValueError, match="Laplacian"):
        RegularizerGuidance(RegularizerContext(), lambda_G=1.0)


def test_samplers_work_on_a_batch_of_molecule_graphs():
    """GraphBatchDiffusion (concatenated graphs, centre-of-mass free) with every sampler."""
    rng = np.random.default_rng(5)
    sizes = [4, 7, 5]
    Ls = [laplacian_from_edges(n, [(i, int(rng.integers(0, i))) for i in range(1, n)]) for n in sizes]
    proc = GraphBatchDiffusion(Ls, gamma=1.0, lam=0.0, dtype=torch.float64, schedule=CosineSchedule())
    target = proc._centered(torch.randn(proc.n, 3, dtype=torch.float64))
    model = lambda x, t: proc.eps_from_s0(x, t, target)  # noqa: E731
    for name, sampler in SAMPLERS.items():
        x = sampler(model, proc.prior_sample(), proc, time_grid(100))
        assert x.shape == (16, 3)
        assert float(proc.graph_mean(x).abs().max()) < 1e-10  # centred per molecule
        if name in ("ddim", "heun", "adaptive"):
            assert float((x - target).abs().max()) < 1e-3, name


def test_bad_sampler_input_is_named():
    with pytest.raises(ValueError, match="unknown sampler"):
        get_sampler("euler-maruyama-magic")
    with pytest.raises(ValueError, match="steps"):
        time_grid(0)
    L = grid_laplacian((3,))
    proc = GraphDiffusion(L, lam=0.1)
    with pytest.raises(ValueError, match="decreasing"):
        SAMPLERS["ddim"](lambda x, t: x, proc.prior_sample(), proc, torch.tensor([0.0, 1.0]))
    nan_model = lambda x, t: x * float("nan")  # noqa: E731
    with pytest.raises(Exception, match="NaN"):
        SAMPLERS["ddim"](nan_model, proc.prior_sample(), proc, time_grid(3))


def _floored_problem():
    """A process whose Phi(t) drops far below the sampling floor (lam = 0.5, cosine B(1)
    = 10 as the shipped molecule recipe) and an imperfect eps-model."""
    from engine.sampling.samplers import SAMPLING_PHI_FLOOR

    L = grid_laplacian((4, 3))
    proc = GraphDiffusion(L, gamma=4.0, lam=0.5, schedule=CosineSchedule(integral_end=10.0),
                          phi_floor=SAMPLING_PHI_FLOOR)
    target = torch.randn(12, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model = lambda x, t: proc.eps_from_s0(x, t, target) + 0.3 * torch.sin(3 * x)  # noqa: E731
    return proc, target, model


def test_clean_estimate_pair_reproduces_the_state_under_the_sampling_floor():
    """``Phi S0_hat + Sigma^{1/2} eps_hat == x`` at every t, also where S0_hat is guarded:
    a DDIM step of length zero must not move the state."""
    from engine.sampling.samplers import _clean_estimate

    proc, _, model = _floored_problem()
    x = proc.prior_sample((2,), generator=torch.Generator().manual_seed(0))
    for t in (1.0, 0.9, 0.5, 0.1):
        eps, x0 = _clean_estimate(model, proc, x, t, None)
        back = proc.apply_phi(x0, t) + proc.apply_sigma_sqrt(eps, t)
        assert float((back - x).abs().max()) < 1e-9, t


def test_adaptive_solver_error_vanishes_with_the_step_under_the_floor():
    """Regression: with an inconsistent (eps, S0_hat) pair a zero-length step still moved
    the guarded modes, so the adaptive solver's error estimate did not vanish with its
    step: on the shipped recipe it got stuck near t = 1 (> 2000 steps); on this problem
    it needed 475 evaluations (measured), 167 with the consistent pair."""
    proc, target, model = _floored_problem()
    start = proc.prior_sample((64,), generator=torch.Generator().manual_seed(2))
    stats = {}
    x = sample_adaptive(model, start, proc, time_grid(10), stats=stats)
    assert bool(torch.isfinite(x).all()) and stats["nfe"] < 300, stats
    assert float((x - target).pow(2).mean()) < 1e-3


def test_regulariser_weights_act_by_their_value_monotonically():
    """A larger weight moves Ŝ₀ further, monotonically (a step of scale/Lip once cancelled
    the weight, so 0.105 and 10 gave identical samples)."""
    L = grid_laplacian((6, 6))
    rough = torch.randn(36, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    ref = torch.zeros(36, 3, dtype=torch.float64)
    masses = torch.ones(36, dtype=torch.float64)
    smooth, dist = [], []
    for lam in (0.01, 0.105, 1.0, 10.0):
        g_hook = RegularizerGuidance(RegularizerContext(), lambda_G=lam, laplacian=L)
        smooth.append(float(smoothness(g_hook(rough, rough, 0.5), L).sum()))
        e_hook = RegularizerGuidance(RegularizerContext(S_ref=ref, masses=masses), lambda_E=lam)
        dist.append(float(e_hook(rough, rough, 0.5).norm()))
    assert all(b < a for a, b in zip(smooth, smooth[1:])), smooth    # saturates: one step of 1/Lip at most
    assert smooth[-1] < 0.7 * smooth[0]
    assert all(b < 0.99 * a for a, b in zip(dist, dist[1:])), dist
    assert dist[-1] < float(rough.norm())            # and the pull never overshoots the reference
    assert dist[-1] >= 0.0
    # the overall scale acts the same way
    scaled = [float(RegularizerGuidance(RegularizerContext(S_ref=ref, masses=masses), lambda_E=1.0,
                                        scale=s)(rough, rough, 0.5).norm()) for s in (0.1, 1.0, 10.0)]
    assert scaled[0] > scaled[1] > scaled[2]


def test_expansion_scales_each_graph_about_its_own_centroid():
    from engine.sampling.guidance import Expansion

    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(7, 3, generator=g, dtype=torch.float64)
    x0[4:] += 10.0                              # the second graph far from the first
    batch = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    out = Expansion(1.5, batch, 2)(x0, None, 0.5)
    for rows in (slice(0, 4), slice(4, 7)):
        torch.testing.assert_close(out[rows].mean(0), x0[rows].mean(0))          # centroid kept
        torch.testing.assert_close(torch.cdist(out[rows], out[rows]), 1.5 * torch.cdist(x0[rows], x0[rows]))
    assert Expansion(1.0, batch, 2)(x0, None, 0.5) is x0
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InputError, match="expansion"):
            Expansion(bad, batch, 2)
