"""engine.api, the facade the app calls (no Qt here)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import api
from engine.errors import InputError


@pytest.fixture(scope="module")
def demo():
    return api.load_structures(api.demo_molecule_path())[0]


def test_demo_molecule_is_drug_like_with_hydrogens(demo):
    assert 25 <= demo.n <= 50 and (demo.atomic_numbers == 1).sum() > 5
    assert len(demo.edges) == demo.mol.GetNumBonds()


def test_forward_trajectory_starts_at_input_and_keeps_the_centroid(demo):
    frames = []
    traj = api.forward_trajectory(demo, num_frames=12, seed=3,
                                  callback=lambda k, t, S, _: frames.append((k, t)))
    assert traj.frames.shape == (12, demo.n, 3) and traj.mode_energies.shape == (12, demo.n)
    assert np.allclose(traj.frames[0], demo.positions)
    assert np.allclose(traj.frames[-1].mean(0), demo.positions.mean(0), atol=1e-9)
    assert [k for k, _ in frames] == list(range(12)) and frames[-1][1] == 1.0
    assert np.all(np.diff(traj.eigenvalues) >= 0)
    again = api.forward_trajectory(demo, num_frames=12, seed=3)
    assert np.array_equal(again.frames, traj.frames)


def test_forward_noise_statistics_match_the_closed_form(demo):
    """Mode energies at t=1 averaged over seeds ≈ ½ a (φ² z0² + 3σ²) per mode (3 columns)."""
    proc = api.make_process(demo)
    S0 = torch.as_tensor(demo.positions - demo.positions.mean(0))
    a = proc.eigenvalues.numpy()
    order = np.argsort(a)
    B = proc.schedule.integral(1.0)
    z0 = proc.to_modes(S0).numpy()
    phi2 = np.exp(-B * a)
    var = np.where(a > 0, (1 - np.exp(-B * a)) / np.where(a > 0, a, 1), B)
    expected = (0.5 * a * (phi2 * (z0 ** 2).sum(-1) + 3 * var))[order]
    runs = np.stack([api.forward_trajectory(demo, num_frames=3, seed=s).mode_energies[-1]
                     for s in range(300)])
    mean = runs.mean(0)
    keep = expected > 1e-9
    # 3 d.o.f. chi-square per mode over 300 runs: relative s.e. ≈ sqrt(2/900) ≈ 5 %
    assert np.all(np.abs(mean[keep] / expected[keep] - 1) < 0.25)
    assert np.abs(mean[keep] / expected[keep] - 1).mean() < 0.06


def test_reverse_with_fixed_atoms_holds_them_exactly(demo):
    fixed = [0, 1, 2, 3, 4]
    traj = api.reverse_trajectory(demo, steps=15, seed=1, fixed=fixed)
    assert np.allclose(traj.final[fixed], demo.positions[fixed], atol=1e-12)
    assert traj.frames.shape == (16, demo.n, 3) and traj.times[0] == 1.0 and traj.times[-1] == 0.0
    with pytest.raises(InputError, match="fixed atom indices"):
        api.reverse_trajectory(demo, steps=5, fixed=[demo.n + 3])


def test_harmonic_prior_samples_have_bond_lengths_near_one(demo):
    lengths = []
    for seed in range(20):
        f = api.reverse_trajectory(demo, steps=20, seed=seed).final
        e = demo.edges
        lengths.append(np.linalg.norm(f[e[:, 0]] - f[e[:, 1]], axis=1))
    # prior of A = L (γ=1): E|x_i - x_j|² over a bond = 3 × effective resistance ≤ 3 Å²
    mean_sq = np.mean(np.concatenate(lengths) ** 2)
    assert 0.5 < mean_sq < 3.0


def test_cancel_raises_cancelled(demo):
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(api.Cancelled):
        api.reverse_trajectory(demo, steps=50, should_stop=stop)


def test_bad_inputs_name_the_problem(tmp_path):
    with pytest.raises(InputError, match="cannot parse SMILES"):
        api.structure_from_smiles("C1CC(")
    with pytest.raises(InputError, match="disconnected"):
        api.structure_from_smiles("CCO.O")
    with pytest.raises(InputError, match="does not exist"):
        api.load_structures(tmp_path / "nope.sdf")
    with pytest.raises(InputError, match="lattice shape"):
        api.build_lattice((0, 3))
    with pytest.raises(InputError, match="unknown sampler"):
        api.reverse_trajectory(api.structure_from_smiles("CCO"), sampler="magic")


def test_dynamic_bonds_match_topology_on_the_input_and_break_when_stretched(demo):
    bonds = api.dynamic_bonds(demo.atomic_numbers, demo.positions)
    assert {tuple(sorted(b)) for b in bonds} == {tuple(sorted(b)) for b in demo.edges}
    far = demo.positions * 3.0
    assert len(api.dynamic_bonds(demo.atomic_numbers, far)) == 0


def test_select_smarts_and_etkdg_rmsd(demo):
    idx = api.select_smarts(demo, "C(F)(F)F")
    assert len(idx) == 4
    conf = api.etkdg_conformer(demo, seed=1, align_to=demo.positions)
    assert conf.shape == demo.positions.shape
    assert 0.0 < api.heavy_atom_rmsd(demo, conf, demo.positions) < 3.0
    assert api.heavy_atom_rmsd(demo, demo.positions, demo.positions) < 1e-6


def test_lattice_structure_and_its_trajectory():
    lat = api.build_lattice((6, 5, 4), "random", seed=2)
    assert lat.n == 120 and lat.sites.shape == (120, 3) and lat.kind == "lattice"
    traj = api.forward_trajectory(lat, num_frames=5)
    assert np.allclose(traj.frames[0], lat.positions)
    assert np.all(np.isfinite(traj.mode_energies))
