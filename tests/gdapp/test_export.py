"""Exported files parse back (RDKit for structures, imageio for images and animations)."""
from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem


def _reverse(window, qtbot, steps=10):
    window.state.set_params(steps=steps)
    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=90000,
                          check_params_cb=lambda k: k == "reverse"):
        window.run_reverse()


@pytest.mark.parametrize("suffix", [".sdf", ".xyz", ".pdb"])
def test_current_conformer_round_trips(window, tmp_path, suffix):
    window.player.select("forward")
    window.player.seek(5)
    coords = window.viewer.coords
    path = window.export_current(str(tmp_path / f"current{suffix}"))
    assert path is not None and window.last_error is None
    if suffix == ".sdf":
        mol = next(iter(Chem.SDMolSupplier(str(path), removeHs=False)))
    elif suffix == ".xyz":
        mol = Chem.MolFromXYZFile(str(path))
    else:
        mol = Chem.MolFromPDBFile(str(path), removeHs=False, sanitize=False)
    assert mol is not None and mol.GetNumAtoms() == window.state.structure.n
    assert np.allclose(mol.GetConformer().GetPositions(), coords, atol=1e-3)


def test_all_generated_conformers_export_as_sdf(window, qtbot, tmp_path):
    _reverse(window, qtbot)
    window.state.set_params(seed=7)
    _reverse(window, qtbot)
    assert len(window.state.generated) == 2
    path = window.export_generated(str(tmp_path / "gen.sdf"))
    mols = list(Chem.SDMolSupplier(str(path), removeHs=False))
    assert len(mols) == 2 and all(m is not None for m in mols)
    for m, coords in zip(mols, window.state.generated):
        assert np.allclose(m.GetConformer().GetPositions(), coords, atol=1e-3)
        # same molecule (constitution): RDKit's reader perceives stereo from the 3D
        # coordinates, and on these harmonic-prior samples (GDAPP_MODELS=lattice) it can
        # read a distorted sulfonyl S as octahedral ([S@OH19]); stereo is not the point here
        assert (Chem.MolToSmiles(Chem.RemoveHs(m), isomericSmiles=False)
                == Chem.MolToSmiles(Chem.RemoveHs(window.state.structure.mol), isomericSmiles=False))


@pytest.mark.parametrize("suffix", [".xyz", ".pdb"])
def test_trajectory_exports_every_frame(window, tmp_path, suffix):
    window.player.select("forward")
    buf = window.state.trajectory("forward")
    path = window.export_trajectory(str(tmp_path / f"traj{suffix}"))
    text = path.read_text()
    n = window.state.structure.n
    if suffix == ".xyz":
        lines = text.splitlines()
        blocks = ["\n".join(lines[i:i + n + 2]) for i in range(0, len(lines), n + 2)]
        mols = [Chem.MolFromXYZBlock(b) for b in blocks]
    else:
        models = text.split("ENDMDL")[:-1]
        mols = [Chem.MolFromPDBBlock(m + "ENDMDL\n", removeHs=False, sanitize=False) for m in models]
    assert len(mols) == len(buf)
    assert all(m is not None and m.GetNumAtoms() == n for m in mols)
    assert np.allclose(mols[-1].GetConformer().GetPositions(), buf.frames[-1], atol=1e-3)


def test_animation_exports_gif_and_mp4(window, qtbot, tmp_path):
    import imageio.v2 as imageio

    _reverse(window, qtbot, steps=8)
    window.player.select("reverse")
    gif = window.export_animation(str(tmp_path / "rev.gif"))
    frames = imageio.mimread(str(gif))
    assert len(frames) == 9
    assert not np.array_equal(frames[0], frames[-1])          # the molecule moves
    mp4 = window.export_animation(str(tmp_path / "rev.mp4"))
    reader = imageio.get_reader(str(mp4))
    count = sum(1 for _ in reader)
    reader.close()
    assert count == 9


def test_export_to_an_unwritable_place_shows_an_error(window, tmp_path):
    out = window.export_current(str(tmp_path / "no" / "such" / "dir" / "x.sdf"))
    assert out is None and window.last_error
    out = window.export_current(str(tmp_path / "x.docx"))
    assert out is None and "docx" in window.last_error


def test_generated_conformers_export_without_a_window(tmp_path):
    from engine import api
    from gdapp import export

    structure = api.structure_from_smiles("CCO")
    generated = [structure.positions, structure.positions + 0.1]
    infos = [{"sampler": "ancestral", "steps": 20, "seed": 0, "lambda_E": 0.5, "model": "m"},
             {"sampler": "adaptive", "steps": 20, "steps_taken": 31, "seed": 7, "model": "m",
              "fixed_atoms": [0, 1]}]
    path = export.export_generated(tmp_path / "gen.sdf", structure, generated, infos)
    mols = list(Chem.SDMolSupplier(str(path), removeHs=False))
    assert len(mols) == 2
    assert mols[0].GetProp("_Name") == f"{structure.name} generated 1 (ancestral 20 steps, seed 0, lambda_E 0.5)"
    assert mols[1].GetProp("_Name") == f"{structure.name} generated 2 (adaptive 31 steps, seed 7, 2 fixed)"
    assert mols[1].GetProp("gdapp_generated_index") == "2"
    assert mols[1].GetProp("gdapp_steps_taken") == "31" and mols[1].GetProp("gdapp_fixed_atoms") == "0 1"
    for m, coords in zip(mols, generated):
        assert np.allclose(m.GetConformer().GetPositions(), coords, atol=1e-3)
