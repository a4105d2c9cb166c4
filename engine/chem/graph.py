"""Molecular graphs: bond edges (optionally bond-order weighted) plus optional 2-hop edges.

``molecule_graph(mol)`` turns an RDKit molecule into a ``MolGraph`` whose Laplacian
``L = D - W`` is built with ``engine.graphs.laplacian_from_edges``. ``graph_edges`` does the
same from plain arrays (used by the conformer data set, which stores bonds, not molecules).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from engine.errors import GraphError
from engine.graphs import connected_components, laplacian_from_edges

__all__ = ["MolGraph", "molecule_graph", "graph_edges", "bond_orders", "BOND_ORDER_WEIGHTS"]

# RDKit bond type name -> Laplacian weight when ``bond_order_weights=True``.
BOND_ORDER_WEIGHTS = {"SINGLE": 1.0, "DOUBLE": 2.0, "TRIPLE": 3.0, "AROMATIC": 1.5}


@dataclass
class MolGraph:
    """Graph of one molecule.

    n: number of atoms N.
    edges: ``(E, 2)`` int64, each bond once (i < j), then the 2-hop edges when asked.
    weights: ``(E,)`` float64 Laplacian weights of ``edges``.
    bond_edges: ``(Eb, 2)`` int64, bonds only (i < j).
    laplacian: ``(N, N)`` scipy csr float64.
    masses: ``(N,)`` float64 atomic masses in amu.
    atomic_numbers: ``(N,)`` int64.
    features: ``(N, F)`` float32, see ``engine.chem.features``.
    """

    n: int
    edges: np.ndarray
    weights: np.ndarray
    bond_edges: np.ndarray
    laplacian: sp.csr_matrix
    masses: np.ndarray
    atomic_numbers: np.ndarray
    features: np.ndarray


def bond_orders(mol) -> tuple[np.ndarray, np.ndarray]:
    """Bonds ``(Eb, 2)`` int64 (i < j, in RDKit bond order) and their weights ``(Eb,)``
    (single 1, double 2, triple 3, aromatic 1.5, any other type 1)."""
    bonds = np.zeros((mol.GetNumBonds(), 2), dtype=np.int64)
    orders = np.ones(mol.GetNumBonds(), dtype=np.float64)
    # through the atoms' bond lists: RDKit's mol.GetBonds() sequence looks every bond up
    # by index, which is superlinear (7 s for a 20,000-atom chain)
    for atom in mol.GetAtoms():
        i = atom.GetIdx()
        for bond in atom.GetBonds():
            j = bond.GetOtherAtomIdx(i)
            if j > i:
                k = bond.GetIdx()
                bonds[k] = (i, j)
                orders[k] = BOND_ORDER_WEIGHTS.get(str(bond.GetBondType()), 1.0)
    return bonds, orders


def two_hop_pairs(n: int, bonds: np.ndarray) -> np.ndarray:
    """Pairs ``(P, 2)`` (i < j, sorted) at graph distance exactly 2 (share a neighbour,
    not bonded themselves)."""
    if len(bonds) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    A = sp.coo_matrix((np.ones(2 * len(bonds)),
                       (np.r_[bonds[:, 0], bonds[:, 1]], np.r_[bonds[:, 1], bonds[:, 0]])),
                      shape=(n, n)).tocsr()
    A.data[:] = 1.0
    reach = (A @ A).tocoo()
    keep = (reach.row < reach.col)
    pairs = np.stack([reach.row[keep], reach.col[keep]], axis=1).astype(np.int64)
    if len(pairs):
        bonded = np.asarray(A[pairs[:, 0], pairs[:, 1]]).ravel() != 0
        pairs = pairs[~bonded]
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    return pairs[order]


def graph_edges(n: int, bonds: np.ndarray, orders: np.ndarray | None = None, *,
                bond_order_weights: bool = False, angle_edges: bool = False,
                angle_weight: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``(E, 2)`` and weights ``(E,)`` of the diffusion graph from bonds ``(Eb, 2)``.

    Bond weights are 1, or ``orders`` with ``bond_order_weights``; with ``angle_edges``
    every 2-hop pair (the two outer atoms of a bond angle) is added with ``angle_weight``.
    """
    bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
    if bond_order_weights:
        if orders is None:
            raise ValueError("bond_order_weights=True needs the bond orders")
        w = np.asarray(orders, dtype=np.float64).reshape(-1)
    else:
        w = np.ones(len(bonds), dtype=np.float64)
    if not angle_edges:
        return bonds.copy(), w
    if not np.isfinite(angle_weight) or angle_weight < 0:
        raise ValueError(f"angle_weight must be a finite number >= 0, got {angle_weight!r}")
    pairs = two_hop_pairs(n, bonds)
    return (np.concatenate([bonds, pairs]),
            np.concatenate([w, np.full(len(pairs), float(angle_weight))]))


def molecule_graph(mol, *, bond_order_weights: bool = False, angle_edges: bool = False,
                   angle_weight: float = 0.5) -> MolGraph:
    """The diffusion graph of an RDKit molecule (all its atoms, hydrogens included if
    explicit). Raises ``GraphError`` for an empty molecule or a disconnected graph."""
    from engine.chem.features import atom_features

    if mol is None:
        raise GraphError("molecule is None (an RDKit parse failure?)")
    n = mol.GetNumAtoms()
    name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
    label = f"molecule {name!r}" if name else "molecule"
    if n == 0:
        raise GraphError(f"{label} has no atoms")
    bonds, orders = bond_orders(mol)
    edges, weights = graph_edges(n, bonds, orders, bond_order_weights=bond_order_weights,
                                 angle_edges=angle_edges, angle_weight=angle_weight)
    L = laplacian_from_edges(n, edges, weights)
    count, _ = connected_components(L)
    if count > 1:
        raise GraphError(f"{label} is disconnected: its bond graph has {count} fragments "
                         "(salts and mixtures need one fragment chosen first)")
    return MolGraph(
        n=n,
        edges=edges,
        weights=weights,
        bond_edges=bonds,
        laplacian=L,
        masses=np.array([a.GetMass() for a in mol.GetAtoms()], dtype=np.float64),
        atomic_numbers=np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64),
        features=atom_features(mol),
    )
