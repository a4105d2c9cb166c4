"""The three backends agree (<= 1e-6 relative where the dense path is feasible), the
centre-of-mass-free mode, the molecule batch, devices, and bad input."""
import numpy as np
import pytest
import scipy.fft
import scipy.sparse as sp
import torch

from engine.errors import GraphError, InputError
from engine.graphs import grid_laplacian, laplacian_from_edges
from engine.process import EIGH_CACHE, CosineSchedule, GraphBatchDiffusion, GraphDiffusion, LinearSchedule
from engine.process.backends import _dct_ortho, _idct_ortho

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def rel(a, b):
    a, b = torch.as_tensor(a).double().cpu(), torch.as_tensor(b).double().cpu()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


@pytest.mark.parametrize("n", [1, 2, 5, 8, 13])
def test_torch_dct_matches_scipy(n):
    x = torch.randn(4, n, 3, dtype=torch.float64)
    ref = scipy.fft.dct(x.numpy(), type=2, norm="ortho", axis=1)
    assert np.abs(_dct_ortho(x, 1).numpy() - ref).max() < 1e-12
    assert torch.allclose(_idct_ortho(_dct_ortho(x, 1), 1), x, atol=1e-12)


def _random_sparse_graph(n, seed):
    rng = np.random.default_rng(seed)
    pts = rng.random((n, 2))
    from scipy.spatial import cKDTree

    pairs = cKDTree(pts).query_pairs(0.25, output_type="ndarray")
    tree = np.array([(i, int(rng.integers(0, i))) for i in range(1, n)])
    edges = np.concatenate([pairs, tree])
    return laplacian_from_edges(n, edges, rng.uniform(0.5, 1.5, len(edges)))


