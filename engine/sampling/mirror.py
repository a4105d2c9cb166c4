"""Mirror images: a molecule without chirality tags has its conformers' mirror images as
conformers (same energy; a reflection turns every torsion's sign, never its size), so the
K conformers ``sample`` writes for it are the K most diverse of fewer samples and their
images (``engine.defaults.DEFAULT_MIRROR_IMAGES``, ``MIRROR_SAMPLE_FRACTION``)."""
from __future__ import annotations

import math

import numpy as np

from engine.defaults import MIRROR_SAMPLE_FRACTION
from engine.sampling.report import GenerationReport

__all__ = ["mirror_eligible", "mirror_sample_count", "with_mirror_images", "MIRROR_SAME_RMSD"]

# Heavy-atom RMSD (Å) under which a mirror image counts as its own sample (the GEOM
# metrics' coverage threshold for drug-like molecules is 0.75 Å).
MIRROR_SAME_RMSD = 0.25


def mirror_eligible(mol) -> bool:
    """Whether ``mol`` (no chirality tags, at least 3 heavy atoms) has its conformers'
    mirror images as conformers of the same molecule."""
    from engine.chem.conformers import has_specified_chirality

    return not has_specified_chirality(mol) and sum(a.GetAtomicNum() > 1 for a in mol.GetAtoms()) >= 3


def mirror_sample_count(num_confs: int) -> int:
    """How many samples a molecule with mirror images gets for ``num_confs`` conformers
    (:data:`engine.defaults.MIRROR_SAMPLE_FRACTION` of them, rounded up)."""
    return num_confs if num_confs < 2 else max(2, math.ceil(MIRROR_SAMPLE_FRACTION * num_confs - 1e-9))


def with_mirror_images(mol, written: list, report: GenerationReport, k: int) -> list:
    """The ``k`` most diverse of ``written`` (``(xyz, energy, stereo_flag)``) and their
    mirror images (MaxMin on symmetry-aware heavy-atom RMSD, the first sample first). A
    mirror image has the same energy and the same stereo verdict: a reflection turns a
    torsion's sign, never its size, so E/Z stays. Fewer than ``k`` only when the samples
    and all their images are fewer."""
    from engine.chem.conformers import best_rmsd_matrix, diverse_subset, mirror_image

    n = len(written)
    pool = list(written) + [(mirror_image(xyz), energy, flag) for xyz, energy, flag in written]
    dist = best_rmsd_matrix(mol, [xyz for xyz, _, _ in pool])
    # an image within MIRROR_SAME_RMSD of its own sample is that conformer (an achiral
    # shape, e.g. a flat one): offered only when the others are too few, so that float
    # noise cannot swap the two
    distinct = [n + j for j in range(n) if dist[j, n + j] >= MIRROR_SAME_RMSD]
    same = [n + j for j in range(n) if dist[j, n + j] < MIRROR_SAME_RMSD]
    offered = list(range(n)) + distinct
    offered += same[:max(0, k - len(offered))]
    keep = [offered[j] for j in diverse_subset(dist[np.ix_(offered, offered)], k)]
    report.mirror_images += sum(j >= n for j in keep)
    return [pool[j] for j in keep]
