"""engine.chem.graph / engine.chem.features: Laplacians, edge counts, features, errors."""
import numpy as np
import pytest
from rdkit import Chem

from engine.chem.features import ATOM_FEATURE_DIM, ELEMENTS, FEATURE_SLICES, atom_features
from engine.chem.graph import molecule_graph
from engine.errors import GraphError


def _mol(smiles, hs=True):
    m = Chem.MolFromSmiles(smiles)
    return Chem.AddHs(m) if hs else m


def _distances(n, bonds):
    """All-pairs graph distances by Floyd-Warshall on a dense matrix (independent oracle)."""
    d = np.full((n, n), np.inf)
    np.fill_diagonal(d, 0)
    for i, j in bonds:
        d[i, j] = d[j, i] = 1
    for k in range(n):
        d = np.minimum(d, d[:, [k]] + d[[k], :])
    return d


@pytest.mark.parametrize("smiles", ["CCO", "c1ccccc1", "C1CC1C#N", "CC(=O)Nc1ccc(O)cc1"])
@pytest.mark.parametrize("orders", [False, True])
@pytest.mark.parametrize("angles", [False, True])
def test_laplacian_symmetric_rows_sum_to_zero(smiles, orders, angles):
    g = molecule_graph(_mol(smiles), bond_order_weights=orders, angle_edges=angles)
    L = g.laplacian.toarray()
    assert L.shape == (g.n, g.n)
    np.testing.assert_allclose(L, L.T, atol=0)
    np.testing.assert_allclose(L.sum(axis=1), 0, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(L) > -1e-9)
    # off-diagonal entries are minus the edge weights
    for (i, j), w in zip(g.edges, g.weights):
        assert L[i, j] == pytest.approx(-w)


def test_ethanol_bond_and_angle_edge_counts():
    mol = _mol("CCO")
    g = molecule_graph(mol)
    assert g.n == 9
    assert len(g.bond_edges) == 8 and len(g.edges) == 8
    assert np.all(g.weights == 1.0)
    ga = molecule_graph(mol, angle_edges=True, angle_weight=0.25)
    # ethanol is a tree: every 2-hop pair has exactly one middle atom, so the count is
    # sum over atoms of C(degree, 2)
    degrees = np.array([a.GetDegree() for a in mol.GetAtoms()])
    expected = int(np.sum(degrees * (degrees - 1) // 2))
    assert len(ga.edges) - len(ga.bond_edges) == expected
    assert np.all(ga.weights[8:] == 0.25)


@pytest.mark.parametrize("smiles", ["c1ccccc1", "C1CCC1", "C1CC1", "CC12CC(C1)C2"])
def test_angle_edges_are_exactly_the_distance_two_pairs(smiles):
    mol = _mol(smiles)
    g = molecule_graph(mol, angle_edges=True)
    d = _distances(g.n, g.bond_edges)
    expected = {(i, j) for i in range(g.n) for j in range(i + 1, g.n) if d[i, j] == 2}
    got = {tuple(e) for e in g.edges[len(g.bond_edges):]}
    assert got == expected
    assert len(g.edges[len(g.bond_edges):]) == len(expected)  # each pair once


def test_bond_order_weights():
    g = molecule_graph(_mol("C=CC#N", hs=False), bond_order_weights=True)
    assert sorted(g.weights.tolist()) == [1.0, 2.0, 3.0]
    gb = molecule_graph(_mol("c1ccccc1", hs=False), bond_order_weights=True)
    assert np.all(gb.weights == 1.5)
    np.testing.assert_allclose(gb.laplacian.diagonal(), 3.0)


def test_masses_and_atomic_numbers():
    g = molecule_graph(_mol("CCO"))
    z = g.atomic_numbers
    assert sorted(z.tolist()) == sorted([6, 6, 8] + [1] * 6)
    expected = {1: 1.008, 6: 12.011, 8: 15.999}
    for zi, m in zip(z, g.masses):
        assert m == pytest.approx(expected[zi], abs=2e-3)


def test_features_shape_and_one_hots():
    mol = _mol("C[C@H](Cl)c1ccccc1[N+](=O)[O-]")
    f = atom_features(mol)
    assert f.shape == (mol.GetNumAtoms(), ATOM_FEATURE_DIM) and f.dtype == np.float32
    for name in ("element", "hybridisation", "chirality", "degree"):
        block = f[:, FEATURE_SLICES[name]]
        np.testing.assert_array_equal(block.sum(axis=1), 1.0)
    el = f[:, FEATURE_SLICES["element"]].argmax(1)
    for atom in mol.GetAtoms():
        assert ELEMENTS[el[atom.GetIdx()]] == atom.GetAtomicNum()
    charge = f[:, FEATURE_SLICES["formal_charge"]].ravel()
    assert sorted(charge[charge != 0].tolist()) == [-1.0, 1.0]
    arom = f[:, FEATURE_SLICES["aromatic"]].ravel()
    assert arom.sum() == 6
    chiral = f[:, FEATURE_SLICES["chirality"]]
    assert chiral[:, 1:3].sum() == 1  # one tetrahedral centre
    deg = f[:, FEATURE_SLICES["degree"]].argmax(1)
    assert deg.tolist() == [a.GetDegree() for a in mol.GetAtoms()]
    # an element outside the list lands in "other"
    fs = atom_features(Chem.MolFromSmiles("[Si](C)(C)(C)C"))
    assert fs[0, FEATURE_SLICES["element"]].argmax() == len(ELEMENTS)


def test_empty_and_disconnected_molecules_raise():
    with pytest.raises(GraphError, match="no atoms"):
        molecule_graph(Chem.Mol())
    with pytest.raises(GraphError, match="2 fragments"):
        molecule_graph(_mol("CCO.O"))
    with pytest.raises(GraphError, match="None"):
        molecule_graph(None)
    named = _mol("CC.CC.C")
    named.SetProp("_Name", "mixture-7")
    with pytest.raises(GraphError, match="mixture-7.*3 fragments"):
        molecule_graph(named)


def test_single_atom_is_connected():
    g = molecule_graph(Chem.MolFromSmiles("[Cl-]"))
    assert g.n == 1 and len(g.edges) == 0
    assert g.laplacian.toarray().tolist() == [[0.0]]
