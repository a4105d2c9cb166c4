"""engine.chem.stereo: parity and E/Z checks, mirror-image repair."""
import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from engine.chem.stereo import fix_stereo, stereo_ok, stereo_report
from engine.errors import InputError

# two stereocentres and an E double bond
SMILES = "C[C@H](O)[C@@H](N)/C=C/C"


def _embedded(smiles, seed=7):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    assert AllChem.EmbedMolecule(mol, params) == 0
    return mol, mol.GetConformer().GetPositions()


def _swap_substituents(x, pair):
    """Swap the positions of two substituents of one centre: inverts that centre only."""
    y = x.copy()
    i, j = pair
    y[i], y[j] = x[j].copy(), x[i].copy()
    return y


def test_etkdg_conformer_passes():
    mol, x = _embedded(SMILES)
    r = stereo_report(mol, x)
    assert r["centres_checked"] == 2 and r["bonds_checked"] == 1
    assert r["centres_wrong"] == 0 and r["bonds_wrong"] == 0
    assert stereo_ok(mol, x)


def test_mirror_image_fails_and_is_fixed():
    mol, x = _embedded(SMILES)
    mirror = x * np.array([1.0, 1.0, -1.0])
    r = stereo_report(mol, mirror)
    assert r["centres_inverted"] == 2 and r["bonds_wrong"] == 0
    assert not stereo_ok(mol, mirror)
    fixed, ok = fix_stereo(mol, mirror)
    assert ok and stereo_ok(mol, fixed)
    np.testing.assert_allclose(fixed[:, 0], -mirror[:, 0])
    # a correct structure is returned as is
    same, ok = fix_stereo(mol, x)
    assert ok and same is x


def test_mirror_fix_works_on_torch_tensors():
    mol, x = _embedded(SMILES)
    mirror = torch.tensor(x * np.array([-1.0, 1.0, 1.0]), dtype=torch.float32)
    fixed, ok = fix_stereo(mol, mirror)
    assert ok and isinstance(fixed, torch.Tensor) and fixed.dtype == torch.float32
    assert stereo_ok(mol, fixed)


def test_one_centre_inverted_is_not_fixable():
    mol, x = _embedded(SMILES)
    centre = 1  # the [C@H]: swap its H and O substituents
    nbrs = [a.GetIdx() for a in mol.GetAtomWithIdx(centre).GetNeighbors()]
    h = next(i for i in nbrs if mol.GetAtomWithIdx(i).GetAtomicNum() == 1)
    o = next(i for i in nbrs if mol.GetAtomWithIdx(i).GetAtomicNum() == 8)
    bad = _swap_substituents(x, (h, o))
    r = stereo_report(mol, bad)
    assert r["wrong_centres"] == [centre] and r["bonds_wrong"] == 0
    out, ok = fix_stereo(mol, bad)
    assert not ok and out is bad


def test_wrong_double_bond_is_reported_and_not_fixable():
    mol, _ = _embedded(SMILES)
    z_mol, xz = _embedded("C[C@H](O)[C@@H](N)/C=C\\C")
    # same atom order (same SMILES skeleton), Z geometry against an E tag
    assert [a.GetAtomicNum() for a in z_mol.GetAtoms()] == \
        [a.GetAtomicNum() for a in mol.GetAtoms()]
    r = stereo_report(mol, xz)
    assert r["bonds_wrong"] == 1 and r["centres_wrong"] == 0
    assert fix_stereo(mol, xz * np.array([-1.0, 1, 1]))[1] is False


@pytest.mark.parametrize("smiles", [
    "F/C(Cl)=C/Br", "Cl/C(F)=C(/Br)I", "C[C@@]1(O)CC[C@H](N)CC1", "O=[S@](C)c1ccccc1",
    "C[C@H]1C[C@@H](C)C[C@H](C)C1", "N[C@@H](Cc1ccccc1)C(=O)O",
])
def test_various_stereo_molecules_pass_and_mirrors_fail(smiles):
    mol, x = _embedded(smiles, seed=3)
    assert stereo_ok(mol, x)
    r = stereo_report(mol, -x)
    assert r["bonds_wrong"] == 0
    assert r["centres_inverted"] == r["centres_checked"]
    assert stereo_ok(mol, -x) == (r["centres_checked"] == 0)