CASES = {
    "lattice-1d": lambda: grid_laplacian((40,)),
    "lattice-2d": lambda: grid_laplacian((9, 7)),
    "lattice-3d": lambda: grid_laplacian((5, 4, 6)),
    "random-geometric": lambda: _random_sparse_graph(120, 0),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("schedule", [LinearSchedule(0.1, 20.0), CosineSchedule()], ids=["linear", "cosine"])
def test_backends_match_dense(case, center, schedule):
    L = CASES[case]()
    lam = 0.0 if center else 0.2
    kw = dict(gamma=1.0, lam=lam, schedule=schedule, center=center)
    dense = GraphDiffusion(L, backend="dense", **kw)
    others = [GraphDiffusion(L, backend="chebyshev", **kw)]
    if case.startswith("lattice"):
        others.append(GraphDiffusion(L, backend="dct", **kw))
        assert GraphDiffusion(L, **kw).backend_name == "dense"  # small lattice: dense is faster
    g = torch.Generator().manual_seed(1)
    n = L.shape[0]
    S0 = torch.randn(3, n, 3, generator=g, dtype=torch.float64)
    eps = torch.randn(3, n, 3, generator=g, dtype=torch.float64)
    t = torch.tensor([0.02, 0.4, 1.0], dtype=torch.float64)
    s = torch.tensor([0.0, 0.25, 0.7], dtype=torch.float64)
    St_ref, _ = dense.noise(S0, t, eps=eps)
    for other in others:
        St, _ = other.noise(S0, t, eps=eps)
        assert rel(St, St_ref) < 1e-6, other.backend_name
        assert rel(other.apply_phi(S0, t, s), dense.apply_phi(S0, t, s)) < 1e-6
        assert rel(other.apply_sigma_sqrt(eps, t, s), dense.apply_sigma_sqrt(eps, t, s)) < 1e-6
        assert rel(other.score_from_eps(eps, t), dense.score_from_eps(eps, t)) < 1e-6
        m_ref, x_ref = dense.posterior(St_ref, S0, t, s, noise=eps)
        m, x = other.posterior(St_ref, S0, t, s, noise=eps)
        assert rel(m, m_ref) < 1e-6 and rel(x, x_ref) < 1e-6
        # Phi^{-1} amplifies any error by max(1/phi) (Chebyshev's tol is relative to
        # max|f|), so compare where the signal is still there: max(1/phi) < ~50 here
        t_mid = torch.tensor([0.01, 0.04, 0.07], dtype=torch.float64)
        St_mid, _ = dense.noise(S0, t_mid, eps=eps)
        assert rel(other.s0_from_eps(St_mid, t_mid, eps), dense.s0_from_eps(St_mid, t_mid, eps)) < 1e-6
    if isinstance(others[0].backend, object) and others[0].backend_name == "chebyshev":
        assert others[0].backend.last_error_bound < 1e-8


def test_chebyshev_error_bound_is_honest():
    L = _random_sparse_graph(150, 3)
    dense = GraphDiffusion(L, lam=0.1, backend="dense")
    for tol in [1e-3, 1e-6, 1e-10]:
        cheb = GraphDiffusion(L, lam=0.1, backend="chebyshev", chebyshev_tol=tol)
        X = torch.randn(1, 150, 3, dtype=torch.float64)
        out = cheb.apply_phi(X, 0.7)
        ref = dense.apply_phi(X, 0.7)
        bound = cheb.backend.last_error_bound
        assert bound <= tol
        # ||f(A)v - p(A)v|| <= bound * max|f| * ||v|| per column, max|f| = 1 for phi
        err = torch.linalg.norm(out - ref, dim=1) / torch.linalg.norm(X, dim=1)
        assert float(err.max()) <= bound * 1.01 + 1e-14


def test_center_mode_is_mean_free_and_needs_connected_graph():
    L = laplacian_from_edges(6, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (0, 5)])
    proc = GraphDiffusion(L, gamma=1.0, lam=0.0, center=True)
    S0 = torch.randn(6, 3, dtype=torch.float64) + 5.0
    St, eps = proc.noise(S0, 0.6)
    assert eps.mean(0).abs().max() < 1e-12 and St.mean(0).abs().max() < 1e-12
    assert proc.prior_sample((4,)).mean(1).abs().max() < 1e-12
    # the harmonic prior: Sigma(inf) = pseudo-inverse of A on the mean-free subspace
    fast = GraphDiffusion(L, gamma=1.0, lam=0.0, center=True, schedule=LinearSchedule(200.0, 400.0))
    assert rel(fast.sigma(1.0), torch.linalg.pinv(torch.tensor(L.toarray()))) < 1e-10
    split = laplacian_from_edges(6, [(0, 1), (1, 2), (3, 4), (4, 5)])
    with pytest.raises(GraphError, match="disconnected"):
        GraphDiffusion(split, lam=0.0, center=True)
    with pytest.raises(GraphError, match="disconnected"):
        GraphDiffusion(split, lam=0.0, center=True, backend="chebyshev")


def test_graph_batch_matches_single_graph_processes():
    rng = np.random.default_rng(0)
    sizes = [3, 9, 5, 9]
    Ls = [laplacian_from_edges(n, [(i, int(rng.integers(0, i))) for i in range(1, n)],
                               rng.uniform(0.5, 2, n - 1)) for n in sizes]
    batch = GraphBatchDiffusion(Ls, gamma=1.3, lam=0.0, dtype=torch.float64, center=True)
    assert batch.n == sum(sizes) and batch.num_graphs == 4
    X = torch.randn(batch.n, 3, dtype=torch.float64)
    eps = torch.randn(batch.n, 3, dtype=torch.float64)
    t = torch.tensor([0.1, 0.5, 0.9, 0.3], dtype=torch.float64)
    St, eps_c = batch.noise(X, t, eps=eps)
    hat = batch.s0_from_eps(St, t, eps_c)
    score = batch.score_from_eps(eps_c, t)
    for g, L in enumerate(Ls):
        sl = slice(int(batch.ptr[g]), int(batch.ptr[g + 1]))
        single = GraphDiffusion(L, gamma=1.3, lam=0.0, center=True)
        ref, ref_eps = single.noise(X[sl], float(t[g]), eps=eps[sl])
        assert rel(St[sl], ref) < 1e-12 and rel(eps_c[sl], ref_eps) < 1e-12
        # rounding of the two paths is amplified by 1/phi (up to ~1e6 at t = 0.9)
        assert rel(hat[sl], single.s0_from_eps(ref, float(t[g]), ref_eps)) < 1e-6
        assert rel(score[sl], single.score_from_eps(ref_eps, float(t[g]))) < 1e-10
        assert St[sl].mean(0).abs().max() < 1e-12


