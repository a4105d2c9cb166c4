"""Molecule generation with a (tiny, freshly trained) network and the ``sample`` command."""
from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from test_training_support import build_tiny_corpus, small_config

from engine.chem.stereo import stereo_ok
from engine.cli import main as cli_main
from engine.sampling.generate import GenerationReport, generate_conformers, load_generation_model
from engine.training.trainer import Trainer


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    corpus = build_tiny_corpus(tmp_path_factory.mktemp("corpus") / "tiny")
    out = tmp_path_factory.mktemp("run")
    Trainer(small_config(corpus, **{"optim.total_steps": 40}), out).run()
    return out / "checkpoint.pt"


def test_generate_conformers_for_several_molecules(checkpoint):
    model = load_generation_model(checkpoint, "cpu")
    mols = [Chem.MolFromSmiles(s) for s in ["CCO", "c1ccccc1C(=O)O", "C[C@H](N)C(=O)O"]]
    mols.insert(1, ValueError("bad SMILES on line 2"))
    report = GenerationReport()
    out = generate_conformers(mols, 4, model, steps=8, seed=3, report=report)
    assert isinstance(out[1], ValueError)
    for res, smi in zip([out[0], out[2], out[3]], ["CCO", "c1ccccc1C(=O)O", "C[C@H](N)C(=O)O"]):
        assert isinstance(res, Chem.Mol)
        assert res.GetNumConformers() == 4
        assert res.GetNumAtoms() == Chem.AddHs(Chem.MolFromSmiles(smi)).GetNumAtoms()  # Hs added
        for conf in res.GetConformers():
            xyz = conf.GetPositions()
            assert np.all(np.isfinite(xyz))
            assert np.abs(xyz.mean(0)).max() < 1e-4  # centred
    assert report.molecules == 3 and report.conformers == 12 and report.failed == 1
    # stereo: every kept conformer is right, or counted as kept-with-wrong-stereo
    alanine = out[3]
    wrong = sum(not stereo_ok(alanine, c.GetPositions()) for c in alanine.GetConformers())
    assert wrong <= report.stereo_unfixed


def test_generation_is_seeded(checkpoint):
    model = load_generation_model(checkpoint, "cpu")
    mol = Chem.MolFromSmiles("CC(C)CO")
    a = generate_conformers([mol], 2, model, steps=5, seed=7, stereo="ignore")[0]
    b = generate_conformers([mol], 2, model, steps=5, seed=7, stereo="ignore")[0]
    c = generate_conformers([mol], 2, model, steps=5, seed=8, stereo="ignore")[0]
    assert np.array_equal(a.GetConformer(0).GetPositions(), b.GetConformer(0).GetPositions())
    assert not np.array_equal(a.GetConformer(0).GetPositions(), c.GetConformer(0).GetPositions())


def test_sample_command_writes_the_output_contract(checkpoint, tmp_path, capsys):
    smi = tmp_path / "in.smi"
    smi.write_text("CCO ethanol\nC1CC1N(\nc1ccncc1 pyridine\nCC(=O)Nc1ccc(O)cc1 paracetamol\n")
    out = tmp_path / "out.sdf"
    code = cli_main(["sample", str(smi), "--out", str(out), "--num-confs", "3", "--steps", "6",
                     "--checkpoint", str(checkpoint), "--device", "cpu", "--sampler", "heun", "--chunk", "2"])
    err = capsys.readouterr().err
    assert code == 3  # some molecules failed, the others were written
    assert "molecule 1:" in err
    records = [m for m in Chem.SDMolSupplier(str(out), removeHs=False)]
    assert [r.GetIntProp("input_index") for r in records] == [0] * 3 + [2] * 3 + [3] * 3
    assert [r.GetProp("_Name") for r in records[::3]] == ["ethanol", "pyridine", "paracetamol"]
    assert records[0].GetNumAtoms() == 9 and records[-1].GetNumAtoms() == 20  # with hydrogens