def test_bad_coordinates_raise():
    mol, x = _embedded(SMILES)
    with pytest.raises(InputError, match="shape"):
        stereo_report(mol, x[:-1])
    y = x.copy()
    y[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        stereo_ok(mol, y)


def test_flip_centres_inverts_one_centre_and_keeps_its_bonds_and_angles():
    from engine.chem.stereo import flip_centres
    from engine.metrics.baselines import etkdg_conformers

    mol = etkdg_conformers(Chem.MolFromSmiles("C[C@H](O)[C@@H](N)CC"), 1, seed=3)
    x = mol.GetConformer().GetPositions()
    assert stereo_ok(mol, x)
    y = flip_centres(mol, x, [1])
    report = stereo_report(mol, y)
    assert report["wrong_centres"] == [1]                      # that centre, and only it
    nbrs = [n.GetIdx() for n in mol.GetAtomWithIdx(1).GetNeighbors()]
    for k in nbrs:                                             # bond lengths at the centre
        assert np.linalg.norm(y[k] - y[1]) == pytest.approx(np.linalg.norm(x[k] - x[1]), abs=1e-9)
    for a in nbrs:                                             # and its angles
        for b in nbrs:
            if a < b:
                u, v = x[a] - x[1], x[b] - x[1]
                p, q = y[a] - y[1], y[b] - y[1]
                assert np.dot(p, q) / np.linalg.norm(p) / np.linalg.norm(q) == pytest.approx(
                    np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v), abs=1e-9)
    assert stereo_ok(mol, flip_centres(mol, y, [1]))          # flipping twice restores it
    quaternary = etkdg_conformers(Chem.MolFromSmiles("C[C@](O)(F)CC"), 1, seed=3)
    assert flip_centres(quaternary, quaternary.GetConformer().GetPositions(), [1]) is None


def _dihedral(x, a, b, c, d):
    b0, b1, b2 = x[b] - x[a], x[c] - x[b], x[d] - x[c]
    n1, n2 = np.cross(b0, b1), np.cross(b1, b2)
    return np.degrees(np.arctan2(np.dot(np.cross(n1, n2), b1 / np.linalg.norm(b1)), np.dot(n1, n2)))


def test_secondary_amides_are_found_and_turned_between_cis_and_trans():
    """engine.chem.conformers: an acyclic secondary amide's O=C-N-H dihedral tells cis
    from trans; turning one side of the C-N bond by 180 deg swaps them and keeps every
    bond length; a lactam and a tertiary amide are not offered."""
    from scipy.spatial.distance import pdist

    from engine.chem.conformers import cis_amides, secondary_amides, turn_amide

    mol, x = _embedded("CC(=O)NCc1ccccc1")
    (amide,) = secondary_amides(mol)
    o, c, n, h = amide[0]
    assert [mol.GetAtomWithIdx(i).GetSymbol() for i in (o, c, n, h)] == ["O", "C", "N", "H"]
    assert abs(_dihedral(x, o, c, n, h)) > 150 and cis_amides([amide], x) == []     # ETKDG: trans
    assert len(amide[1]) <= mol.GetNumAtoms() / 2                                     # the smaller side turns
    cis = turn_amide(amide, x)
    assert abs(_dihedral(cis, o, c, n, h)) < 30 and cis_amides([amide], cis) == [0]
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        assert np.isclose(np.linalg.norm(cis[i] - cis[j]), np.linalg.norm(x[i] - x[j]))
    np.testing.assert_allclose(turn_amide(amide, cis), x, atol=1e-9)                  # and back
    assert not np.allclose(pdist(cis), pdist(x))                                        # a new shape
    lactam, _ = _embedded("O=C1CCCCN1")
    tertiary, _ = _embedded("CC(=O)N(C)C")
    assert secondary_amides(lactam) == [] and secondary_amides(tertiary) == []