def test_eigendecompositions_are_cached():
    EIGH_CACHE.clear()
    Ls = [laplacian_from_edges(7, [(i, i + 1) for i in range(6)]) for _ in range(5)]
    GraphBatchDiffusion(Ls)
    assert EIGH_CACHE.misses == 1 and EIGH_CACHE.hits == 0  # identical graphs: one solve
    GraphBatchDiffusion(Ls[:2])
    assert EIGH_CACHE.hits == 1 and EIGH_CACHE.misses == 1


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_devices_and_dtypes(device, dtype):
    L = grid_laplacian((4, 4))
    for backend in ["dense", "dct", "chebyshev"]:
        proc = GraphDiffusion(L, lam=0.1, dtype=dtype, device=device, backend=backend)
        S0 = torch.randn(16, 3, dtype=dtype, device=device)
        St, eps = proc.noise(S0, 0.2)  # max(1/phi) ~ 5.5 at t = 0.2
        assert St.device.type == device and St.dtype == dtype
        assert rel(proc.s0_from_eps(St, 0.2, eps), S0) < (1e-4 if dtype == torch.float32 else 1e-8)
    batch = GraphBatchDiffusion([L, L], dtype=dtype, device=device)
    St, _ = batch.noise(torch.randn(32, 3, dtype=dtype, device=device), torch.tensor([0.2, 0.8]))
    assert St.device.type == device


