"""Heavy-atom symmetry-aware RMSD matrices and the GEOM coverage / matching metrics."""
import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import rdDistGeom, rdMolAlign
from scipy.spatial.transform import Rotation

from engine.errors import InputError
from engine.metrics.rmsd import aggregate_metrics, coverage_metrics, rmsd_matrix


def embedded(smiles, k, seed=7):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = rdDistGeom.ETKDGv3()
    params.randomSeed = seed
    assert len(rdDistGeom.EmbedMultipleConfs(mol, k, params)) == k
    return mol


def with_positions(mol, positions):
    """A one-conformer copy of ``mol`` with the given (N, 3) positions."""
    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    conf = Chem.Conformer(mol.GetNumAtoms())
    for i, p in enumerate(positions):
        conf.SetAtomPosition(i, p.tolist())
    out.AddConformer(conf, assignId=True)
    return out


# ----------------------------------------------------------------- coverage metrics
def test_coverage_metrics_match_hand_computation():
    rmsd = np.array([[0.20, 1.00, 0.90],
                     [0.80, 0.76, 2.00]])
    m = coverage_metrics(rmsd, threshold=0.75)
    # row minima 0.20, 0.76 -> one of two references covered
    assert m["cov_r"] == pytest.approx(0.5)
    assert m["amr_r"] == pytest.approx((0.20 + 0.76) / 2)
    # column minima 0.20, 0.76, 0.90 -> one of three generated conformers matched
    assert m["cov_p"] == pytest.approx(1 / 3)
    assert m["amr_p"] == pytest.approx((0.20 + 0.76 + 0.90) / 3)


def test_coverage_threshold_is_strict_and_changes_results():
    rmsd = np.array([[0.5, 0.9], [0.6, 0.4]])
    assert coverage_metrics(rmsd, 0.5)["cov_r"] == pytest.approx(0.5)   # 0.5 is not < 0.5
    assert coverage_metrics(rmsd, 0.75)["cov_r"] == pytest.approx(1.0)
    assert coverage_metrics(rmsd, 0.3)["cov_p"] == pytest.approx(0.0)


def test_coverage_rejects_bad_matrices():
    with pytest.raises(InputError, match="K_ref, K_gen"):
        coverage_metrics(np.zeros((0, 3)))
    with pytest.raises(InputError, match="NaN"):
        coverage_metrics(np.array([[np.nan, 1.0]]))


def test_aggregate_is_mean_and_median_over_molecules():
    per = [{"cov_r": 1.0, "amr_r": 0.1, "cov_p": 0.5, "amr_p": 0.3},
           {"cov_r": 0.0, "amr_r": 0.9, "cov_p": 0.5, "amr_p": 0.5},
           {"cov_r": 0.5, "amr_r": 0.2, "cov_p": 1.0, "amr_p": 1.0}]
    agg = aggregate_metrics(per)
    assert agg["num_molecules"] == 3
    assert agg["mean"]["cov_r"] == pytest.approx(0.5)
    assert agg["mean"]["amr_r"] == pytest.approx(0.4)
    assert agg["median"]["amr_r"] == pytest.approx(0.2)
    assert agg["median"]["amr_p"] == pytest.approx(0.5)


# ----------------------------------------------------------------- RMSD
def test_rmsd_of_identical_conformers_is_zero_and_matrix_shape():
    mol = embedded("CC(=O)Nc1ccc(O)cc1", 4)
    r = rmsd_matrix(mol, mol)
    assert r.shape == (4, 4)
    np.testing.assert_allclose(np.diag(r), 0.0, atol=1e-5)  # RDKit Kabsch noise ~1e-6
    off = r[~np.eye(4, dtype=bool)]
    assert (off > 0).all()
    np.testing.assert_allclose(r, r.T, atol=1e-5)


def test_rmsd_agrees_with_getbestrms_on_hydrogen_free_copies():
    ref = embedded("CC(C)(C)c1ccc(C(=O)O)cc1", 3, seed=1)
    gen = embedded("CC(C)(C)c1ccc(C(=O)O)cc1", 5, seed=2)
    r = rmsd_matrix(ref, gen)
    ref_h, gen_h = Chem.RemoveHs(ref), Chem.RemoveHs(gen)
    expected = np.array([[rdMolAlign.GetBestRMS(Chem.Mol(gen_h), ref_h, prbId=j, refId=i)
                          for j in range(5)] for i in range(3)])
    np.testing.assert_allclose(r, expected, atol=1e-4)


