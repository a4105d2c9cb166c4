"""The pipeline as named stages that report their frames (issue 24): the app's Denoise
records the diffusion, the polish and MMFF94 as labelled frames; recording changes
nothing; the final frame is what `sample` writes with the equivalent flags; the sliders'
hooks act by their value (λ_A towards the input pose, λ_G by an exact proximal step,
λ_E graded over its range); the "sigma" time grid is even in the noise level."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from engine import api
from engine.cli import main as cli_main
from engine.errors import InputError
from engine.models.denoiser import load_denoiser
from engine.sampling.frames import frame_label
from engine.sampling.generate import generate_conformers
from engine.sampling.guidance import GraphSmoothing, PoseAlignment, hop_laplacians
from engine.sampling.samplers import time_grid
from engine.sampling.settings import WATCH_SETTINGS, SamplingSettings


@pytest.fixture(scope="module")
def model():
    return api.default_model("molecule")


@pytest.fixture(scope="module")
def ibuprofen():
    return api.load_structures(api.resource_path("molecules", "ibuprofen.sdf"))[0]


def test_the_sigma_grid_is_even_in_the_noise_level():
    from engine.process.schedules import CosineSchedule, LinearSchedule

    for schedule in (CosineSchedule(), LinearSchedule(0.1, 20.0)):
        grid = time_grid(40, "sigma", schedule=schedule)
        assert float(grid[0]) == 1.0 and float(grid[-1]) == 0.0
        assert bool((grid[1:] < grid[:-1]).all())
        levels = np.sqrt([float(schedule.integral(float(t))) for t in grid])
        np.testing.assert_allclose(np.diff(levels), np.diff(levels)[0], rtol=1e-9, atol=1e-9)
    with pytest.raises(InputError, match="schedule"):
        time_grid(10, "sigma")


def test_recording_mmff_changes_nothing_and_ends_on_the_result():
    """RDKit's MinimizeTrajectory takes the same iterations as MMFFOptimizeMoleculeConfs:
    the recorded minimisation writes the same conformers (with fixed atoms too, and for
    UFF), and its last snapshot is the result."""
    from engine.sampling.relax import relax_conformers

    mol = Chem.AddHs(Chem.MolFromSmiles("CC(=O)Nc1ccc(OCC)cc1"))
    AllChem.EmbedMultipleConfs(mol, 2, randomSeed=3)
    for fixed in (None, [0, 1]):
        plain, recorded, snaps = Chem.Mol(mol), Chem.Mol(mol), []
        used_a, energies_a = relax_conformers(plain, 300, fixed=fixed)
        used_b, energies_b = relax_conformers(recorded, 300, fixed=fixed, snapshots=snaps)
        assert used_a == used_b == "mmff" and energies_a == energies_b
        for cid, (points, energies, _converged) in enumerate(snaps):
            final = recorded.GetConformer(cid).GetPositions()
            assert np.array_equal(final, plain.GetConformer(cid).GetPositions())
            assert np.array_equal(points[-1], final)
            assert 2 <= len(points) <= 31 and energies[-1] <= energies[0]
    boronic = Chem.AddHs(Chem.MolFromSmiles("OB(O)c1ccccc1CC"))     # no MMFF94 parameters: UFF
    AllChem.EmbedMolecule(boronic, randomSeed=1)
    a, b, snaps = Chem.Mol(boronic), Chem.Mol(boronic), []
    assert relax_conformers(a, 200)[0] == relax_conformers(b, 200, snapshots=snaps)[0] == "uff"
    assert np.array_equal(a.GetConformer().GetPositions(), b.GetConformer().GetPositions())


def test_frames_change_nothing_in_what_generate_writes():
    """``on_frame`` only watches: the same molecules, settings and seed give the same
    conformers with and without it (every stage, a stereo repair included)."""
    gm = load_denoiser()
    mols = [Chem.MolFromSmiles(s) for s in ("C[C@H](O)[C@@H](N)CC", "CC(=O)NCCC(=O)NC", "c1ccccc1CCO")]
    frames = []
    watched = generate_conformers(mols, 2, gm, WATCH_SETTINGS.replace(steps=12), on_frame=frames.append)
    plain = generate_conformers(mols, 2, gm, WATCH_SETTINGS.replace(steps=12))
    for a, b in zip(watched, plain):
        for ca, cb in zip(a.GetConformers(), b.GetConformers()):
            assert np.array_equal(ca.GetPositions(), cb.GetPositions())
    stages = [f.stage for f in frames]
    assert {"diffusion", "polish", "MMFF94"} <= set(stages)
    rows = sum(mols[i].GetNumAtoms() for i in range(3))    # heavy atoms only: frames hold every atom
    assert all(f.coords.shape[1] == 3 and f.coords.shape[0] > rows for f in frames)


def test_a_denoise_is_labelled_stage_by_stage(model, ibuprofen):
    """The app's Denoise: ≥ 40 diffusion frames from the prior draw at t = 1 down to t = 0,
    then the polish and MMFF94 frames (at most 30 each) at t = 0; every label is distinct
    and says what the frame is; the stages come in order."""
    traj = api.reverse_trajectory(ibuprofen, model, seed=1)
    stages = [name for _, name in traj.stage_starts()]
    assert stages[:3] == ["diffusion", "polish", "MMFF94"]
    diffusion = [i for i, s in enumerate(traj.stages) if s == "diffusion"]
    assert len(diffusion) == WATCH_SETTINGS.steps + 1 >= 41
    times = np.asarray(traj.times)
    assert times[0] == 1.0 and times[diffusion[-1]] == 0.0 and np.all(np.diff(times[diffusion]) < 0)
    assert np.all(times[diffusion[-1]:] == 0.0)
    for stage in ("polish", "MMFF94"):
        assert 1 <= traj.stages.count(stage) <= api.STAGE_FRAMES
    assert len(set(traj.labels)) == len(traj.labels)
    assert traj.labels[0] == "prior draw, t=1.000"
    assert traj.labels[diffusion[-1]] == f"diffusion {WATCH_SETTINGS.steps}/{WATCH_SETTINGS.steps}, t=0.000"
    polish = [traj.labels[i] for i, s in enumerate(traj.stages) if s == "polish"]
    assert polish[-1] == f"polish {WATCH_SETTINGS.polish}/{WATCH_SETTINGS.polish}"
    mmff = [traj.labels[i] for i, s in enumerate(traj.stages) if s == "MMFF94"]
    assert all(label.startswith("MMFF94 ") and label.endswith("kcal/mol") for label in mmff)
    assert frame_label("MMFF94", 120, 500, 0.0, 63.55) == "MMFF94 120/500, 63.5 kcal/mol"


def test_the_denoise_grows_smoothly_with_no_frame_larger_than_a_molecule(model):
    """No frame's radius of gyration above 1.3x the final structure's; consecutive frames
    within 15 % of each other (the expansion made frames 3x a molecule before)."""
    def rg(x):
        x = x - x.mean(0)
        return float(np.sqrt((x ** 2).sum(1).mean()))

    for smiles in ("Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1", "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
                   "O=C(NCCc1ccccc1)c1ccc(OCC)cc1"):
        structure = api.structure_from_smiles(smiles, seed=0)
        for seed in (0, 1):
            r = np.array([rg(f) for f in api.reverse_trajectory(structure, model, seed=seed).frames])
            ratio = r[1:] / r[:-1]
            assert r.max() <= 1.3 * r[-1], (smiles, seed, r.max() / r[-1])
            assert np.all(np.maximum(ratio, 1 / ratio) <= 1.15), (smiles, seed)


def test_the_final_frame_is_what_sample_writes_with_the_equivalent_flags(model, ibuprofen, tmp_path):
    """The Denoise (λ_A on, to exercise a slider) and `sample` with ``settings.flags()``
    write the same conformer."""
    traj = api.reverse_trajectory(ibuprofen, model, seed=2, guidance=api.Guidance(lambda_E=0.5, lambda_A=2.0))
    settings = traj.meta["settings"]
    assert settings == api.run_settings(api.default_steps("molecule"), "ddim", 2,
                                        api.Guidance(lambda_E=0.5, lambda_A=2.0))
    flags = settings.flags()
    assert flags[flags.index("--alignment") + 1] == "2" and flags[flags.index("--guidance") + 1] == "0.5"
    assert "--time-grid" in flags and "--expansion" in flags
    assert traj.meta["command"].endswith(" ".join(flags))
    out = tmp_path / "out.sdf"
    source = api.resource_path("molecules", "ibuprofen.sdf")
    assert cli_main(["sample", str(source), "--out", str(out), "--num-confs", "1", "--quiet", *flags]) == 0
    (written,) = Chem.SDMolSupplier(str(out), removeHs=False)
    shown = traj.final - ibuprofen.positions.mean(0)
    assert np.abs(written.GetConformer().GetPositions() - shown).max() < 1e-4      # the SDF's 4 decimals
    assert written.GetProp("gdapp_alignment") == "2" and written.GetProp("gdapp_time_grid") == "sigma"


def test_alignment_without_a_3d_input_is_reported_and_the_molecule_still_sampled():
    from engine.sampling.report import GenerationReport

    report = GenerationReport()
    out = generate_conformers([Chem.MolFromSmiles("CCO"), Chem.MolFromSmiles("CCN")], 1, load_denoiser(),
                              steps=3, alignment=1.0, report=report)
    assert set(report.warnings) == {0, 1} and "no 3D input pose" in report.warnings[0]
    assert [m.GetNumConformers() for m in out] == [1, 1]


def kabsch_rmsd(a, b):
    a, b = a - a.mean(0), b - b.mean(0)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1, 1, d]) @ vt
    return float(np.sqrt(((a @ rot - b) ** 2).sum(1).mean()))


def _random_rotation(seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def _pose_hook(ref, bonds, weight):
    n = len(ref)
    return PoseAlignment(torch.as_tensor(ref), torch.as_tensor(bonds), torch.zeros(n, dtype=torch.long), 1, weight)


def test_pose_alignment_is_rotation_equivariant_monotone_and_reaches_the_input_pose():
    mol = Chem.AddHs(Chem.MolFromSmiles("CCCCOc1ccccc1C(=O)O"))
    AllChem.EmbedMolecule(mol, randomSeed=5)
    ref = mol.GetConformer().GetPositions()
    ref = (ref - ref.mean(0)) / 1.5
    AllChem.EmbedMolecule(mol, randomSeed=11)                     # another conformer as the estimate
    x0 = torch.as_tensor((mol.GetConformer().GetPositions() - ref.mean(0)) / 1.5)
    x0 = x0 - x0.mean(0)
    bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()])
    previous = None
    for w in (0.0, 0.1, 1.0, 10.0, 1000.0):
        hook = _pose_hook(ref, bonds, w)
        y = hook(x0, x0, 0.5)
        bad = float(hook.misalignment(y)[0])
        assert torch.allclose(y.mean(0), x0.mean(0), atol=1e-9)          # no drift of the centre
        if previous is not None:
            assert bad <= previous + 1e-12
        previous = bad
        R = torch.as_tensor(_random_rotation(int(w * 10) + 1))
        np.testing.assert_allclose((hook(x0 @ R.T, x0, 0.5)).numpy(), (y @ R.T).numpy(), atol=1e-8)
    assert previous < 0.01                                         # bonds along the input's
    # as the weight grows the shape becomes the input's (heavy-atom RMSD after alignment)
    y = _pose_hook(ref, bonds, 1e4)(x0, x0, 0.5).numpy()
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    assert kabsch_rmsd(y[heavy], ref[heavy]) < 0.15 * kabsch_rmsd(x0.numpy()[heavy], ref[heavy])


def test_graph_smoothing_is_the_exact_proximal_step():
    """``y = argmin ½‖y − x‖² + w‖L y‖²`` per Laplacian mode: ``1 / (1 + 2 w μ²)``."""
    bonds = torch.tensor([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]])
    batch = torch.zeros(6, dtype=torch.long)
    lap = hop_laplacians(bonds, batch, 1, hops=3)[0].numpy()
    adjacency = (np.abs(np.subtract.outer(np.arange(6), np.arange(6))) <= 3) & ~np.eye(6, dtype=bool)
    np.testing.assert_array_equal(lap, np.diag(adjacency.sum(1)) - adjacency)
    x = torch.as_tensor(np.random.default_rng(0).normal(size=(6, 3)))
    mu, U = np.linalg.eigh(lap)
    previous = math.inf
    for w in (0.0, 0.3, 3.0):
        y = GraphSmoothing(torch.as_tensor(lap)[None], batch, 1, w)(x, x, 0.1).numpy()
        expected = U @ np.diag(1.0 / (1.0 + 2 * w * mu ** 2)) @ U.T @ x.numpy()
        np.testing.assert_allclose(y, expected, atol=1e-10)
        smooth = float(np.sum((lap @ y) ** 2))
        assert smooth <= previous
        previous = smooth


def test_settings_name_the_flag_that_is_wrong():
    with pytest.raises(InputError, match="--alignment must be a finite number"):
        SamplingSettings(alignment=-1.0).check(as_flags=True)
    with pytest.raises(InputError, match="time grid must be one of"):
        SamplingSettings(time_grid="log").check()
    assert SamplingSettings().flags() == []
    assert WATCH_SETTINGS.flags() == ["--sampler", "ddim", "--steps", "50", "--expansion", "1",
                                      "--time-grid", "sigma"]
