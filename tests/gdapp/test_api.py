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


def test_salts_and_solvates_keep_the_largest_fragment_and_say_so(tmp_path):
    salt = api.structure_from_smiles("O=C([O-])c1ccccc1.[Na+]")
    assert salt.n == 14 and 11 not in salt.atomic_numbers.tolist()       # benzoate with Hs, no Na
    assert "removed [Na+]" in salt.note
    path = tmp_path / "hydrate.sdf"
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles("CCO.O"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    Chem.MolToMolFile(mol, str(path))
    (hydrate,) = api.load_structures(path)
    assert hydrate.n == 9 and "removed O" in hydrate.note                 # 3D coordinates kept
    assert api.structure_from_smiles("CCO").note == ""


def test_bad_inputs_name_the_problem(tmp_path):
    with pytest.raises(InputError, match="cannot parse SMILES"):
        api.structure_from_smiles("C1CC(")
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


# ------------------------------------------------------------------ lattice systems and model
def test_lattice_systems_are_the_fields_of_engine_data_lattice():
    from engine.data import lattice as lat

    assert api.lattice_systems() == ["spin", "skyrmion", "elastic", "deformation", "random"]
    grid = lat.lattice_system((16, 12))
    for system in ("spin", "elastic"):
        s = api.build_lattice((16, 12), system, seed=3)
        assert np.array_equal(s.positions, lat.LatticeDataset(system, (16, 12), 1, seed=3).sample(0))
        assert np.array_equal(s.sites, grid.positions) and s.grid_shape == (16, 12)
        assert s.laplacian.shape == (192, 192) and len(s.edges) == len(grid.edges)
    assert np.allclose(np.linalg.norm(api.build_lattice((16, 12), "spin").positions, axis=1), 1.0)
    deformed = api.build_lattice((10, 6, 4), "deformation", seed=5)
    expected = lat.deformation_modes(lat.lattice_system((10, 6, 4)), np.random.default_rng(5), 0.3)
    assert np.array_equal(deformed.positions, expected)
    sky = api.build_lattice((30, 30), "skyrmion", seed=2)
    q = lat.topological_charge(sky.positions, (30, 30))
    assert q < -0.5 and abs(q - round(q)) < 0.1           # integer charge, -1 per skyrmion
    assert np.array_equal(api.build_lattice((8, 8), "elastic", seed=1).positions,
                          api.build_lattice((8, 8), "elastic", seed=1).positions)
    assert not np.allclose(api.build_lattice((8, 8), "elastic", seed=1).positions,
                           api.build_lattice((8, 8), "elastic", seed=2).positions)


def test_lattice_builder_names_what_is_wrong():
    with pytest.raises(InputError, match="unknown lattice system 'ice'"):
        api.build_lattice((8, 8), "ice")
    with pytest.raises(InputError, match="needs a 2D grid"):
        api.build_lattice((30,), "skyrmion")
    with pytest.raises(InputError, match="at least 20 sites"):
        api.build_lattice((16, 40), "skyrmion")
    with pytest.raises(InputError, match="too large"):
        api.build_lattice((100, 100, 30), "spin")


@pytest.fixture(scope="module")
def lattice_net():
    from engine.resources import resource_path

    path = resource_path("models", "lattice_spin.pt")
    return api.load_model(path, device="cpu")


def test_bundled_lattice_checkpoint_serves_its_system_and_dimension_only(lattice_net):
    assert lattice_net.kinds == ("lattice",) and lattice_net.params.lam > 0
    assert lattice_net.lattice == {"system": "spin", "shape": (16, 16)}
    models = api.default_models()
    assert models["lattice"].path == lattice_net.path and "molecule" in models
    assert api.default_model("lattice").path == lattice_net.path
    for shape in ((16, 16), (12, 30)):
        spin = api.build_lattice(shape, "spin", seed=1)
        assert api.model_for(spin, models) is models["lattice"]
    for other in (api.build_lattice((16, 16), "elastic"), api.build_lattice((6, 5, 4), "spin")):
        fallback = api.model_for(other, models)
        assert fallback.path is None
        assert fallback.name.startswith("harmonic prior (no network;")
        assert "trained on 2D spin lattices" in fallback.name
        with pytest.raises(InputError, match="trained on 2D spin lattices"):
            api.reverse_trajectory(other, lattice_net, steps=2)
    assert api.model_for(api.structure_from_smiles("CCO"), [lattice_net]).name == \
        "harmonic prior (no network)"


def _spin_stats(fields, edges):
    """(mean | |v| - 1 |, mean cosine between neighbouring vectors) over fields (M, N, 3)."""
    mags = np.linalg.norm(fields, axis=-1)
    u = fields / np.maximum(mags[..., None], 1e-12)
    return np.abs(mags - 1).mean(), (u[:, edges[:, 0]] * u[:, edges[:, 1]]).sum(-1).mean()


def test_lattice_model_draws_unit_spins_with_the_texture_of_the_data(lattice_net):
    """8 DDIM samples (50 steps) on 16x16: the network's spins are unit length within
    20 % on average and as aligned with their neighbours as the data (±0.08); the harmonic
    prior's are not (its |v| varies by ~35 %, neighbour cosine ~0.45)."""
    data = np.stack([api.build_lattice((16, 16), "spin", seed=100 + i).positions for i in range(8)])
    structure = api.build_lattice((16, 16), "spin", seed=0)
    edges = structure.edges
    _, data_cos = _spin_stats(data, edges)
    runs = {}
    for name, model in (("net", lattice_net), ("prior", api.harmonic_prior_model())):
        trajs = [api.reverse_trajectory(structure, model, steps=50, seed=s,
                                        params=lattice_net.params) for s in range(8)]
        assert all(np.all(np.isfinite(t.frames)) for t in trajs)
        runs[name] = _spin_stats(np.stack([t.final for t in trajs]), edges)
    assert runs["net"][0] < 0.2 and abs(runs["net"][1] - data_cos) < 0.08
    assert runs["prior"][0] > 0.25 and runs["prior"][1] < data_cos - 0.3
