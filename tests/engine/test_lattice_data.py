"""engine.data.lattice: exact elastic thermal statistics, unit spin fields, skyrmions,
determinism."""
import numpy as np
import pytest
import torch
from scipy.fft import idctn

from engine.data.lattice import (
    LatticeDataset,
    deformation_modes,
    elastic_covariance,
    elastic_thermal,
    grid_eigenvalues,
    lattice_system,
    skyrmion_field,
    smooth_spin_field,
    topological_charge,
)
from engine.errors import InputError
from engine.graphs import grid_laplacian


@pytest.mark.parametrize("shape", [(6,), (3, 4), (2, 3, 2)])
def test_dct_basis_diagonalises_grid_laplacian(shape):
    L = grid_laplacian(shape).toarray()
    lam = grid_eigenvalues(shape)
    for k in np.ndindex(*shape):
        e = np.zeros(shape)
        e[k] = 1
        v = idctn(e, type=2, norm="ortho").ravel()
        np.testing.assert_allclose(L @ v, lam[k] * v, atol=1e-12)
        assert np.linalg.norm(v) == pytest.approx(1.0)
    np.testing.assert_allclose(np.sort(lam.ravel()), np.linalg.eigvalsh(L), atol=1e-12)


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 2)])
def test_elastic_thermal_samples_have_the_stated_covariance(shape):
    """Monte-Carlo: M = 3 * 6000 independent component draws; every entry of the sample
    covariance must lie within 5 standard errors sqrt((C_ii C_jj + C_ij^2) / M) of
    T (k L + m I)^{-1}; cross-component covariances within 5 sqrt(C_ii C_jj / M) of 0."""
    params = dict(stiffness=1.5, mass=0.3, temperature=2.0)
    C = elastic_covariance(shape, **params)
    np.testing.assert_allclose(
        C, params["temperature"] * np.linalg.inv(
            params["stiffness"] * grid_laplacian(shape).toarray()
            + params["mass"] * np.eye(len(C))))
    u = elastic_thermal(shape, 6000, np.random.default_rng(0), **params)  # (S, N, 3)
    assert u.shape == (6000, int(np.prod(shape)), 3)
    comps = np.concatenate([u[:, :, c] for c in range(3)])  # (3S, N)
    M = comps.shape[0]
    C_hat = comps.T @ comps / M
    d = np.diag(C)
    se = np.sqrt((np.outer(d, d) + C ** 2) / M)
    assert np.all(np.abs(C_hat - C) < 5 * se), np.max(np.abs(C_hat - C) / se)
    cross = u[:, :, 0].T @ u[:, :, 1] / u.shape[0]
    assert np.all(np.abs(cross) < 5 * np.sqrt(np.outer(d, d) / u.shape[0]))
    # the test can fail: a wrong temperature is far outside the band
    assert not np.all(np.abs(C_hat - C / 2) < 5 * se)


def _low_mode_fraction(field, shape, kmax=2):
    """Share of the energy of an (N, 3) field in DCT modes with every k_d <= kmax."""
    from scipy.fft import dctn
    coef = dctn(field.T.reshape((3,) + shape), type=2, norm="ortho", axes=(1, 2))
    return float((coef[:, :kmax + 1, :kmax + 1] ** 2).sum() / (coef ** 2).sum())


def test_deformation_modes_are_smooth():
    """Bending, twist and shear are smooth functions of the coordinates: >= 90 % of their
    energy sits in the DCT modes with k <= 2 on each axis (the twist angle adds some
    higher harmonics); a thermal sample's does not (< 70 %)."""
    shape = (10, 6)
    system = lattice_system(shape)
    rng = np.random.default_rng(1)
    for _ in range(5):
        d = deformation_modes(system, rng, scale=0.3)
        assert np.linalg.norm(d) > 0
        assert _low_mode_fraction(d, shape) > 0.9
    thermal = elastic_thermal(shape, 1, rng, mass=1.0)[0]
    assert _low_mode_fraction(thermal, shape) < 0.7


