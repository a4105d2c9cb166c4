"""Target geometries for one molecule: ETKDGv3 (seeded) + MMFF94, stereo-checked.

``make_conformers`` runs in a worker process and never raises for a chemistry problem:
it returns a record with ``status`` "ok" (arrays) or "failed" (a reason).
"""
from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["molecule_seed", "make_conformers"]


def molecule_seed(seed: int, smiles: str) -> int:
    """Per-molecule embedding seed: independent of shard, worker and order."""
    digest = hashlib.sha256(f"{seed}:{smiles}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _optimise(mol, force_field: str, max_iters: int) -> tuple[str, np.ndarray]:
    from rdkit.Chem import AllChem

    n = mol.GetNumConformers()
    if force_field == "none" or max_iters == 0:
        return "none", np.full(n, np.nan)
    if AllChem.MMFFHasAllMoleculeParams(mol):
        res = AllChem.MMFFOptimizeMoleculeConfs(mol, numThreads=1, maxIters=max_iters)
        return "mmff", np.array([e for _, e in res], dtype=np.float64)
    if AllChem.UFFHasAllMoleculeParams(mol):
        res = AllChem.UFFOptimizeMoleculeConfs(mol, numThreads=1, maxIters=max_iters)
        return "uff", np.array([e for _, e in res], dtype=np.float64)
    return "none", np.full(n, np.nan)


def make_conformers(item: tuple[int, str], *, num_confs: int, prune_rms: float,
                    force_field: str, max_ff_iters: int, seed: int,
                    embed_attempts: int = 10, max_isomers: int = 4) -> dict:
    """Conformers of one molecule ``item = (index, canonical_smiles)``.

    Unspecified stereo is fixed to the first of up to ``max_isomers`` enumerated
    stereoisomers that embeds (``embed_attempts`` ETKDG attempts per conformer).

    Returns ``{"index", "source_smiles", "smiles", "status", ...}``; for "ok" also
    ``atomic_numbers (N,) int8``, ``bonds (Eb, 2) int32``, ``bond_orders (Eb,) float32``,
    ``features (N, F) int8``, ``positions (C, N, 3) float32``, ``energies (C,) float64``
    and ``force_field``; for "failed" a ``reason``.
    """
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem

    from engine.chem.features import atom_features
    from engine.chem.graph import bond_orders
    from engine.chem.stereo import stereo_ok
    from engine.data.filters import stereo_isomers

    index, source_smiles = item
    record = {"index": int(index), "source_smiles": source_smiles, "smiles": source_smiles}
    RDLogger.DisableLog("rdApp.*")
    try:
        isomers = stereo_isomers(source_smiles, max_isomers)
        for smiles in isomers:
            mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
            params = AllChem.ETKDGv3()
            params.randomSeed = molecule_seed(seed, smiles)
            params.pruneRmsThresh = float(prune_rms)
            params.maxIterations = int(embed_attempts)
            params.numThreads = 1
            cids = list(AllChem.EmbedMultipleConfs(mol, num_confs, params))
            if cids:
                record["smiles"] = smiles
                break
        else:
            return {**record, "status": "failed", "reason": "ETKDGv3 embedding failed "
                    f"({len(isomers)} stereoisomer(s) tried)"}
        ff, energies = _optimise(mol, force_field, max_ff_iters)
        positions, kept_e = [], []
        for k, conf in enumerate(mol.GetConformers()):
            x = conf.GetPositions()
            if np.all(np.isfinite(x)) and stereo_ok(mol, x):
                positions.append(x)
                kept_e.append(energies[k])
        if not positions:
            return {**record, "status": "failed",
                    "reason": f"stereo wrong in all {len(cids)} conformers after {ff}"}
        bonds, orders = bond_orders(mol)
        return {
            **record,
            "status": "ok",
            "force_field": ff,
            "atomic_numbers": np.array([a.GetAtomicNum() for a in mol.GetAtoms()],
                                       dtype=np.int8),
            "bonds": bonds.astype(np.int32),
            "bond_orders": orders.astype(np.float32),
            "features": atom_features(mol).astype(np.int8),
            "positions": np.stack(positions).astype(np.float32),
            "energies": np.array(kept_e, dtype=np.float64),
        }
    except Exception as exc:  # noqa: BLE001 - a molecule's failure is data, not a crash
        return {**record, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
    finally:
        RDLogger.EnableLog("rdApp.*")
