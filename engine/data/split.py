"""Scaffold split: molecules sharing a generic Bemis–Murcko scaffold stay together."""
from __future__ import annotations

import hashlib
from collections import defaultdict

__all__ = ["generic_scaffold", "scaffold_split"]


def generic_scaffold(smiles: str) -> str:
    """Canonical SMILES of the generic Bemis–Murcko scaffold (all atoms C, all bonds
    single); "" for acyclic molecules."""
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    mol = Chem.MolFromSmiles(smiles)
    core = MurckoScaffold.GetScaffoldForMol(mol)
    if core.GetNumAtoms() == 0:
        return ""
    return Chem.MolToSmiles(MurckoScaffold.MakeScaffoldGeneric(core))


def scaffold_split(items: list[tuple[int, str]], fractions=(0.8, 0.1, 0.1),
                   seed: int = 0) -> dict[str, list[int]]:
    """Split ``(index, smiles)`` items into ``{"train", "val", "test"}`` index lists.

    Scaffold groups are ordered by size (largest first), ties by a seeded hash of the
    scaffold; each group goes whole to train while it fits under its quota, else to
    val, else to test. Deterministic; index lists are sorted.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for index, smiles in items:
        groups[generic_scaffold(smiles)].append(int(index))

    def tie(s):
        return hashlib.sha256(f"{seed}:{s}".encode()).hexdigest()

    order = sorted(groups, key=lambda s: (-len(groups[s]), tie(s)))
    n = len(items)
    caps = {"train": fractions[0] * n, "val": fractions[1] * n}
    out: dict[str, list] = {"train": [], "val": [], "test": []}
    for s in order:
        g = groups[s]
        if len(out["train"]) + len(g) <= caps["train"]:
            out["train"].extend(g)
        elif len(out["val"]) + len(g) <= caps["val"]:
            out["val"].extend(g)
        else:
            out["test"].extend(g)
    return {k: sorted(v) for k, v in out.items()}
