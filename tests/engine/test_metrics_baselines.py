"""The RDKit ETKDGv3 (+ MMFF) baseline."""
import numpy as np
import pytest
from rdkit import Chem

from engine.errors import InputError
from engine.metrics.baselines import etkdg_conformers
from engine.metrics.validity import mmff_energy


def test_returns_k_conformers_with_hydrogens_and_timing():
    mol = Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1")
    out, timing = etkdg_conformers(mol, 5, seed=3, num_threads=1, return_timing=True)
    assert out.GetNumConformers() == 5
    assert [c.GetId() for c in out.GetConformers()] == [0, 1, 2, 3, 4]
    assert out.GetNumAtoms() == Chem.AddHs(mol).GetNumAtoms()
    assert timing.num_confs == 5 and timing.mmff_applied
    assert timing.embed_s > 0 and timing.mmff_s > 0
    assert timing.total_s == pytest.approx(timing.embed_s + timing.mmff_s)
    assert mol.GetNumConformers() == 0                      # input untouched


def test_seed_reproducible_and_different_seeds_differ():
    mol = Chem.MolFromSmiles("CCCCOc1ccccc1")
    a = etkdg_conformers(mol, 3, seed=1, num_threads=1).GetConformer(2).GetPositions()
    b = etkdg_conformers(mol, 3, seed=1, num_threads=1).GetConformer(2).GetPositions()
    c = etkdg_conformers(mol, 3, seed=2, num_threads=1).GetConformer(2).GetPositions()
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1


def test_mmff_lowers_the_energy():
    mol = Chem.MolFromSmiles("CC(C)Cc1ccc(cc1)C(C)C(=O)O")
    raw = etkdg_conformers(mol, 4, seed=5, mmff=False, num_threads=1)
    opt = etkdg_conformers(mol, 4, seed=5, mmff=True, num_threads=1)
    e_raw = [mmff_energy(raw, c) for c in range(4)]
    e_opt = [mmff_energy(opt, c) for c in range(4)]
    assert all(o < r for o, r in zip(e_opt, e_raw))


def test_keeps_existing_hydrogens():
    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    out = etkdg_conformers(mol, 2, num_threads=1)
    assert out.GetNumAtoms() == mol.GetNumAtoms()


def test_bad_input():
    with pytest.raises(InputError, match="num_confs"):
        etkdg_conformers(Chem.MolFromSmiles("CCO"), 0)
    with pytest.raises(InputError, match="None"):
        etkdg_conformers(None, 2)
