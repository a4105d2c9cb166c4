"""Salts, solvates and mixtures in ``sample`` and ``baseline`` (see ``engine.fragments``).

``expand`` turns the input records of one round into embedding jobs (one per molecule, or
one per component with ``--keep-fragments``) with their random-stream keys; ``write_back``
puts the embedded jobs together again and writes them, reporting on stderr what was
removed, kept or could not be embedded.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from engine.commands._output import input_name


@dataclass
class Item:
    index: int
    mol: object = None
    error: str | None = None
    jobs: list[int] = field(default_factory=list)   # positions in the job list
    split: object = None                            # engine.fragments.Split (--keep-fragments)
    removed: list[str] = field(default_factory=list)


def expand(records, keep_fragments: bool):
    """``(items, jobs, keys)`` for records ``(index, mol, error)`` of ``iter_molecules``."""
    from engine.fragments import fragment_count, largest_fragment, split_components, with_hydrogens

    items: list[Item] = []
    jobs: list = []
    keys: list[tuple[int, ...]] = []
    for index, mol, error in records:
        item = Item(index, mol, error)
        items.append(item)
        if mol is None:
            continue
        try:
            count = fragment_count(mol)
            if count > 1 and keep_fragments:
                item.split = split_components(with_hydrogens(mol))
                for j, part in enumerate(item.split.parts):
                    item.jobs.append(len(jobs))
                    jobs.append(part)
                    keys.append((index, j))
                continue
            if count > 1:
                mol, item.removed = largest_fragment(mol)
        except Exception as exc:  # noqa: BLE001 - RDKit raises assorted errors
            item.error = f"cannot split into fragments: {type(exc).__name__}: {exc}"
            item.mol = None
            continue
        item.jobs.append(len(jobs))
        jobs.append(mol)
        keys.append((index,))
    return items, jobs, keys


def write_back(items, results, out, finish: Callable | None = None) -> None:
    """Write every item from its jobs' ``results`` (a ``Chem.Mol`` or an exception each);
    ``finish(mol)`` runs on each molecule before it is written (per-conformer results)."""
    from rdkit import Chem

    from engine.fragments import assemble

    for item in items:
        if item.mol is None:
            out.fail(item.index, item.error or "could not be read")
            continue
        name = input_name(item.mol)
        if item.split is None:
            res = results[item.jobs[0]]
            if isinstance(res, Exception):
                out.fail(item.index, str(res))
                continue
            if item.removed:
                removed = ".".join(item.removed)
                res.SetProp("removed_fragments", removed)
                out.note(item.index, f"kept the largest organic fragment {Chem.MolToSmiles(Chem.RemoveHs(res))}; "
                                     f"removed {removed} (--keep-fragments keeps all)")
            if finish is not None:
                finish(res)
            out.write(res, name, item.index)
            continue
        parts = [results[j] for j in item.jobs]
        parts_ok = [p if not isinstance(p, Exception) else None for p in parts]
        if not any(p is not None for p in parts_ok):
            out.fail(item.index, "no component could be embedded: " +
                     "; ".join(f"{s}: {p}" for s, p in zip(item.split.smiles, parts)))
            continue
        try:
            whole, dropped = assemble(item.split, parts_ok)
        except Exception as exc:  # noqa: BLE001
            out.fail(item.index, f"cannot assemble the components: {exc}")
            continue
        whole.SetIntProp("fragments", len(parts) - len(dropped))
        if dropped:
            failed = ".".join(item.split.smiles[j] for j in dropped)
            whole.SetProp("failed_fragments", failed)
            for j in dropped:
                out.warn(item.index, f"component {j + 1} of {len(parts)} ({item.split.smiles[j]}) could not be "
                                     f"embedded: {parts[j]}; written without it")
        if finish is not None:
            finish(whole)
        out.write(whole, name, item.index)
