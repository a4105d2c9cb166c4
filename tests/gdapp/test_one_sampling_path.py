"""One sampling path: the app's Denoise (api.reverse_trajectory with the app's default
parameters), the Python API (generate_conformers) and `python -m engine sample` (with the
flags the settings name) give the same conformer for the same molecule, seed and settings;
a molecule the chemical energy cannot be built for is reported with its index and reason
while the others go through."""
from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from engine import api
from engine.cli import main as cli_main
from engine.models.denoiser import load_denoiser
from engine.sampling.generate import GenerationReport, generate_conformers
from engine.sampling.settings import SamplingSettings
from gdapp.state import SamplingParams

STEPS = 6      # any setting works; few steps keep the test short


@pytest.fixture(scope="module")
def demo():
    return api.load_structures(api.demo_molecule_path())[0]


def test_app_cli_and_api_give_the_same_coordinates(demo, tmp_path):
    params = SamplingParams(steps=STEPS, seed=3)          # the app's defaults otherwise
    model = api.default_model("molecule")
    traj = api.reverse_trajectory(demo, model, steps=params.steps, sampler=params.sampler,
                                  seed=params.seed, guidance=params.guidance())
    app = traj.frames[-1] - demo.positions.mean(0)       # the app shows it where the input was
    settings = traj.meta["settings"]                      # the app's Denoise settings, 6 steps

    (mol,) = generate_conformers([demo.mol], 1, load_denoiser(), settings)
    from_api = mol.GetConformer().GetPositions()

    out = tmp_path / "out.sdf"
    assert cli_main(["sample", str(api.demo_molecule_path()), "--out", str(out), "--num-confs", "1",
                     "--quiet", *settings.flags()]) == 0
    from_cli = Chem.MolFromMolFile(str(out), removeHs=False).GetConformer().GetPositions()

    assert np.abs(app - from_api).max() < 1e-9
    assert np.abs(from_cli - from_api).max() < 1e-4            # the SDF keeps 4 decimals
    # and the settings matter: another seed gives another conformer
    (other,) = generate_conformers([demo.mol], 1, load_denoiser(), settings.replace(seed=4))
    assert np.abs(other.GetConformer().GetPositions() - from_api).max() > 0.1


def test_the_app_defaults_are_the_watched_run_and_sample_s_pipeline():
    """The app's Denoise is `sample`'s pipeline with the settings of a run to watch
    (WATCH_SETTINGS): the same chemistry (guidance, polish, MMFF94, stereo), 50 DDIM steps
    on the sigma grid and no expansion; its flags say exactly that."""
    app, cli = SamplingParams(), SamplingSettings()
    watched = api.run_settings(app.steps, app.sampler, app.seed, app.guidance())
    assert watched == api.WATCH_SETTINGS
    assert app.guidance().lambda_E * app.guidance().scale == cli.guidance == watched.guidance
    assert (watched.polish, watched.relax, watched.stereo) == (cli.polish, cli.relax, cli.stereo)
    assert watched.flags() == ["--sampler", "ddim", "--steps", "50", "--expansion", "1", "--time-grid", "sigma"]
    assert api.default_guidance("molecule").lambda_E == cli.guidance
    assert api.default_guidance("lattice").lambda_E == 0.0
    assert (api.default_steps("molecule"), api.default_sampler("molecule")) == (app.steps, app.sampler)


def test_the_app_steps_follow_the_structure_kind_but_keep_a_users_choice(demo):
    """The Denoise's 50 DDIM steps for molecules, the lattice model's 50 ancestral steps for
    lattices; a user's setting survives loading another molecule."""
    from gdapp.state import AppState

    state = AppState()
    state.set_structure(demo)
    assert (state.params.steps, state.params.sampler) == (api.default_steps("molecule"), "ddim")
    state.set_structure(api.build_lattice((6, 6), "spin", seed=0))
    assert (state.params.steps, state.params.sampler) == (api.default_steps("lattice"), "ancestral")
    assert api.default_steps("lattice") == 50
    state.set_structure(demo)
    assert (state.params.steps, state.params.sampler) == (api.default_steps("molecule"), "ddim")
    state.set_params(steps=12, sampler="heun")
    state.set_structure(api.structure_from_smiles("CCO"))
    assert (state.params.steps, state.params.sampler) == (12, "heun")
    # the API's own default follows the kind too
    lattice = api.build_lattice((4, 4), "spin", seed=0)
    traj = api.reverse_trajectory(lattice, api.default_model("lattice"), seed=0)
    assert len(traj.frames) == api.default_steps("lattice") + 1


ZINC_COMPLEX = "C1C[N+]2=CC3=CC=CC=C3O[Zn]24OC5=CC=CC=C5C=[N+]14"   # from the NCI set


def test_a_molecule_without_distance_bounds_is_reported_and_the_others_go_through(tmp_path, capsys):
    """RDKit's bounds builder fails on this zinc complex ("bad lower bound"): it is sampled
    without the chemical energy and reported with its index and the reason."""
    mols = [Chem.MolFromSmiles(s) for s in ("CCO", ZINC_COMPLEX, "c1ccccc1O")]
    report = GenerationReport()
    out = generate_conformers(mols, 2, load_denoiser(), steps=STEPS, report=report)
    assert set(report.warnings) == {1} and "bad lower bound" in report.warnings[1]
    assert not report.errors
    assert [m.GetNumConformers() for m in out] == [2, 2, 2]

    smi = tmp_path / "in.smi"
    smi.write_text(f"CCO ethanol\n{ZINC_COMPLEX} zinc\nc1ccccc1O phenol\n")
    sdf = tmp_path / "out.sdf"
    code = cli_main(["sample", str(smi), "--out", str(sdf), "--num-confs", "2", "--steps",
                     str(STEPS), "--quiet"])
    err = capsys.readouterr().err
    assert code == 3
    assert "molecule 1: no chemical energy (RDKit cannot build distance bounds" in err
    assert "Invariant Violation" not in err            # RDKit's stack trace is not shown
    written = [m for m in Chem.SDMolSupplier(str(sdf), removeHs=False)]
    assert [int(m.GetProp("input_index")) for m in written] == [0, 0, 1, 1, 2, 2]
