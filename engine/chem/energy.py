"""A chemical energy for molecules in torch: the molecule form of the energy regulariser λ_E.

Built once per molecule from RDKit (:func:`molecule_terms`), batched over many molecules
of different sizes and many conformers of each (:class:`ChemicalEnergy`), evaluated on
concatenated ``(N_total, 3)`` coordinates in Å on any device. Its terms, all zero on a
well-formed conformer:

- **distance bounds** (flat-bottom, every atom pair): ``relu(d − u)² + relu(l − d)²``
  with ``l, u`` from ``rdDistGeom.GetMoleculeBoundsMatrix`` — the bounds PoseBusters
  checks bond lengths, bond angles (1-3 pairs) and internal clashes against (the same
  parameters: 1-5 bounds, scaled van der Waals radii, triangle smoothing). Bonded and
  1-3 pairs weigh ``BOND_WEIGHT``; other pairs only push apart atoms that clash.
- **planarity**: the squared volume ``((b−a)·((c−a)×(d−a)))²`` of every sp2 atom with its
  three neighbours (aromatic atoms, both ends of double bonds, amide and other
  conjugated nitrogens), of every four consecutive atoms of an aromatic ring, and of every
  (neighbour, a, b, neighbour) quadruple across a non-aromatic double bond — the systems
  PoseBusters' flatness checks look at.
- **chirality**: for every tagged tetrahedral centre the signed volume of its first three
  neighbours (RDKit's bond order; positive for ``CHI_TETRAHEDRAL_CCW``, measured) must lie
  on the tagged side by at least ``CHIRAL_VOLUME`` Å³: ``relu(V₀ − sign·V)²``.
- **double-bond stereo**: for a tagged E/Z bond the cosine of the dihedral between its
  stereo atoms must have the tagged sign: ``relu(±cos φ)²``.
- **torsion preferences** (ETKDG's): for every rotatable bond that matches one of ETKDGv3's
  experimental torsion patterns (``rdDistGeom.GetExperimentalTorsions``) the Fourier
  series ``Σ_k V_k (1 + s_k cos kφ)`` (k = 1…6), shifted so that its minimum is 0 and
  weighted by ``TORSION_WEIGHT``. It is a preference, not a validity check: it pulls
  torsions towards the values crystal structures show (and ETKDG samples). ``cos kφ`` is
  evaluated as the Chebyshev polynomial ``T_k(cos φ)``, so there is no ``atan2``.

:func:`engine.chem.polish.polish` lowers the energy of a batch with L-BFGS; the samplers
use :class:`engine.sampling.guidance.EnergyGuidance` to steer Ŝ₀ with it.

Molecules that RDKit cannot build bounds for raise :class:`~engine.errors.InputError`
naming the reason; :func:`molecule_terms` is called per molecule, so callers report the
index and go on with the others.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from engine.chem.bounds import bounds_matrix
from engine.errors import InputError

__all__ = ["MoleculeTerms", "molecule_terms", "empty_terms", "ChemicalEnergy", "BOND_WEIGHT",
           "CHIRAL_VOLUME", "TORSION_WEIGHT"]

# Bonds and heavy-atom 1-3 pairs (bond lengths and angles) weigh this much more than the
# other pairs (clashes, angles ending on a hydrogen).
BOND_WEIGHT = 4.0
# Weight of the planarity and stereo terms (volumes are in Å^3, about 2x a bond's
# out-of-plane displacement for bonds of 1.4 Å).
PLANARITY_WEIGHT = 1.0
STEREO_WEIGHT = 4.0
# Least |signed volume| (Å^3) of a tagged centre's first three neighbours on the tagged
# side (an ideal sp3 carbon with C–X bonds of 1.5 Å has about 2.2 Å^3; see the tests).
CHIRAL_VOLUME = 0.8
# Weight of ETKDG's torsion preferences (their barriers are a few units: 2.5–8 for sp3–sp3,
# 100 for an amide's cis/trans); engine/defaults.py gives the measurements behind it.
TORSION_WEIGHT = 0.03
# The polish works on the pairs within ACTIVE_MARGIN Å of one of their bounds, chosen
# again every ACTIVE_EVERY iterations (ChemicalEnergy.active). 300 iterations on 200
# drug-like conformers: every 10 / margin 0.6 Å 2.49 s, every 20 / 0.8 Å 2.32 s, same energies.
ACTIVE_MARGIN = 0.8
ACTIVE_EVERY = 20
# Bounds wider than this (RDKit's "no constraint" upper bound is 1000 Å) are dropped.
_NO_UPPER = 100.0


@dataclass
class MoleculeTerms:
    """The energy's index tables for one molecule (numpy, atom indices local to it).

    ``pairs (P, 2)``, ``lower``/``upper``/``weight (P,)``; ``planes (Q, 4)`` with ``plane_weight (Q,)``;
    ``chiral (C, 4)`` (centre, three neighbours) with ``chiral_sign (C,)``;
    ``dihedrals (D, 4)`` with ``dihedral_sign (D,)`` (+1: cis, −1: trans);
    ``torsions (T, 4)`` with ``torsion_coef (T, 7)``: the constant and the coefficients of
    ``cos kφ``, k = 1…6, of ETKDG's torsion preference (minimum 0).
    """

    num_atoms: int
    pairs: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    weight: np.ndarray
    planes: np.ndarray
    plane_weight: np.ndarray
    chiral: np.ndarray
    chiral_sign: np.ndarray
    dihedrals: np.ndarray
    dihedral_sign: np.ndarray
    torsions: np.ndarray
    torsion_coef: np.ndarray


def empty_terms(num_atoms: int) -> MoleculeTerms:
    """Tables with no terms (the energy is 0 for such a molecule)."""
    z4 = np.zeros((0, 4), dtype=np.int64)
    z = np.zeros(0, dtype=np.float64)
    return MoleculeTerms(num_atoms=int(num_atoms), pairs=np.zeros((0, 2), dtype=np.int64), lower=z,
                         upper=z, weight=z, planes=z4, plane_weight=z, chiral=z4, chiral_sign=z,
                         dihedrals=z4, dihedral_sign=z, torsions=z4,
                         torsion_coef=np.zeros((0, 7), dtype=np.float64))


def _bond_distance_at_most_two(mol) -> np.ndarray:
    """``(N, N)`` bool: atoms 1 or 2 bonds apart."""
    n = mol.GetNumAtoms()
    adj = np.zeros((n, n), dtype=bool)
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        adj[i, j] = adj[j, i] = True
    two = (adj.astype(np.int32) @ adj.astype(np.int32)) > 0
    near = adj | two
    np.fill_diagonal(near, False)
    return near


# Conjugated nitrogens without a double bond (amides, anilines, sulfonamides) are flat
# only on average (MMFF leaves ring amides pyramidal by up to ~1 Å^3); they weigh less.
SOFT_PLANE_WEIGHT = 0.1


def _planes(mol) -> tuple[list[tuple[int, ...]], list[float]]:
    from rdkit import Chem

    sp2 = {Chem.HybridizationType.SP2}
    out: dict[tuple[int, ...], float] = {}
    for a in mol.GetAtoms():
        nbrs = [n.GetIdx() for n in a.GetNeighbors()]
        if len(nbrs) == 3 and (a.GetHybridization() in sp2 or a.GetIsAromatic()):
            soft = (a.GetAtomicNum() == 7 and not a.GetIsAromatic()
                    and not any(b.GetBondType() == Chem.BondType.DOUBLE for b in a.GetBonds()))
            out[(a.GetIdx(), *nbrs)] = SOFT_PLANE_WEIGHT if soft else 1.0
    ri = mol.GetRingInfo()
    for ring in ri.AtomRings():
        if all(mol.GetAtomWithIdx(i).GetIsAromatic() for i in ring):
            k = len(ring)
            for s in range(k):
                out[tuple(ring[(s + m) % k] for m in range(4))] = 1.0
    for b in mol.GetBonds():
        if b.GetBondType() != Chem.BondType.DOUBLE or b.GetIsAromatic():
            continue
        a1, a2 = b.GetBeginAtom(), b.GetEndAtom()
        n1 = [n.GetIdx() for n in a1.GetNeighbors() if n.GetIdx() != a2.GetIdx()]
        n2 = [n.GetIdx() for n in a2.GetNeighbors() if n.GetIdx() != a1.GetIdx()]
        for p in n1:
            for q in n2:
                out[(p, a1.GetIdx(), a2.GetIdx(), q)] = 1.0
    keys = sorted(out)
    return keys, [out[k] for k in keys]


def _chiral(mol):
    from rdkit import Chem

    cw, ccw = Chem.ChiralType.CHI_TETRAHEDRAL_CW, Chem.ChiralType.CHI_TETRAHEDRAL_CCW
    rows, signs = [], []
    for a in mol.GetAtoms():
        tag = a.GetChiralTag()
        if tag not in (cw, ccw):
            continue
        nbrs = [b.GetOtherAtomIdx(a.GetIdx()) for b in a.GetBonds()]
        if len(nbrs) < 3:
            continue
        rows.append((a.GetIdx(), nbrs[0], nbrs[1], nbrs[2]))
        signs.append(1.0 if tag == ccw else -1.0)
    return rows, signs


def _double_bond_stereo(mol):
    from rdkit import Chem

    rows, signs = [], []
    cis = (Chem.BondStereo.STEREOZ, Chem.BondStereo.STEREOCIS)
    trans = (Chem.BondStereo.STEREOE, Chem.BondStereo.STEREOTRANS)
    for b in mol.GetBonds():
        st = b.GetStereo()
        if st not in cis + trans:
            continue
        atoms = list(b.GetStereoAtoms())
        if len(atoms) != 2:
            continue
        rows.append((atoms[0], b.GetBeginAtomIdx(), b.GetEndAtomIdx(), atoms[1]))
        signs.append(1.0 if st in cis else -1.0)
    return rows, signs


_TORSION_GRID = np.linspace(-np.pi, np.pi, 1441)


def _torsion_preferences(mol) -> tuple[list[tuple[int, ...]], list[np.ndarray]]:
    """ETKDGv3's experimental torsion terms of ``mol``: atom quadruples and the
    coefficients ``(c0, c1 … c6)`` of ``c0 + Σ c_k cos kφ`` with minimum 0 over φ."""
    from rdkit.Chem import rdDistGeom

    try:
        found = rdDistGeom.GetExperimentalTorsions(mol, rdDistGeom.ETKDGv3())
    except Exception:       # a preference only: a molecule RDKit cannot match goes without
        return [], []
    rows: list[tuple[int, ...]] = []
    coefs: list[np.ndarray] = []
    k = np.arange(1, 7)
    for t in found:
        atoms = tuple(int(a) for a in t["atomIndices"])
        V = np.asarray(list(t["V"]), dtype=np.float64)[:6]
        sgn = np.asarray(list(t["signs"]), dtype=np.float64)[:6]
        if len(atoms) != 4 or len(V) != 6 or len(sgn) != 6 or not np.any(V):
            continue
        c = V * sgn
        curve = V.sum() + np.cos(np.outer(_TORSION_GRID, k)) @ c
        rows.append(atoms)
        coefs.append(np.concatenate([[V.sum() - curve.min()], c]))
    return rows, coefs


def molecule_terms(mol) -> MoleculeTerms:
    """The energy's tables for an RDKit molecule (hydrogens as they are in ``mol``).

    Raises :class:`InputError` when RDKit cannot build distance bounds for it.
    """
    n = mol.GetNumAtoms()
    if n == 0:
        raise InputError("empty molecule: no atoms for the chemical energy")
    bm = bounds_matrix(mol) if n > 1 else np.zeros((1, 1))
    iu, ju = np.triu_indices(n, k=1)
    upper = bm[iu, ju]       # RDKit: upper triangle holds upper bounds
    lower = bm[ju, iu]
    near = _bond_distance_at_most_two(mol)[iu, ju] if n > 1 else np.zeros(0, bool)
    bonded = np.zeros((n, n), dtype=bool)
    for b in mol.GetBonds():
        bonded[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] = bonded[b.GetEndAtomIdx(), b.GetBeginAtomIdx()] = True
    heavy = np.array([a.GetAtomicNum() > 1 for a in mol.GetAtoms()])
    # bonds and heavy-atom angles are stiff; angles that end on a hydrogen (C-O-H) are
    # softer in force fields than RDKit's bounds, and PoseBusters does not check them
    stiff = bonded[iu, ju] | (near & heavy[iu] & heavy[ju])
    weight = np.where(stiff, BOND_WEIGHT, 1.0)
    upper = np.where(upper > _NO_UPPER, np.inf, upper)
    keep = (lower > 0) | np.isfinite(upper)
    planes, plane_weight = _planes(mol)
    chiral, chiral_sign = _chiral(mol)
    dihedrals, dihedral_sign = _double_bond_stereo(mol)
    torsions, torsion_coef = _torsion_preferences(mol)

    def table(rows, width):
        return np.asarray(rows, dtype=np.int64).reshape(-1, width)

    return MoleculeTerms(
        num_atoms=n,
        pairs=np.stack([iu[keep], ju[keep]], axis=1).astype(np.int64),
        lower=lower[keep], upper=upper[keep], weight=weight[keep],
        planes=table(planes, 4), plane_weight=np.asarray(plane_weight, dtype=np.float64),
        chiral=table(chiral, 4),
        chiral_sign=np.asarray(chiral_sign, dtype=np.float64),
        dihedrals=table(dihedrals, 4), dihedral_sign=np.asarray(dihedral_sign, dtype=np.float64),
        torsions=table(torsions, 4),
        torsion_coef=np.asarray(torsion_coef, dtype=np.float64).reshape(-1, 7),
    )


def _volume(x: torch.Tensor, quads: torch.Tensor) -> torch.Tensor:
    """``(b−a)·((c−a)×(d−a))`` for each row ``(a, b, c, d)`` of ``quads``."""
    a = x[quads[:, 0]]
    return torch.linalg.vecdot(x[quads[:, 1]] - a,
                               torch.linalg.cross(x[quads[:, 2]] - a, x[quads[:, 3]] - a))


def _chebyshev_series(c: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """``coef[:, 0] + Σ_k coef[:, k] T_k(c)``, k = 1…6 (``T_k(cos φ) = cos kφ``)."""
    t_prev, t_cur = torch.ones_like(c), c
    total = coef[:, 0] + coef[:, 1] * c
    for k in range(2, 7):
        t_prev, t_cur = t_cur, 2 * c * t_cur - t_prev
        total = total + coef[:, k] * t_cur
    return total


def _chebyshev_slope(c: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """d/dc of :func:`_chebyshev_series`: ``T_k' = k U_{k-1}`` (second-kind polynomials)."""
    u_prev, u_cur = torch.ones_like(c), 2 * c          # U_0, U_1
    total = coef[:, 1] * u_prev + 2 * coef[:, 2] * u_cur
    for k in range(3, 7):
        u_prev, u_cur = u_cur, 2 * c * u_cur - u_prev
        total = total + k * coef[:, k] * u_cur
    return total