def test_rmsd_invariant_to_rotation_and_translation():
    mol = embedded("OC(=O)c1ccccc1CCN", 2)
    pos = mol.GetConformer(0).GetPositions()
    rot = Rotation.random(random_state=3).as_matrix()
    moved = with_positions(mol, pos @ rot.T + np.array([3.0, -7.0, 11.0]))
    first = with_positions(mol, pos)
    second = with_positions(mol, mol.GetConformer(1).GetPositions())
    assert rmsd_matrix(first, moved)[0, 0] == pytest.approx(0.0, abs=1e-5)
    assert rmsd_matrix(second, moved)[0, 0] == pytest.approx(rmsd_matrix(second, first)[0, 0], abs=1e-5)
    assert rmsd_matrix(second, first)[0, 0] > 0.05


@pytest.mark.parametrize("smiles, swaps", [
    # isobutane: heavy atoms 0 (CH3), 1 (CH), 2 (CH3), 3 (CH3); exchange two methyls
    ("CC(C)C", [(0, 2)]),
    # benzoic acid: O0 C1(=O2) c3 c4 c5 c6 c7 c8; mirror the ring (4<->8, 5<->7)
    ("OC(=O)c1ccccc1", [(4, 8), (5, 7)]),
    # ... or exchange the two oxygens (conjugated terminal group, symmetric without H)
    ("OC(=O)c1ccccc1", [(0, 2)]),
])
def test_rmsd_handles_symmetric_atom_permutations(smiles, swaps):
    mol = embedded(smiles, 1)
    heavy = Chem.RemoveHs(mol)
    pos = heavy.GetConformer().GetPositions()
    swapped = pos.copy()
    for a, b in swaps:
        swapped[[a, b]] = pos[[b, a]]
    rot = Rotation.random(random_state=5).as_matrix()
    ref = with_positions(heavy, pos)
    gen = with_positions(heavy, swapped @ rot.T + 2.0)
    naive = rdMolAlign.AlignMol(Chem.Mol(gen), ref)   # fixed atom order: no symmetry
    assert naive > 0.1
    assert rmsd_matrix(ref, gen)[0, 0] == pytest.approx(0.0, abs=1e-5)


def test_max_matches_cap_is_reported_and_gives_an_upper_bound():
    mol = embedded("OC(=O)c1ccccc1", 1)
    heavy = Chem.RemoveHs(mol)
    pos = heavy.GetConformer().GetPositions()
    swapped = pos.copy()
    swapped[[4, 8]] = pos[[8, 4]]
    swapped[[5, 7]] = pos[[7, 5]]
    ref, gen = with_positions(heavy, pos), with_positions(heavy, swapped)
    full, info_full = rmsd_matrix(ref, gen, return_info=True)
    capped, info_cap = rmsd_matrix(ref, gen, max_matches=1, return_info=True)
    assert info_full.num_matches == 4 and not info_full.truncated
    assert info_cap.num_matches == 1 and info_cap.truncated
    assert capped[0, 0] >= full[0, 0] - 1e-9
    assert capped[0, 0] > 0.1


def test_time_limit_falls_back_and_flags():
    mol = embedded("CC(C)(C)c1ccccc1", 3)
    full = rmsd_matrix(mol, mol)
    limited, info = rmsd_matrix(mol, mol, time_limit_s=0.0, fallback_matches=1, return_info=True)
    assert info.time_limited
    assert (limited >= full - 1e-9).all()


def test_lists_of_single_conformer_molecules_equal_multi_conformer_input():
    ref = embedded("CCOC(=O)c1ccncc1", 3, seed=1)
    gen = embedded("CCOC(=O)c1ccncc1", 4, seed=2)
    singles = [Chem.Mol(gen, confId=c.GetId()) for c in gen.GetConformers()]
    np.testing.assert_allclose(rmsd_matrix(ref, singles), rmsd_matrix(ref, gen), atol=1e-8)


def test_atom_order_of_generated_may_differ():
    ref = embedded("CCOC(=O)c1ccncc1", 2, seed=1)
    gen = embedded("CCOC(=O)c1ccncc1", 3, seed=2)
    order = list(range(gen.GetNumAtoms()))[::-1]
    np.testing.assert_allclose(rmsd_matrix(ref, Chem.RenumberAtoms(gen, order)),
                               rmsd_matrix(ref, gen), atol=1e-6)


def test_different_molecules_raise_input_error():
    with pytest.raises(InputError, match="differ"):
        rmsd_matrix(embedded("CCO", 1), embedded("CCCO", 1))
    with pytest.raises(InputError, match="bond graphs"):
        rmsd_matrix(embedded("CCCO", 1), embedded("CC(C)O", 1))
    with pytest.raises(InputError, match="no conformer"):
        rmsd_matrix(Chem.MolFromSmiles("CCO"), embedded("CCO", 1))
