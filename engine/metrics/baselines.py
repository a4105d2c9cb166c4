"""The baseline a chemist would use: RDKit ETKDGv3 conformers, optionally MMFF94-optimised."""
from __future__ import annotations

import time
from dataclasses import dataclass

from rdkit import Chem
from rdkit.Chem import rdDistGeom, rdForceFieldHelpers

from engine.errors import InputError


@dataclass
class BaselineTiming:
    """Wall-clock seconds of one ``etkdg_conformers`` call."""

    embed_s: float = 0.0
    mmff_s: float = 0.0
    num_confs: int = 0
    mmff_applied: bool = False    # False when MMFF was off or could not parametrise the molecule

    @property
    def total_s(self) -> float:
        return self.embed_s + self.mmff_s


def etkdg_conformers(mol: Chem.Mol, num_confs: int, seed: int = 0xF00D, mmff: bool = True,
                     num_threads: int = 0, max_mmff_iters: int = 2000,
                     return_timing: bool = False):
    """ETKDGv3 conformers of ``mol`` (+ MMFF94 optimisation).

    Hydrogens are added (with coordinates where a conformer exists) when ``mol`` has
    implicit ones. Existing conformers are discarded. ``num_threads=0`` uses all cores.
    If ETKDG fails with the default settings it retries once with random initial
    coordinates. MMFF is skipped silently for molecules MMFF cannot parametrise
    (``BaselineTiming.mmff_applied`` says whether it ran).

    Returns a new ``Mol`` with exactly ``num_confs`` conformers (ids 0..K-1), or
    ``(mol, BaselineTiming)`` when ``return_timing``. Raises ``InputError`` when the
    molecule cannot be embedded.
    """
    if mol is None:
        raise InputError("molecule is None")
    if num_confs < 1:
        raise InputError(f"num_confs must be >= 1, got {num_confs}")
    timing = BaselineTiming()
    # AddHs only adds the implicit hydrogens: a molecule that already has them is unchanged.
    m = Chem.AddHs(mol, addCoords=mol.GetNumConformers() > 0)
    m.RemoveAllConformers()

    params = rdDistGeom.ETKDGv3()
    params.randomSeed = int(seed) & 0x7FFFFFFF
    params.numThreads = int(num_threads)
    params.pruneRmsThresh = -1.0
    t0 = time.perf_counter()
    cids = list(rdDistGeom.EmbedMultipleConfs(m, num_confs, params))
    if len(cids) < num_confs:
        params.useRandomCoords = True
        m.RemoveAllConformers()
        cids = list(rdDistGeom.EmbedMultipleConfs(m, num_confs, params))
    timing.embed_s = time.perf_counter() - t0
    if len(cids) < num_confs:
        raise InputError(
            f"ETKDGv3 embedded only {len(cids)} of {num_confs} conformers of "
            f"{Chem.MolToSmiles(Chem.RemoveHs(m))}")

    if mmff:
        t0 = time.perf_counter()
        if rdForceFieldHelpers.MMFFHasAllMoleculeParams(m):
            rdForceFieldHelpers.MMFFOptimizeMoleculeConfs(
                m, numThreads=int(num_threads), maxIters=max_mmff_iters)
            timing.mmff_applied = True
        timing.mmff_s = time.perf_counter() - t0
    timing.num_confs = m.GetNumConformers()
    return (m, timing) if return_timing else m