def test_sample_command_refuses_bad_arguments(checkpoint, tmp_path, capsys):
    smi = tmp_path / "in.smi"
    smi.write_text("CCO\n")
    assert cli_main(["sample", str(smi), "--out", str(tmp_path / "o.sdf"), "--num-confs", "1",
                     "--checkpoint", str(tmp_path / "missing.pt")]) == 2
    assert "missing.pt" in capsys.readouterr().err
    assert cli_main(["sample", str(smi), "--out", str(tmp_path / "o.sdf"), "--num-confs", "1",
                     "--checkpoint", str(checkpoint), "--sampler", "nope"]) == 2
    assert "unknown sampler" in capsys.readouterr().err
    assert cli_main(["sample", str(smi), "--out", str(tmp_path / "o.sdf"), "--num-confs", "1",
                     "--checkpoint", str(checkpoint), "--threads", "-1"]) == 2
    assert "--threads must be >= 0" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(checkpoint.read_bytes()[:1000])
    assert cli_main(["sample", str(smi), "--out", str(tmp_path / "o.sdf"), "--num-confs", "1",
                     "--checkpoint", str(corrupt)]) == 2
    assert "corrupt.pt" in capsys.readouterr().err


def test_chunks_respect_structure_and_atom_budgets():
    from engine.sampling.generate import _chunks

    items = list(range(7))
    atoms = [10, 10, 10, 50, 10, 10, 200]
    assert list(_chunks(items, atoms, 3, None)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(_chunks(items, atoms, 10, 60)) == [[0, 1, 2], [3, 4], [5], [6]]
    assert [x for c in _chunks(items, atoms, 2, 25) for x in c] == items   # nothing lost


def test_cpu_batches_are_cut_by_atoms(checkpoint, monkeypatch):
    import engine.sampling.generate as G

    model = load_generation_model(checkpoint, "cpu")
    mols = [Chem.MolFromSmiles("CCCCO")] * 6                # 15 atoms with hydrogens
    report = GenerationReport()
    generate_conformers(mols, 2, model, steps=2, seed=0, stereo="ignore", report=report)
    assert report.batches == 1                              # 12 structures, 180 atoms
    monkeypatch.setattr(G, "CPU_CHUNK_ATOMS", 50)
    report = GenerationReport()
    out = generate_conformers(mols, 2, model, steps=2, seed=0, stereo="ignore", report=report)
    assert report.batches == 4 and all(m.GetNumConformers() == 2 for m in out)   # 3 structures each


def test_several_cpu_batches_are_polished_together_with_the_same_result(checkpoint, monkeypatch):
    """The network runs per CPU batch, the polish per group of batches; the polish is per
    molecule, so grouping changes the cost, not the conformers (float32 noise only)."""
    import engine.sampling.generate as G

    model = load_generation_model(checkpoint, "cpu")
    mols = [Chem.MolFromSmiles(s) for s in ("CCCCO", "c1ccccc1C(=O)O", "CC(=O)NC")]
    calls = []
    real = G._polish

    def counting(energy, coords, steps, fixed=None):
        calls.append(len(coords))
        return real(energy, coords, steps, fixed=fixed)

    monkeypatch.setattr(G, "_polish", counting)
    monkeypatch.setattr(G, "CPU_CHUNK_ATOMS", 40)
    report = GenerationReport()
    grouped = generate_conformers(mols, 2, model, steps=2, seed=1, stereo="ignore", polish=30, report=report)
    assert report.batches > 1 and len(calls) == 1                 # one polish for every batch
    monkeypatch.setattr(G, "POLISH_GROUP_ATOMS", 40)
    calls.clear()
    alone = generate_conformers(mols, 2, model, steps=2, seed=1, stereo="ignore", polish=30)
    assert len(calls) == report.batches                           # one polish per batch
    for a, b in zip(grouped, alone):
        for c in range(2):
            diff = np.abs(a.GetConformer(c).GetPositions() - b.GetConformer(c).GetPositions()).max()
            assert diff < 1e-3, diff