@pytest.mark.parametrize("shape", [(40,), (12, 10), (6, 5, 4)])
def test_spin_field_has_unit_norm_and_is_smooth(shape):
    f = smooth_spin_field(shape, np.random.default_rng(2), correlation_length=3.0)
    assert f.shape == (int(np.prod(shape)), 3)
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-12)
    edges = lattice_system(shape).edges
    cos_smooth = np.mean(np.sum(f[edges[:, 0]] * f[edges[:, 1]], axis=1))
    rough = smooth_spin_field(shape, np.random.default_rng(2), correlation_length=0.01)
    cos_rough = np.mean(np.sum(rough[edges[:, 0]] * rough[edges[:, 1]], axis=1))
    assert cos_smooth > 0.8 and abs(cos_rough) < 0.2


def test_skyrmion_fields_unit_norm_and_topological_charge():
    counts = set()
    for i in range(8):
        f, k = skyrmion_field((48, 40), np.random.default_rng([5, i]))
        np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-12)
        q = topological_charge(f, (48, 40))
        assert abs(q + k) < 0.05, (q, k)  # each skyrmion carries charge -1
        counts.add(k)
    assert len(counts) > 1
    uniform = np.tile([0.0, 0.0, 1.0], (48 * 40, 1))
    assert topological_charge(uniform, (48, 40)) == pytest.approx(0.0)


@pytest.mark.parametrize("kind, shape", [("elastic", (5, 4, 3)), ("spin", (16, 16)),
                                         ("skyrmion", (32, 32)), ("elastic", (30,))])
def test_dataset_is_deterministic_per_seed(kind, shape):
    a = LatticeDataset(kind, shape, n_samples=4, seed=7)
    b = LatticeDataset(kind, shape, n_samples=4, seed=7)
    c = LatticeDataset(kind, shape, n_samples=4, seed=8)
    n = int(np.prod(shape))
    items = [a[i] for i in range(4)]
    for i, x in enumerate(items):
        assert x.shape == (n, 3) and x.dtype == torch.float32
        assert torch.equal(x, b[i])
        assert not torch.equal(x, c[i])
    assert torch.equal(b[2], items[2]) and torch.equal(b[0], items[0])  # order-independent
    assert not torch.equal(items[0], items[1])
    if kind != "elastic":
        np.testing.assert_allclose(items[0].norm(dim=1).numpy(), 1.0, atol=1e-6)
    assert a.system.positions.shape == (n, 3)
    assert a.system.laplacian.shape == (n, n)


def test_lattice_system_geometry():
    s = lattice_system((3, 2), spacing=2.0)
    assert s.n == 6 and s.shape == (3, 2)
    np.testing.assert_allclose(s.positions.mean(0), 0.0)
    d = np.linalg.norm(s.positions[s.edges[:, 0]] - s.positions[s.edges[:, 1]], axis=1)
    np.testing.assert_allclose(d, 2.0)
    assert len(s.edges) == 3 * 1 + 2 * 2


def test_dataset_errors():
    with pytest.raises(InputError, match="unknown lattice kind 'ising'"):
        LatticeDataset("ising", (4, 4), 2)
    with pytest.raises(InputError, match="2D grid"):
        LatticeDataset("skyrmion", (4, 4, 4), 2)
    with pytest.raises(InputError, match="unknown parameter"):
        LatticeDataset("spin", (4, 4), 2, stiffness=1.0)
    with pytest.raises(InputError, match="mass must be > 0"):
        LatticeDataset("elastic", (4,), 2, mass=0.0)
    with pytest.raises(InputError, match="n_samples"):
        LatticeDataset("spin", (4,), 0)
    with pytest.raises(InputError, match="positive"):
        LatticeDataset("spin", (4, 0), 3)
    with pytest.raises(IndexError):
        LatticeDataset("spin", (4,), 2)[5]
