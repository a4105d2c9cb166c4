"""The diffusion process against closed forms (float64) and against itself.

Tolerances: closed forms 1e-10 relative (float64 eigh/expm agree to ~1e-14); backend
agreement 1e-6 relative (the issue's bound; Chebyshev is run at tol 1e-10).
"""

import numpy as np
import pytest
import scipy.linalg as sla
import torch

from engine.graphs import grid_laplacian, laplacian_from_edges
from engine.process import CosineSchedule, GraphDiffusion, LinearSchedule
from engine.process.reference import diag_approx_error, drift_matrix, euler_phi_sigma

SCHEDULES = [LinearSchedule(0.1, 20.0), LinearSchedule(0.5, 5.0), CosineSchedule(0.008, 10.0)]


def random_weighted_graph(n, p=0.35, seed=0, connected=True):
    rng = np.random.default_rng(seed)
    edges = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < p]
    if connected:  # add a random spanning tree
        edges += [(i, int(rng.integers(0, i))) for i in range(1, n)]
    weights = rng.uniform(0.2, 2.0, len(edges))
    return laplacian_from_edges(n, edges, weights)


def rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=["linear", "linear-mild", "cosine"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_phi_sigma_equal_matrix_exponentials(schedule, seed):
    n = 9 + seed * 4
    L = random_weighted_graph(n, seed=seed)
    gamma, lam = 0.7 + seed, 0.05 * seed
    proc = GraphDiffusion(L, gamma=gamma, lam=lam, schedule=schedule)
    A = gamma * L.toarray() + lam * np.eye(n)
    for t in [1e-3, 0.1, 0.37, 0.8, 1.0]:
        B = float(schedule.integral(t))
        phi_ref = sla.expm(-0.5 * B * A)
        if lam > 0:
            sigma_ref = np.linalg.solve(A, np.eye(n) - sla.expm(-B * A))
        else:  # A singular: use the series-safe spectral form as reference via expm of a block
            # Van Loan: Sigma = int_0^B exp(-uA) du = top-right block of expm([[-A, I], [0, 0]] B)
            M = np.zeros((2 * n, 2 * n))
            M[:n, :n] = -A
            M[:n, n:] = np.eye(n)
            sigma_ref = sla.expm(M * B)[:n, n:]
        assert rel(proc.phi(t).numpy(), phi_ref) < 1e-10
        assert rel(proc.sigma(t).numpy(), sigma_ref) < 1e-10


def test_sigma_between_times_uses_integral_difference():
    L = random_weighted_graph(8, seed=3)
    sch = LinearSchedule(0.1, 20.0)
    proc = GraphDiffusion(L, gamma=1.0, lam=0.3, schedule=sch)
    A = L.toarray() + 0.3 * np.eye(8)
    dB = sch.integral(0.6) - sch.integral(0.25)
    assert rel(proc.phi(0.6, 0.25).numpy(), sla.expm(-0.5 * dB * A)) < 1e-10
    assert rel(proc.sigma(0.6, 0.25).numpy(), np.linalg.solve(A, np.eye(8) - sla.expm(-dB * A))) < 1e-10


def test_euler_recursion_converges_at_first_order():
    L = random_weighted_graph(7, seed=4)
    sch = LinearSchedule(0.1, 20.0)
    proc = GraphDiffusion(L, gamma=1.0, lam=0.2, schedule=sch)
    A = drift_matrix(L, 1.0, 0.2)
    t = 0.5
    exact_phi, exact_sigma = proc.phi(t), proc.sigma(t)
    errors = []
    for steps in [200, 400, 800, 1600]:
        phi_k, sigma_k = euler_phi_sigma(A, sch, t, steps)
        errors.append(float(torch.linalg.norm(phi_k - exact_phi) + torch.linalg.norm(sigma_k - exact_sigma)))
    ratios = [errors[i] / errors[i + 1] for i in range(len(errors) - 1)]
    # first order: doubling the steps halves the error (ratio -> 2)
    assert all(1.8 < r < 2.2 for r in ratios), ratios


def test_diag_approximation_is_measurably_worse_than_full():
    L = random_weighted_graph(10, seed=5)
    err = diag_approx_error(drift_matrix(L, 1.0, 0.1), LinearSchedule(0.1, 20.0), 0.5, steps=400)
    assert err > 1e-3  # the seed's approximation drops real correlations


def test_sigma_positive_definite_and_tends_to_inverse_drift():
    L = random_weighted_graph(10, seed=6)
    A = L.toarray() + 0.5 * np.eye(10)
    proc = GraphDiffusion(L, gamma=1.0, lam=0.5, schedule=LinearSchedule(0.1, 20.0))
    for t in [0.01, 0.2, 0.5, 1.0]:
        assert torch.linalg.eigvalsh(proc.sigma(t)).min() > 0
    # B(1) = 10.05 here; with a fast schedule B(1) = 250 and Sigma(1) = A^{-1} to 1e-10
    fast = GraphDiffusion(L, gamma=1.0, lam=0.5, schedule=LinearSchedule(100.0, 400.0))
    assert rel(fast.sigma(1.0).numpy(), np.linalg.inv(A)) < 1e-10
    gaps = [rel(proc.sigma(t).numpy(), np.linalg.inv(A)) for t in [0.2, 0.5, 1.0]]
    assert gaps[0] > gaps[1] > gaps[2]


@pytest.mark.parametrize("backend", ["dense", "dct", "chebyshev"])
def test_roundtrip_with_true_eps_is_exact(backend):
    L = grid_laplacian((6, 5))
    proc = GraphDiffusion(L, gamma=1.0, lam=0.1, schedule=LinearSchedule(0.1, 5.0), backend=backend)
    g = torch.Generator().manual_seed(0)
    S0 = torch.randn(4, 30, 3, generator=g, dtype=torch.float64)
    t = torch.tensor([0.05, 0.3, 0.6, 1.0], dtype=torch.float64)
    St, eps = proc.noise(S0, t, generator=g)
    S0_hat = proc.s0_from_eps(St, t, eps)
    # dense/DCT invert per mode exactly; Chebyshev approximates Phi^{-1} as a polynomial
    # whose error (tol 1e-10 of max|1/phi| ~ 3e4 here) is amplified by Phi's conditioning
    assert rel(S0_hat.numpy(), S0.numpy()) < (1e-6 if backend == "chebyshev" else 1e-9)
    # and eps_from_s0 inverts the forward map
    assert rel(proc.eps_from_s0(St, t, S0).numpy(), eps.numpy()) < 1e-8


def test_score_and_eps_are_interchangeable():
    L = random_weighted_graph(8, seed=7)
    proc = GraphDiffusion(L, gamma=1.2, lam=0.1)
    S0 = torch.randn(8, 3, dtype=torch.float64)
    St, eps = proc.noise(S0, 0.4)
    score = proc.score_from_eps(eps, 0.4)
    sigma, phi = proc.sigma(0.4), proc.phi(0.4)
    exact = -torch.linalg.solve(sigma, St - phi @ S0)  # grad log N(S_t; Phi S0, Sigma)
    assert rel(score.numpy(), exact.numpy()) < 1e-9
    assert rel(proc.eps_from_score(score, 0.4).numpy(), eps.numpy()) < 1e-9


def test_posterior_equals_joint_gaussian_conditioning():
    L = random_weighted_graph(9, seed=8)
    n = 9
    proc = GraphDiffusion(L, gamma=0.8, lam=0.2, schedule=LinearSchedule(0.1, 20.0))
    s, t = 0.3, 0.45
    S0 = torch.randn(n, 3, dtype=torch.float64)
    St = torch.randn(n, 3, dtype=torch.float64)
    phi_s, sig_s = proc.phi(s).numpy(), proc.sigma(s).numpy()
    F, Q = (m.numpy() for m in proc.transition(t, s))
    # joint of (S_s, S_t) given S_0, then condition on S_t
    var_t = F @ sig_s @ F.T + Q
    cross = sig_s @ F.T
    mean_ref = phi_s @ S0.numpy() + cross @ np.linalg.solve(var_t, St.numpy() - F @ phi_s @ S0.numpy())
    cov_ref = sig_s - cross @ np.linalg.solve(var_t, cross.T)
    mean, _ = proc.posterior(St, S0, t, s, noise=torch.zeros(n, 3, dtype=torch.float64))
    assert rel(mean.numpy(), mean_ref) < 1e-9
    assert rel(proc.posterior_covariance(t, s).numpy(), cov_ref) < 1e-9
    # the SPEC's information form gives the same
    C = np.linalg.inv(np.linalg.inv(sig_s) + F.T @ np.linalg.solve(Q, F))
    assert rel(C, cov_ref) < 1e-8


def test_sigma_recursion_over_a_grid():
    L = random_weighted_graph(8, seed=9)
    proc = GraphDiffusion(L, gamma=1.0, lam=0.1, schedule=CosineSchedule())
    grid = np.linspace(0, 1, 7)
    for k in range(1, len(grid)):
        F, Q = proc.transition(grid[k], grid[k - 1])
        lhs = proc.sigma(grid[k])
        rhs = F @ proc.sigma(grid[k - 1]) @ F.T + Q
        assert rel(lhs.numpy(), rhs.numpy()) < 1e-10
        assert rel(proc.phi(grid[k]).numpy(), (F @ proc.phi(grid[k - 1])).numpy()) < 1e-10


def test_noise_covariance_matches_sigma_kron_identity_monte_carlo():
    n, M = 5, 40_000
    L = random_weighted_graph(n, seed=10)
    proc = GraphDiffusion(L, gamma=1.0, lam=0.3)
    S0 = torch.randn(n, 3, dtype=torch.float64)
    g = torch.Generator().manual_seed(123)
    St, _ = proc.noise(S0.expand(M, n, 3), 0.35, generator=g)
    X = (St - proc.apply_phi(S0, 0.35)).reshape(M, 3 * n).numpy()  # vec over (node, xyz)
    emp = X.T @ X / M
    true = np.kron(proc.sigma(0.35).numpy(), np.eye(3))
    # standard error of a Gaussian covariance entry: sqrt((S_ii S_jj + S_ij^2) / M)
    d = np.diag(true)
    se = np.sqrt((np.outer(d, d) + true**2) / M)
    z = np.abs(emp - true) / se
    assert z.max() < 5.0, z.max()
    assert np.abs(X.mean(0)).max() < 5 * np.sqrt(d.max() / M)


def test_batched_and_unbatched_calls_agree():
    L = random_weighted_graph(7, seed=11)
    proc = GraphDiffusion(L, gamma=1.0, lam=0.1)
    S0 = torch.randn(3, 7, 3, dtype=torch.float64)
    eps = torch.randn(3, 7, 3, dtype=torch.float64)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    St, _ = proc.noise(S0, t, eps=eps)
    hat = proc.s0_from_eps(St, t, eps)
    for b in range(3):
        one, _ = proc.noise(S0[b], float(t[b]), eps=eps[b])
        assert torch.allclose(one, St[b], rtol=0, atol=1e-13)
        assert torch.allclose(proc.s0_from_eps(one, float(t[b]), eps[b]), hat[b], atol=1e-12)
    # one structure, many times: broadcast
    many, _ = proc.noise(S0[0], t, eps=eps)
    assert many.shape == (3, 7, 3)


def test_generator_makes_noise_reproducible():
    proc = GraphDiffusion(random_weighted_graph(6, seed=12), lam=0.1)
    S0 = torch.zeros(6, 3, dtype=torch.float64)
    a = proc.noise(S0, 0.5, generator=torch.Generator().manual_seed(5))[0]
    b = proc.noise(S0, 0.5, generator=torch.Generator().manual_seed(5))[0]
    c = proc.noise(S0, 0.5, generator=torch.Generator().manual_seed(6))[0]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_float32_matches_float64():
    L = random_weighted_graph(10, seed=13)
    p64 = GraphDiffusion(L, lam=0.1, dtype=torch.float64)
    p32 = GraphDiffusion(L, lam=0.1, dtype=torch.float32)
    S0 = torch.randn(10, 3, dtype=torch.float64)
    eps = torch.randn(10, 3, dtype=torch.float64)
    a, _ = p64.noise(S0, 0.3, eps=eps)
    b, _ = p32.noise(S0.float(), 0.3, eps=eps.float())
    assert b.dtype == torch.float32
    assert rel(b.double().numpy(), a.numpy()) < 1e-5


def test_v_parameterisation_against_dense_matrices():
    """``v_target`` / ``s0_from_v`` / ``eps_from_v`` of a batch of molecules against Φ and
    Σ^{1/2} built from ``expm`` per graph (centre-of-mass mode removed): Ŝ₀ = Φ S_t +
    Σ^{1/2} v̂; ε̂ = Σ^{-1/2}(S_t − Φ Ŝ₀); the true v gives back S₀ and ε exactly; v̂ = 0 is
    the harmonic-prior predictor ε̂ = Σ^{1/2} A S_t."""
    from engine.process import GraphBatchDiffusion

    laps = [random_weighted_graph(n, seed=40 + n) for n in (7, 4, 9)]
    gamma, lam = 4.0, 0.5
    proc = GraphBatchDiffusion(laps, gamma=gamma, lam=lam, schedule=CosineSchedule(0.008, 10.0),
                               dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    S0 = proc._centered(torch.randn(20, 3, generator=gen, dtype=torch.float64))
    t = torch.tensor([0.15, 0.6, 0.97], dtype=torch.float64)
    St, eps = proc.noise(S0, t, generator=gen)
    v_hat = proc._centered(torch.randn(20, 3, generator=gen, dtype=torch.float64))
    v = proc.v_target(S0, t, eps)
    assert rel(proc.s0_from_v(St, t, v).numpy(), S0.numpy()) < 1e-10
    assert rel(proc.eps_from_v(St, t, v).numpy(), eps.numpy()) < 1e-10
    s0_hat, eps_hat = proc.s0_from_v(St, t, v_hat), proc.eps_from_v(St, t, v_hat)
    harmonic = proc.eps_from_v(St, t, torch.zeros_like(St))
    lo = 0
    for g, L in enumerate(laps):
        n = L.shape[0]
        A = gamma * L.toarray() + lam * np.eye(n)
        B = float(proc.schedule.integral(float(t[g])))
        P = np.eye(n) - np.ones((n, n)) / n                      # centre-of-mass-free
        Phi = P @ sla.expm(-0.5 * B * A) @ P
        Sigma = P @ np.linalg.solve(A, np.eye(n) - sla.expm(-B * A)) @ P
        w, V = np.linalg.eigh(Sigma)
        keep = w > 1e-12
        sqrt_S = V[:, keep] @ np.diag(np.sqrt(w[keep])) @ V[:, keep].T
        inv_sqrt_S = V[:, keep] @ np.diag(1 / np.sqrt(w[keep])) @ V[:, keep].T
        x, vh = St[lo:lo + n].numpy(), v_hat[lo:lo + n].numpy()
        s0 = Phi @ x + sqrt_S @ vh
        assert rel(s0_hat[lo:lo + n].numpy(), s0) < 1e-9
        assert rel(eps_hat[lo:lo + n].numpy(), inv_sqrt_S @ (x - Phi @ s0)) < 1e-8
        assert rel(harmonic[lo:lo + n].numpy(), sqrt_S @ (P @ A @ P) @ x) < 1e-8
        lo += n
