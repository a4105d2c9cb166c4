"""Denoise you can watch and steer (issue 24), in the real window with the bundled
molecule network: Denoise ▶ plays the run from t = 1 frame by frame, the diffusion grows
smoothly and the chemistry stages settle in view, every frame labelled in the player, the
status bar and the exports; the status bar names the `sample` command that writes the
final frame; λ_A brings the result towards the input pose by its value."""
from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from engine import api


@pytest.fixture
def net_window(qtbot, monkeypatch):
    """The main window with the bundled molecule network active (the other GUI tests use
    the harmonic prior), the demo loaded; re-sampling on slider changes off."""
    monkeypatch.setenv("GDAPP_MODELS", "molecule,lattice")
    from gui_helpers import open_main_window

    for win in open_main_window(qtbot, (1200, 800)):
        assert win.state.model.is_network
        win.steering.auto.setChecked(False)
        yield win


def _denoise(win, qtbot, play=True):
    with qtbot.waitSignal(win.state.trajectoryFinished, timeout=120000,
                          check_params_cb=lambda kind: kind == "reverse"):
        win.run_reverse(play=play)
    if play:
        qtbot.waitUntil(lambda: not win.player.is_playing(), timeout=120000)
    return win.state.trajectory("reverse")


def _rg(x):
    x = x - x.mean(0)
    return float(np.sqrt((x ** 2).sum(1).mean()))


def test_denoise_plays_the_run_from_t1_frame_by_frame_with_its_stages_labelled(net_window, qtbot):
    win = net_window
    win.player.set_fps(60)
    shown = []
    win.state.frameShown.connect(lambda kind, i: shown.append(i) if kind == "reverse" else None)
    buf = _denoise(win, qtbot)
    # played from the prior draw at t = 1, every frame in order, ending on the result
    assert shown[0] == 0 and shown == sorted(shown) and shown[-1] == len(buf) - 1
    assert set(shown) == set(range(len(buf)))
    assert np.allclose(win.viewer.coords, buf.frames[-1])
    # ≥ 40 frames of the diffusion itself, then the polish and MMFF94 settling
    stages = list(buf.stages)
    assert stages.count("diffusion") >= 41 and stages[0] == "diffusion"
    assert [name for _, name in buf.trajectory.stage_starts()][:3] == ["diffusion", "polish", "MMFF94"]
    assert buf.times[0] == 1.0 and len(set(buf.labels)) == len(buf)
    # the size grows smoothly: no frame above 1.3x the final structure, no jump over 15 %
    r = np.array([_rg(f) for f in buf.frames])
    assert r.max() <= 1.3 * r[-1]
    assert np.all(np.maximum(r[1:] / r[:-1], r[:-1] / r[1:]) <= 1.15)
    # the player, the status bar and the heat map say where the run is
    qtbot.waitUntil(lambda: buf.labels[-1] in win.player.label.text(), timeout=5000)
    assert win.frame_status.text() == buf.labels[-1] and "MMFF94" in buf.labels[-1]
    win.player.seek(stages.index("polish") + 2)
    qtbot.waitUntil(lambda: win.frame_status.text().startswith("polish "), timeout=5000)
    assert [name for _, name, _ in win.spectrum.stage_marks][:2] == ["polish", "MMFF94"]
    assert win.spectrum.x_of(len(buf) - 1) == len(buf) - 1        # frames in the order made


def test_the_status_bar_names_the_sample_command_that_writes_the_final_frame(net_window, qtbot, tmp_path):
    from engine.cli import main as cli_main

    win = net_window
    win.state.set_params(seed=4, lambda_A=0.5)
    buf = _denoise(win, qtbot, play=False)
    text = win.run_status.toolTip() or win.run_status.text()      # the whole text (elided when long)
    assert "= python -m engine sample " in text
    flags = text.split("= python -m engine sample ", 1)[1].split()
    assert win.about_text().endswith(" ".join(flags))               # Help ▸ About names it too
    out = tmp_path / "out.sdf"
    assert cli_main(["sample", str(api.demo_molecule_path()), "--out", str(out), "--num-confs", "1",
                     "--quiet", *flags]) == 0
    written = Chem.MolFromMolFile(str(out), removeHs=False).GetConformer().GetPositions()
    shown = buf.frames[-1] - win.state.structure.positions.mean(0)
    assert np.abs(written - shown).max() < 1e-4