def _cos_dihedral(x: torch.Tensor, quads: torch.Tensor) -> torch.Tensor:
    p0, p1, p2, p3 = (x[quads[:, k]] for k in range(4))
    b1 = p2 - p1
    v = torch.linalg.cross(p0 - p1, b1)
    w = torch.linalg.cross(p3 - p2, b1)
    return torch.linalg.vecdot(v, w) / torch.sqrt((v * v).sum(-1) * (w * w).sum(-1) + 1e-12)


class ChemicalEnergy:
    """The energy of a concatenation of molecules: ``terms[k]`` describes graph ``k``,
    whose atoms start at ``offsets[k]`` of the ``(N_total, 3)`` coordinates (Å).

    ``energy(x)`` returns the per-graph energies ``(B,)``; ``gradient(x)`` returns
    ``(energies, ∂E/∂x)``. Tables live on ``device`` in ``dtype``.
    """

    def __init__(self, terms: Sequence[MoleculeTerms], offsets: Sequence[int], *,
                 device=None, dtype=torch.float32):
        if len(terms) != len(offsets):
            raise ValueError("one offset per molecule is needed")
        self.num_graphs = len(terms)
        self.dtype = dtype
        dev = torch.device(device) if device is not None else torch.device("cpu")
        self.device = dev

        def cat(name, width=None, shift=True, dt=torch.long):
            parts, owners = [], []
            for k, (t, off) in enumerate(zip(terms, offsets)):
                arr = getattr(t, name)
                if shift:
                    arr = arr + int(off)
                parts.append(arr)
                owners.append(np.full(len(arr), k, dtype=np.int64))
            if parts:
                data = np.concatenate(parts)
            else:
                data = np.zeros((0, width) if width else 0)
            owner = np.concatenate(owners) if owners else np.zeros(0, np.int64)
            return (torch.as_tensor(data, dtype=dt, device=dev),
                    torch.as_tensor(owner, dtype=torch.long, device=dev))

        self.pairs, self.pair_graph = cat("pairs", 2)
        self.lower = cat("lower", shift=False, dt=dtype)[0]
        self.upper = cat("upper", shift=False, dt=dtype)[0]
        self.weight = cat("weight", shift=False, dt=dtype)[0]
        self.planes, self.plane_graph = cat("planes", 4)
        self.plane_weight = cat("plane_weight", shift=False, dt=dtype)[0]
        self.chiral, self.chiral_graph = cat("chiral", 4)
        self.chiral_sign = cat("chiral_sign", shift=False, dt=dtype)[0]
        self.dihedrals, self.dihedral_graph = cat("dihedrals", 4)
        self.dihedral_sign = cat("dihedral_sign", shift=False, dt=dtype)[0]
        self.torsions, self.torsion_graph = cat("torsions", 4)
        self.torsion_coef = cat("torsion_coef", 7, shift=False, dt=dtype)[0]
        self.torsion_weight = float(TORSION_WEIGHT)
        self.num_atoms = int(max((o + t.num_atoms for t, o in zip(terms, offsets)), default=0))
        self.offsets = [int(o) for o in offsets]
        self._atom_graph: torch.Tensor | None = None
        self._sparse: dict = {}          # incidence matrices of the gradient, per table

    @classmethod
    def for_batch(cls, terms: Sequence[MoleculeTerms], *, device=None,
                  dtype=torch.float32) -> ChemicalEnergy:
        """Molecules laid end to end in the given order (the ``collate`` layout)."""
        offsets: Any = np.concatenate([[0], np.cumsum([t.num_atoms for t in terms])[:-1]]) if terms else []
        return cls(terms, [int(o) for o in offsets], device=device, dtype=dtype)

    def atom_graph(self, num_atoms: int) -> torch.Tensor:
        """``(N_total,)`` graph index of every atom (atoms past the last graph: the last)."""
        if self._atom_graph is None or len(self._atom_graph) != num_atoms:
            starts = torch.as_tensor(self.offsets, dtype=torch.long)
            idx = torch.arange(num_atoms)
            self._atom_graph = (torch.searchsorted(starts, idx, right=True) - 1).clamp(min=0).to(self.device)
        return self._atom_graph

    def active(self, x: torch.Tensor, margin: float | None = None) -> ChemicalEnergy:
        """A view of this energy without the distance pairs that are farther than
        ``margin`` Å inside both of their bounds at ``x`` (they contribute nothing there
        and cannot reach a bound in a short polish). Same value and gradient near ``x``."""
        if not len(self.pairs):
            return self
        margin = ACTIVE_MARGIN if margin is None else margin
        with torch.no_grad():
            diff = x[self.pairs[:, 0]].to(self.dtype) - x[self.pairs[:, 1]].to(self.dtype)
            d = torch.sqrt((diff * diff).sum(-1))
            keep = (d < self.lower + margin) | (d > self.upper - margin)
        view = object.__new__(ChemicalEnergy)
        view.__dict__.update(self.__dict__)
        view.pairs, view.pair_graph = self.pairs[keep], self.pair_graph[keep]
        view.lower, view.upper, view.weight = self.lower[keep], self.upper[keep], self.weight[keep]
        view._sparse = {k: v for k, v in self._sparse.items() if k[0] != "pairs"}
        return view

    def without_preferences(self) -> ChemicalEnergy:
        """A view of this energy without the torsion preferences: only the terms that a
        valid structure must satisfy (bounds, planarity, stereo)."""
        view = object.__new__(ChemicalEnergy)
        view.__dict__.update(self.__dict__)
        view.torsion_weight = 0.0
        return view

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Per-graph energies ``(B,)`` of coordinates ``x (N_total, 3)`` in Å."""
        x = x.to(self.dtype)
        e = x.new_zeros(self.num_graphs)
        if len(self.pairs):
            diff = x[self.pairs[:, 0]] - x[self.pairs[:, 1]]
            d = torch.sqrt((diff * diff).sum(-1) + 1e-12)
            over = torch.relu(d - self.upper)
            under = torch.relu(self.lower - d)
            e = e.index_add(0, self.pair_graph, self.weight * (over * over + under * under))
        if len(self.planes):
            v = _volume(x, self.planes)
            e = e.index_add(0, self.plane_graph, PLANARITY_WEIGHT * self.plane_weight * v * v)
        if len(self.chiral):
            v = _volume(x, self.chiral) * self.chiral_sign
            short = torch.relu(CHIRAL_VOLUME - v)
            e = e.index_add(0, self.chiral_graph, STEREO_WEIGHT * short * short)
        if len(self.dihedrals):
            wrong = torch.relu(-self.dihedral_sign * _cos_dihedral(x, self.dihedrals))
            e = e.index_add(0, self.dihedral_graph, STEREO_WEIGHT * wrong * wrong)
        if len(self.torsions) and self.torsion_weight:
            pref = _chebyshev_series(_cos_dihedral(x, self.torsions), self.torsion_coef)
            e = e.index_add(0, self.torsion_graph, self.torsion_weight * pref)
        return e

    def gradient(self, x: torch.Tensor):
        """``(energies (B,), dE/dx (N_total, 3))`` with NaN/inf gradients zeroed.

        Every term has a closed-form gradient (no autograd: the polish calls this at
        every iteration)."""
        x = x.detach().to(self.dtype)
        e = x.new_zeros(self.num_graphs)
        g = torch.zeros_like(x)
        if len(self.pairs):
            # x_i − x_j for every pair, and the pair forces summed per atom, as products
            # with the pairs' sparse incidence matrix: several times faster than gathers
            # and index_add_ on the CPU
            diff_of, scatter = self._incidence("pairs", self.pairs, x.shape[0], signs=(1.0, -1.0))
            diff = diff_of(x)
            d = torch.sqrt((diff * diff).sum(-1) + 1e-12)
            over = torch.relu(d - self.upper)
            under = torch.relu(self.lower - d)
            e = e.index_add(0, self.pair_graph, self.weight * (over * over + under * under))
            g = g + scatter((2 * self.weight * (over - under) / d)[:, None] * diff)
        if len(self.planes):
            e, g = _add_volume_term(self, "planes", x, e, g, self.plane_graph,
                                    lambda v: (PLANARITY_WEIGHT * self.plane_weight * v * v,
                                               2 * PLANARITY_WEIGHT * self.plane_weight * v))
        if len(self.chiral):
            def chiral(v):
                short = torch.relu(CHIRAL_VOLUME - v * self.chiral_sign)
                return STEREO_WEIGHT * short * short, -2 * STEREO_WEIGHT * short * self.chiral_sign
            e, g = _add_volume_term(self, "chiral", x, e, g, self.chiral_graph, chiral)
        if len(self.dihedrals):
            def stereo(c):
                wrong = torch.relu(-self.dihedral_sign * c)
                return STEREO_WEIGHT * wrong * wrong, -2 * STEREO_WEIGHT * wrong * self.dihedral_sign
            e, g = _add_dihedral_term(self, "dihedrals", x, e, g, self.dihedral_graph, stereo)
        if len(self.torsions) and self.torsion_weight:
            w = self.torsion_weight
            e, g = _add_dihedral_term(self, "torsions", x, e, g, self.torsion_graph,
                                      lambda c: (w * _chebyshev_series(c, self.torsion_coef),
                                                 w * _chebyshev_slope(c, self.torsion_coef)))
        return e, torch.nan_to_num(g, nan=0.0, posinf=0.0, neginf=0.0)

    def _incidence(self, name: str, table: torch.Tensor, num_atoms: int, signs=None):
        """``(gather, scatter)`` for the rows of ``table (M, k)`` over ``num_atoms`` atoms,
        built once per table and view (sparse CSR matrices on this energy's device):

        - with ``signs`` (one per column): ``gather(x) = Σ_c signs[c] x[table[:, c]]``
          ``(M, 3)``, and ``scatter(v (M, 3))``, its transpose, adds ``signs[c] v[m]`` to
          atom ``table[m, c]``;
        - without: ``gather(x)`` is the list of ``x[table[:, c]]`` over the columns, and
          ``scatter(vs)`` adds ``vs[c][m]`` to atom ``table[m, c]``.
        """
        key = (name, num_atoms)
        if key not in self._sparse:
            m, k = table.shape
            dev, dt = table.device, self.dtype
            atoms = table.reshape(-1)                                  # entry r = row r // k, column r % k
            if signs is not None:
                vals = torch.tensor(signs, dtype=dt, device=dev).repeat(m)
                # (M, N): row m holds table[m] (column indices must ascend within a row)
                order = torch.argsort(table, dim=1, stable=True)
                fwd = _csr(torch.arange(0, m * k + 1, k, device=dev), table.gather(1, order).reshape(-1),
                           vals.reshape(m, k).gather(1, order).reshape(-1), (m, num_atoms))
                back = _csr_by_row(atoms, torch.arange(m, device=dev).repeat_interleave(k), vals, num_atoms, m)
                entry = (lambda x: fwd @ x, lambda v: back @ v)
            else:
                columns = [table[:, c].contiguous() for c in range(k)]
                # (N, k·M) @ (k·M, 3): the columns' values stacked one column after another
                stacked = (torch.arange(m, device=dev)[:, None] + m * torch.arange(k, device=dev)).reshape(-1)
                back = _csr_by_row(atoms, stacked, torch.ones(m * k, dtype=dt, device=dev), num_atoms, m * k)
                entry = (lambda x: [x.index_select(0, c) for c in columns],
                         lambda vs: back @ torch.cat(vs))
            self._sparse[key] = entry
        return self._sparse[key]


def _csr(crow, col, val, size):
    import warnings

    with warnings.catch_warnings():           # "sparse CSR support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, val, size, check_invariants=False)


def _csr_by_row(rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, num_rows: int, num_cols: int):
    """A CSR matrix from (row, column, value) entries in any order (no duplicates)."""
    key = rows * num_cols + cols
    order = torch.argsort(key)
    crow = torch.zeros(num_rows + 1, dtype=torch.long, device=rows.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=num_rows), 0)
    return _csr(crow, cols[order], vals[order], (num_rows, num_cols))


def _add_dihedral_term(energy, name, x, e, g, owner, value_and_slope):
    """Add ``E(cos φ)`` of the dihedrals of table ``name`` (as :func:`_cos_dihedral`) to
    ``e`` and its gradient to ``g``; ``value_and_slope(c)`` returns ``(E, dE/dc)`` per row."""
    gather, scatter = energy._incidence(name, getattr(energy, name), x.shape[0])
    p0, p1, p2, p3 = gather(x)
    b = p2 - p1
    a, f = p0 - p1, p3 - p2
    v = torch.linalg.cross(a, b)
    w = torch.linalg.cross(f, b)
    vv, ww, vw = (v * v).sum(-1), (w * w).sum(-1), (v * w).sum(-1)
    den = torch.sqrt(vv * ww + 1e-12)
    c = vw / den
    val, slope = value_and_slope(c)
    e = e.index_add(0, owner, val)
    k = (slope / den)[:, None]
    q = (slope * vw / den ** 3)[:, None]
    gv = k * w - q * ww[:, None] * v            # dE/dv
    gw = k * v - q * vv[:, None] * w            # dE/dw
    ga = torch.linalg.cross(b, gv)              # v = a × b
    gf = torch.linalg.cross(b, gw)              # w = f × b
    gb = torch.linalg.cross(gv, a) + torch.linalg.cross(gw, f)
    return e, g + scatter([ga, -ga - gb, gb - gf, gf])


def _add_volume_term(energy, name, x, e, g, owner, value_and_slope):
    """Add ``E(V)`` of the signed volumes ``V`` of table ``name`` to ``e`` and its gradient
    to ``g``; ``value_and_slope(V)`` returns ``(E, dE/dV)`` per row."""
    gather, scatter = energy._incidence(name, getattr(energy, name), x.shape[0])
    a, b, c, d = gather(x)
    u, v, w = b - a, c - a, d - a
    vw = torch.linalg.cross(v, w)
    vol = torch.linalg.vecdot(u, vw)
    val, slope = value_and_slope(vol)
    e = e.index_add(0, owner, val)
    gu = slope[:, None] * vw
    gv = slope[:, None] * torch.linalg.cross(w, u)
    gw = slope[:, None] * torch.linalg.cross(u, v)
    return e, g + scatter([-(gu + gv + gw), gu, gv, gw])


def curvature_bound() -> float:
    """An estimate (per Å²) of the largest curvature of the energy on strained drug-like
    structures: the step ``1/bound`` of plain gradient descent lowers the energy of
    structures 0.25 Å from a minimum, where ``1/100`` already overshoots (measured on
    the test molecules of tests/engine/test_chem_energy.py)."""
    return 400.0
