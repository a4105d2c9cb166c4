"""Conformer-ensemble quality the way the field measures it (GEOM protocol).

Heavy-atom RMSD after optimal, symmetry-aware alignment
(``rdkit.Chem.rdMolAlign.GetBestRMS`` on hydrogen-free copies), the RMSD matrix between
the reference and the generated conformers of one molecule, and the coverage / matching
metrics COV-R, AMR-R, COV-P, AMR-P at a threshold δ.

Symmetry and the combinatorial blow-up
--------------------------------------
``GetBestRMS`` tries every substructure match of the molecule onto itself (its graph
automorphisms, restricted to heavy atoms here) and keeps the smallest RMSD. A molecule
with several symmetric groups (tert-butyl, CF3, sulfonyl, many rings) has a product of
factorials of matches. Two guards keep the cost bounded:

* ``max_matches`` caps the number of atom maps (default 10,000). The maps are computed
  once per molecule (not once per pair) and handed to ``GetBestRMS`` via ``map=``, so the
  cost per pair is ``O(matches × atoms)``. When the cap is hit the RMSD is the best over
  the first ``max_matches`` maps, i.e. an upper bound; ``RMSDInfo.truncated`` says so.
* ``time_limit_s`` (default 120 s per molecule): once a matrix has taken longer than
  this, the remaining pairs use only the first ``fallback_matches`` maps (again an upper
  bound, flagged by ``RMSDInfo.time_limited``).

Conjugated terminal groups (carboxylate, carboxylic acid without H, nitro, amidine ...)
are treated as symmetric, like ``GetBestRMS(symmetrizeConjugatedTerminalGroups=True)``:
the maps are found on copies in which the two bonds of ``[O,N;D1]=*-[O,N;D1]`` are made
identical.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdMolAlign

from engine.errors import InputError

MolOrList: TypeAlias = "Chem.Mol | Sequence[Chem.Mol]"

DEFAULT_MAX_MATCHES = 10_000
DEFAULT_TIME_LIMIT_S = 120.0
DEFAULT_FALLBACK_MATCHES = 16

_TERMINAL_PAIR = Chem.MolFromSmarts("[O,N;D1]=,:[*]-,:[O,N;D1]")


@dataclass
class RMSDInfo:
    """What happened while computing one RMSD matrix."""

    num_matches: int = 0          # atom maps used (after the cap)
    truncated: bool = False       # max_matches was hit: entries are upper bounds
    time_limited: bool = False    # time_limit_s was hit: later entries are upper bounds
    seconds: float = 0.0
    notes: list = field(default_factory=list)


def heavy_atom_copy(mol: Chem.Mol) -> Chem.Mol:
    """A copy of ``mol`` without hydrogens (all conformers kept, atom order of the heavy atoms kept)."""
    try:
        return Chem.RemoveAllHs(mol, sanitize=True)
    except Exception:  # noqa: BLE001 - unsanitizable input still has a usable topology
        return Chem.RemoveAllHs(mol, sanitize=False)


def _symmetrized(mol: Chem.Mol) -> Chem.Mol:
    """Topology-only copy in which conjugated terminal pairs X=*-X look identical."""
    rw = Chem.RWMol(mol)
    for a, center, b in mol.GetSubstructMatches(_TERMINAL_PAIR, uniquify=True):
        for t in (a, b):
            bond = rw.GetBondBetweenAtoms(t, center)
            bond.SetBondType(Chem.BondType.SINGLE)
            bond.SetIsAromatic(False)
            rw.GetAtomWithIdx(t).SetFormalCharge(0)
            rw.GetAtomWithIdx(t).SetIsAromatic(False)
    return rw.GetMol()


def symmetry_maps(probe: Chem.Mol, ref: Chem.Mol, max_matches: int = DEFAULT_MAX_MATCHES,
                  symmetrize_terminal: bool = True):
    """All atom maps of ``probe`` onto ``ref`` (heavy-atom copies), at most ``max_matches``.

    Returns ``(maps, truncated)`` with ``maps`` a list of lists of ``(probe_idx, ref_idx)``
    as ``GetBestRMS(map=...)`` expects. Raises ``InputError`` when the two are not the same
    molecule (no match).
    """
    if probe.GetNumAtoms() != ref.GetNumAtoms():
        raise InputError(
            f"reference and generated molecules differ: {ref.GetNumAtoms()} vs "
            f"{probe.GetNumAtoms()} heavy atoms")
    q, t = (_symmetrized(probe), _symmetrized(ref)) if symmetrize_terminal else (probe, ref)
    params = Chem.SubstructMatchParameters()
    params.uniquify = False
    params.maxMatches = max_matches + 1
    params.useChirality = False
    matches = t.GetSubstructMatches(q, params)
    if not matches:
        raise InputError("reference and generated molecules have different bond graphs "
                         f"({Chem.MolToSmiles(ref)} vs {Chem.MolToSmiles(probe)})")
    truncated = len(matches) > max_matches
    matches = matches[:max_matches]
    return [list(enumerate(m)) for m in matches], truncated


def _conformer_list(mols: MolOrList):
    """Normalise input to a list of ``(heavy_mol, conf_id)`` plus per-template heavy mols."""
    if isinstance(mols, Chem.Mol):
        mols = [mols]
    out: list = []
    for m in mols:
        if m is None:
            raise InputError("a molecule is None (failed to read?)")
        if m.GetNumConformers() == 0:
            raise InputError(f"molecule {Chem.MolToSmiles(m)} has no conformer")
        h = heavy_atom_copy(m)
        if h.GetNumAtoms() == 0:
            raise InputError("a molecule has no heavy atoms")
        out.extend((h, c.GetId()) for c in h.GetConformers())
    return out


def _topology_key(mol: Chem.Mol):
    return (tuple(a.GetAtomicNum() for a in mol.GetAtoms()),
            tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds())))


def rmsd_matrix(ref: MolOrList, gen: MolOrList, *, max_matches: int = DEFAULT_MAX_MATCHES,
                time_limit_s: float = DEFAULT_TIME_LIMIT_S,
                fallback_matches: int = DEFAULT_FALLBACK_MATCHES, num_threads: int = 1,
                return_info: bool = False):
    """Heavy-atom best RMSD (Å) between every reference and every generated conformer.

    ``ref`` and ``gen`` are one RDKit molecule with several conformers each, or lists of
    molecules (all of the same molecule; one or more conformers each; hydrogens are
    ignored; the atom order may differ between ``ref`` and ``gen``).

    Returns ``R`` of shape ``(K_ref, K_gen)`` (float64), and ``RMSDInfo`` when
    ``return_info``. ``num_threads`` is passed to ``GetBestRMS`` (threads over atom maps);
    to parallelise over molecules call this function from a process pool (it is pure).
    """
    t0 = time.perf_counter()
    refs = _conformer_list(ref)
    gens = _conformer_list(gen)
    info = RMSDInfo()
    maps_cache: dict = {}
    out = np.empty((len(refs), len(gens)), dtype=np.float64)
    # GetBestRMS moves the probe; work on private copies of each probe template.
    # Atom maps depend only on the two bond graphs: computed once per pair of topologies.
    probe_copies: dict = {}
    topo: dict = {}
    for m, _ in refs + gens:
        if id(m) not in topo:
            topo[id(m)] = _topology_key(m)
    for j, (g, gid) in enumerate(gens):
        if id(g) not in probe_copies:
            probe_copies[id(g)] = Chem.Mol(g)
        probe = probe_copies[id(g)]
        for i, (r, rid) in enumerate(refs):
            key = (topo[id(g)], topo[id(r)])
            if key not in maps_cache:
                maps, truncated = symmetry_maps(probe, r, max_matches)
                maps_cache[key] = maps
                info.truncated |= truncated
                info.num_matches = max(info.num_matches, len(maps))
            maps = maps_cache[key]
            if not info.time_limited and time.perf_counter() - t0 > time_limit_s:
                info.time_limited = True
                info.notes.append(
                    f"time limit {time_limit_s}s hit at pair ({i}, {j}); later pairs use "
                    f"{fallback_matches} atom maps")
            if info.time_limited:
                maps = maps[:fallback_matches]
            out[i, j] = rdMolAlign.GetBestRMS(probe, r, prbId=gid, refId=rid, map=maps,
                                              numThreads=num_threads)
    info.seconds = time.perf_counter() - t0
    return (out, info) if return_info else out


def coverage_metrics(rmsd: np.ndarray, threshold: float = 0.75) -> dict:
    """COV-R, AMR-R, COV-P, AMR-P of one molecule from its ``(K_ref, K_gen)`` RMSD matrix.

    * COV-R = share of references with some generated conformer at RMSD < δ,
    * AMR-R = mean over references of the smallest RMSD to a generated conformer,
    * COV-P, AMR-P: the same with the roles swapped (share / mean over generated).

    ``threshold`` δ in Å: 0.75 for drug-like molecules (GEOM-Drugs), 0.5 for small ones
    (GEOM-QM9). The comparison is strict (``<``).
    """
    rmsd = np.asarray(rmsd, dtype=np.float64)
    if rmsd.ndim != 2 or 0 in rmsd.shape:
        raise InputError(f"RMSD matrix must be (K_ref, K_gen) with both > 0, got {rmsd.shape}")
    if np.isnan(rmsd).any():
        raise InputError("RMSD matrix contains NaN")
    min_r = rmsd.min(axis=1)
    min_p = rmsd.min(axis=0)
    return {
        "cov_r": float(np.mean(min_r < threshold)),
        "amr_r": float(np.mean(min_r)),
        "cov_p": float(np.mean(min_p < threshold)),
        "amr_p": float(np.mean(min_p)),
    }


METRIC_KEYS = ("cov_r", "amr_r", "cov_p", "amr_p")


def aggregate_metrics(per_molecule: Sequence[dict]) -> dict:
    """Mean and median over molecules of each metric (mean is what GEOM-Drugs papers report).

    Returns ``{"num_molecules": n, "mean": {...}, "median": {...}}``.
    """
    n = len(per_molecule)
    agg: dict = {"num_molecules": n, "mean": {}, "median": {}}
    for k in METRIC_KEYS:
        vals = np.array([m[k] for m in per_molecule], dtype=np.float64)
        agg["mean"][k] = float(vals.mean()) if n else float("nan")
        agg["median"][k] = float(np.median(vals)) if n else float("nan")
    return agg
