"""Physical validity of conformers.

* ``posebusters_pass(mols)``: the PoseBusters "mol" checks (sanitisation, InChI, bond
  lengths / angles / internal clashes against distance-geometry bounds, ring and double
  bond flatness, UFF energy ratio against an ETKDG ensemble) on **every conformer of every
  molecule**. A conformer passes when every check is ``True``; a check PoseBusters could not
  run (NaN, e.g. UFF cannot parametrise the molecule) counts as a failure.

  Cost (``bench/rdkit_baseline.py --posebusters``, 20 NCI molecules of ~18 heavy atoms,
  2-core CPU, posebusters 0.6.5): ~120 ms per conformer, most of it in PoseBusters'
  pandas-based distance-geometry module, plus a one-off ~1-3 s per distinct molecule
  (PoseBusters embeds and UFF-optimises a 50-conformer reference ensemble for the energy
  ratio and caches it by InChI for the life of the process). All conformers of a worker go
  through one ``bust`` call with logging silenced; ``workers > 1`` splits the molecules
  over processes (whole molecules per process, so each ensemble is built once).

* ``quick_checks(mol, conf_id)``: cheap checks without PoseBusters for the app's quality
  panel: bond lengths against the sum of covalent radii (±25 %), non-bonded heavy-atom
  clashes (closer than 0.7 × the sum of van der Waals radii, pairs at least three bonds
  apart), and the MMFF94 energy when the molecule can be parametrised.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

import numpy as np
from rdkit import Chem

from engine.chem.bounds import bounds_matrix
from engine.errors import InputError
from engine.rdlog import rdkit_logs_disabled

BOND_TOLERANCE = 0.25     # relative deviation from the covalent-radii sum
CLASH_FACTOR = 0.7        # fraction of the vdW-radii sum below which two atoms clash
CLASH_MIN_BOND_SEPARATION = 3


@contextlib.contextmanager
def _quiet():
    """Silence PoseBusters' Python logging and RDKit's C++ log for the duration.

    Restores the previous global logging state afterwards, including the stream of
    ``rdkit.log_handler`` that PoseBusters re-points at the current ``sys.stderr`` (see
    :func:`engine.rdlog.rdkit_logs_disabled`); without that, a run under a temporary
    ``sys.stderr`` (pytest ``capsys``) leaves the handler on a closed stream and every later
    PoseBusters InChI check fails (``inchi_convertible`` False, energy ratio NaN).
    """
    loggers = [logging.getLogger(n) for n in ("posebusters", "rdkit")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with rdkit_logs_disabled():
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def single_conformer_mols(mol: Chem.Mol):
    """One copy of ``mol`` per conformer, each holding that conformer as id 0.

    Returns a list of ``(conf_id, Mol)`` in conformer order.
    """
    out = []
    for conf in mol.GetConformers():
        m = Chem.Mol(mol)
        m.RemoveAllConformers()
        m.AddConformer(Chem.Conformer(conf), assignId=True)
        out.append((conf.GetId(), m))
    return out


def _bust(singles, config):
    """One ``PoseBusters.bust`` call; ``singles`` are ``Mol`` or lossless ``Mol.ToBinary`` bytes."""
    from posebusters import PoseBusters

    singles = [Chem.Mol(m) if isinstance(m, bytes) else m for m in singles]
    with _quiet():
        raw = PoseBusters(config=config, max_workers=0).bust(singles)
    return raw.reset_index(drop=True)


def _chunks_by_molecule(keys, workers):
    """Split row numbers into <= ``workers`` contiguous chunks without splitting a molecule."""
    target = max(1, -(-len(keys) // workers))
    chunks: list[list[int]] = []
    current: list[int] = []
    for row, (mol_index, _) in enumerate(keys):
        if current and len(current) >= target and keys[current[-1]][0] != mol_index:
            chunks.append(current)
            current = []
        current.append(row)
    if current:
        chunks.append(current)
    return chunks


def posebusters_pass(mols: Sequence[Chem.Mol] | Chem.Mol, config: str = "mol", workers: int = 1):
    """PoseBusters checks on every conformer of every molecule.

    ``workers > 1`` runs the checks in that many processes (whole molecules per process).
    Returns ``(pass_fraction, table)``: ``table`` is a ``pandas.DataFrame`` with one row per
    conformer, columns ``mol_index``, ``conf_id``, one boolean column per check (NaN =
    could not be run) and ``pass`` (all checks True). ``pass_fraction`` is the share of
    rows with ``pass`` (NaN when there are no conformers).
    """
    import pandas as pd

    if isinstance(mols, Chem.Mol):
        mols = [mols]
    keys, singles = [], []
    for i, mol in enumerate(mols):
        if mol is None:
            raise InputError(f"molecule {i} is None")
        for conf_id, single in single_conformer_mols(mol):
            keys.append((i, conf_id))
            singles.append(single)
    if not singles:
        return float("nan"), pd.DataFrame(columns=["mol_index", "conf_id", "pass"])
    chunks = _chunks_by_molecule(keys, workers) if workers > 1 else [list(range(len(keys)))]
    if len(chunks) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=len(chunks)) as pool:
            exact = Chem.PropertyPickleOptions.CoordsAsDouble | Chem.PropertyPickleOptions.AllProps
            parts = list(pool.map(_bust, [[singles[r].ToBinary(exact) for r in c] for c in chunks],
                                  [config] * len(chunks)))
        raw = pd.concat(parts, ignore_index=True)
    else:
        raw = _bust(singles, config)
    checks = raw.astype("object")
    passed = checks.apply(lambda row: all(v is True or v is np.True_ for v in row), axis=1)
    table = pd.concat([
        pd.DataFrame(keys, columns=["mol_index", "conf_id"]),
        checks,
        pd.Series(passed.to_numpy(dtype=bool), name="pass"),
    ], axis=1)
    return float(table["pass"].mean()), table


def _positions(mol: Chem.Mol, conf_id: int) -> np.ndarray:
    if mol.GetNumConformers() == 0:
        raise InputError("molecule has no conformer")
    try:
        conf = mol.GetConformer(conf_id)
    except ValueError as exc:
        raise InputError(f"molecule has no conformer with id {conf_id}") from exc
    pos = np.asarray(conf.GetPositions(), dtype=np.float64)
    if not np.isfinite(pos).all():
        raise InputError(f"conformer {conf_id} has non-finite coordinates")
    return pos


def mmff_energy(mol: Chem.Mol, conf_id: int = -1):
    """MMFF94 energy (kcal/mol) of one conformer, or ``None`` if MMFF cannot parametrise it."""
    from rdkit.Chem import rdForceFieldHelpers

    with _quiet():
        try:
            m = Chem.Mol(mol)
            Chem.SanitizeMol(m)
            props = rdForceFieldHelpers.MMFFGetMoleculeProperties(m)
            if props is None:
                return None
            ff = rdForceFieldHelpers.MMFFGetMoleculeForceField(m, props, confId=conf_id)
            return None if ff is None else float(ff.CalcEnergy())
        except Exception:  # noqa: BLE001 - unsanitizable or unparametrisable: no energy
            return None


def quick_checks(mol: Chem.Mol, conf_id: int = -1) -> dict:
    """Fast geometry checks of one conformer (no PoseBusters).

    Returns a dict:
      ``bond_outliers``: list of ``(i, j, length, expected)`` for bonds whose length differs
      from the expected one by more than 25 %; ``num_bond_outliers``; expected is the
      middle of RDKit's distance bounds for the bond (its ideal length for the bond order
      and atom types, the bounds PoseBusters checks against), the covalent-radii sum where
      RDKit cannot build bounds;
      ``max_bond_deviation`` (largest relative deviation, 0 without bonds);
      ``clashes``: list of ``(i, j, distance, limit)`` for heavy-atom pairs at least three
      bonds apart closer than 0.7 × the vdW-radii sum; ``num_clashes``;
      ``mmff_energy`` (kcal/mol or ``None``); ``ok`` (no outliers and no clashes).
    """
    pos = _positions(mol, conf_id)
    table = Chem.GetPeriodicTable()
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    rcov = np.array([table.GetRcovalent(int(k)) for k in z])
    rvdw = np.array([table.GetRvdw(int(k)) for k in z])

    try:
        bounds = bounds_matrix(mol)
    except InputError:          # e.g. metal complexes: the covalent-radii sums below
        bounds = None
    bond_outliers, max_dev = [], 0.0
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        length = float(np.linalg.norm(pos[i] - pos[j]))
        if bounds is not None:
            lo, hi = bounds[max(i, j), min(i, j)], bounds[min(i, j), max(i, j)]
            expected = float(0.5 * (lo + hi))
        else:
            expected = float(rcov[i] + rcov[j])
        dev = abs(length - expected) / expected
        max_dev = max(max_dev, dev)
        if dev > BOND_TOLERANCE:
            bond_outliers.append((i, j, length, expected))

    clashes = []
    heavy = np.flatnonzero(z > 1)
    if len(heavy) > 1:
        topo = Chem.GetDistanceMatrix(mol)[np.ix_(heavy, heavy)]
        d = np.linalg.norm(pos[heavy, None, :] - pos[None, heavy, :], axis=-1)
        limit = CLASH_FACTOR * (rvdw[heavy, None] + rvdw[None, heavy])
        iu, ju = np.triu_indices(len(heavy), k=1)
        bad = (topo[iu, ju] >= CLASH_MIN_BOND_SEPARATION) & (d[iu, ju] < limit[iu, ju])
        for a, b in zip(iu[bad], ju[bad]):
            clashes.append((int(heavy[a]), int(heavy[b]), float(d[a, b]), float(limit[a, b])))

    return {
        "bond_outliers": bond_outliers,
        "num_bond_outliers": len(bond_outliers),
        "max_bond_deviation": float(max_dev),
        "clashes": clashes,
        "num_clashes": len(clashes),
        "mmff_energy": mmff_energy(mol, conf_id),
        "ok": not bond_outliers and not clashes,
    }