SMALL = ("CCCCOc1ccccc1C(=O)O", "O=C(NCCc1ccccc1)c1ccccc1", "CC(C)Cc1ccc(cc1)C(C)C(=O)O")


def _mmff_pose(smiles):
    """An input pose at an MMFF94 minimum (as `sample` writes them): λ_A can bring the
    result back to it; from any other pose the floor is how far MMFF94 moves the pose itself."""
    from rdkit.Chem import AllChem

    mol = Chem.Mol(api.structure_from_smiles(smiles, seed=0).mol)
    AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    return api.structure_from_mol(mol, name=smiles)


def test_lambda_A_brings_the_result_towards_the_input_pose(net_window, qtbot):
    """Mean heavy-atom RMSD to the input pose over 3 small flexible molecules x 2 seeds:
    falls as λ_A goes 0 → 1 → 10, and at 10 is at most 0.6x that at 0."""
    win = net_window
    mean = {}
    structures = [_mmff_pose(smiles) for smiles in SMALL]
    for lam in (0.0, 1.0, 10.0):
        rmsd = []
        for structure in structures:
            win.set_structure(structure)
            for seed in (0, 1):
                win.state.set_params(lambda_A=lam, seed=seed)
                buf = _denoise(win, qtbot, play=False)
                assert buf.info["lambda_A"] == lam
                rmsd.append(api.heavy_atom_rmsd(structure, buf.frames[-1], structure.positions))
        mean[lam] = float(np.mean(rmsd))
    assert mean[10.0] <= mean[1.0] <= mean[0.0]
    assert mean[10.0] <= 0.6 * mean[0.0], mean


def test_a_new_structure_starts_with_the_default_guidance(net_window):
    """λ values tuned to one input do not carry over to the next molecule or to a lattice."""
    win = net_window
    win.state.set_params(lambda_A=3.0, lambda_G=2.0, lambda_E=0.2, scale=2.0)
    win.set_structure(api.structure_from_smiles("CCO", seed=0))
    p = win.state.params
    assert (p.lambda_E, p.lambda_G, p.lambda_A, p.scale) == (api.DEFAULT_ENERGY_GUIDANCE, 0.0, 0.0, 1.0)
    win.state.set_params(lambda_A=3.0)
    win.set_structure(api.build_lattice((6, 6), "spin", seed=0))
    p = win.state.params
    assert (p.lambda_E, p.lambda_A, p.steps, p.sampler) == (0.0, 0.0, 50, "ancestral")
    assert "pull" in win.steering.lambda_E.toolTip()                # the lattice meaning
    win.set_structure(api.structure_from_smiles("CCO", seed=0))
    assert "chemical energy" in win.steering.lambda_E.toolTip() and win.state.params.sampler == "ddim"


def test_exports_carry_every_frame_with_its_stage_and_t(net_window, qtbot, tmp_path):
    import imageio.v2 as imageio

    win = net_window
    buf = _denoise(win, qtbot, play=False)
    win.player.select("reverse")
    gif = win.export_animation(str(tmp_path / "denoise.gif"))
    frames = imageio.mimread(str(gif), memtest=False)
    assert len(frames) == len(buf) >= 40
    h = np.asarray(frames[0]).shape[0]
    band = [np.asarray(f)[-(h // 12):, :150, :3].astype(int) for f in (frames[0], frames[-1])]
    assert all((b < 30).mean() > 0.3 and (b > 200).any() for b in band)  # a dark caption band with text
    assert not np.array_equal(band[0], band[1])                         # saying different things
    xyz = win.export_trajectory(str(tmp_path / "denoise.xyz"))
    comments = [line for line in xyz.read_text().splitlines() if "frame" in line]
    assert len(comments) == len(buf)
    assert "prior draw, t=1.000" in comments[0] and "MMFF94" in comments[-1]
    assert any("polish 70/70" in c for c in comments)