def test_bad_input_is_named():
    L = grid_laplacian((3, 3))
    proc = GraphDiffusion(L, lam=0.1)
    good = torch.zeros(9, 3, dtype=torch.float64)
    nan = good.clone()
    nan[4, 1] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        proc.noise(nan, 0.5)
    with pytest.raises(InputError, match=r"expected \(9, 3\)"):
        proc.noise(torch.zeros(8, 3), 0.5)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        proc.noise(good, 1.5)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        proc.noise(good, torch.tensor([0.2, -0.1]))
    with pytest.raises(InputError, match="batch"):
        proc.noise(torch.zeros(2, 9, 3), torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(InputError, match="s < t"):
        proc.posterior(good, good, 0.3, 0.5)
    with pytest.raises(ValueError, match="gamma"):
        GraphDiffusion(L, gamma=0.0)
    with pytest.raises(ValueError, match="lam"):
        GraphDiffusion(L, lam=-1.0)
    with pytest.raises(ValueError, match="backend"):
        GraphDiffusion(L, backend="magic")
    with pytest.raises(ValueError, match="lattice"):
        GraphDiffusion(laplacian_from_edges(3, [(0, 1), (1, 2), (0, 2)]), backend="dct")
    big = laplacian_from_edges(25_000, np.stack([np.arange(24_999), np.arange(1, 25_000)], 1))
    with pytest.raises(GraphError, match="too large for the dense path"):
        GraphDiffusion(big, backend="dense")
    assert GraphDiffusion(big, lam=0.1).backend_name == "chebyshev"  # auto picks what fits
    with pytest.raises(InputError, match="empty"):
        GraphDiffusion(sp.csr_matrix((0, 0)))
    with pytest.raises(GraphError, match="empty"):
        GraphBatchDiffusion([grid_laplacian(3), sp.csr_matrix((0, 0))])
    batch = GraphBatchDiffusion([grid_laplacian(3), grid_laplacian(4)])
    with pytest.raises(InputError, match="2 graphs"):
        batch.noise(torch.zeros(7, 3), torch.tensor([0.1, 0.2, 0.3]))


def test_modified_lattice_is_not_treated_as_lattice():
    L = grid_laplacian((4, 4))
    L2 = L.copy() * 2.0  # arithmetic drops the lattice tag
    assert GraphDiffusion(L2, lam=0.1).backend_name == "dense"
    big = grid_laplacian((30, 30))
    assert GraphDiffusion(big, lam=0.1).backend_name == "dct"  # picked automatically
    big.data[:] *= 1.0  # in-place but unchanged: still a lattice
    assert GraphDiffusion(big, lam=0.1).backend_name == "dct"
    big.data[0] += 0.5  # in-place change: verified, falls back to dense
    assert GraphDiffusion(big, lam=0.1).backend_name == "dense"


def test_mode_energies_split_the_harmonic_energy():
    L = grid_laplacian((5, 4))
    for backend in ["dense", "dct"]:
        proc = GraphDiffusion(L, gamma=2.0, lam=0.1, backend=backend)
        S = torch.randn(20, 3, dtype=torch.float64)
        A = torch.tensor(2.0 * L.toarray() + 0.1 * np.eye(20))
        total = 0.5 * torch.trace(S.T @ A @ S)
        assert abs(float(proc.mode_energies(S).sum() - total)) < 1e-10 * float(total)
        assert torch.allclose(proc.from_modes(proc.to_modes(S)), S, atol=1e-12)


def test_graph_batch_rejects_a_disconnected_molecule():
    good = laplacian_from_edges(3, [(0, 1), (1, 2)])
    split = laplacian_from_edges(4, [(0, 1), (2, 3)])
    with pytest.raises(GraphError, match="graph 1 of the batch is disconnected"):
        GraphBatchDiffusion([good, split])
    GraphBatchDiffusion([good, split], center=False)  # fine without the centre-of-mass mode


def test_lattice_fft_path_matches_the_scipy_path():
    """The FFT formulation (used on CUDA and under autograd) equals pocketfft's DCT."""
    proc = GraphDiffusion(grid_laplacian((9, 8, 7)), lam=0.1, backend="dct")
    X = torch.randn(2, 504, 3, dtype=torch.float64)
    plain = proc.apply_phi(X, 0.4)
    traced = proc.apply_phi(X.clone().requires_grad_(True), 0.4)
    assert traced.requires_grad and rel(traced.detach(), plain) < 1e-12


def test_chebyshev_torch_sparse_path_matches_scipy_path():
    """The torch CSR product (the CUDA path) gives what scipy's does on the CPU."""
    from engine.process.backends import ChebyshevBackend

    L = _random_sparse_graph(200, 7)
    kw = dict(dtype=torch.float64, device="cpu", center=False)
    a = ChebyshevBackend(L, 1.0, 0.1, **kw)
    b = ChebyshevBackend(L, 1.0, 0.1, use_scipy=False, **kw)
    assert a.A is None and b.A is not None
    X = torch.randn(2, 200, 3, dtype=torch.float64)
    f = lambda lam: torch.exp(-0.7 * lam)  # noqa: E731
    assert rel(b.apply(X, f), a.apply(X, f)) < 1e-12


def test_harmonic_prior_sample_has_covariance_inverse_drift():
    rng = np.random.default_rng(3)
    Ls = [laplacian_from_edges(n, [(i, int(rng.integers(0, i))) for i in range(1, n)]) for n in (4, 6)]
    batch = GraphBatchDiffusion(Ls, gamma=2.0, lam=0.0, dtype=torch.float64, center=True)
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([batch.prior_sample(generator=g, start="stationary") for _ in range(6000)])
    X = draws[:, 4:10].permute(0, 2, 1).reshape(-1, 6).numpy()  # the 6-node graph, columns pooled
    emp = X.T @ X / X.shape[0]
    true = np.linalg.pinv(2.0 * Ls[1].toarray())  # A^+ on the mean-free subspace
    d = np.diag(true)
    se = np.sqrt((np.outer(d, d) + true**2) / X.shape[0])
    assert (np.abs(emp - true) / se).max() < 5.0
    with pytest.raises(InputError, match="start"):
        batch.prior_sample(start="somewhere")
