"""Evaluate generated conformers against reference ones (what ``python -m engine evaluate`` runs).

Records of two SD files are grouped into molecules, each molecule gets its RMSD matrix and
COV/AMR metrics (``engine.metrics.rmsd``), and every generated conformer goes through the
PoseBusters "mol" checks (``engine.metrics.validity``). The result is a JSON-ready dict.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor

from rdkit import Chem

from engine.errors import InputError
from engine.metrics.rmsd import (
    DEFAULT_MAX_MATCHES,
    METRIC_KEYS,
    aggregate_metrics,
    coverage_metrics,
    rmsd_matrix,
)
from engine.rdlog import rdkit_logs_disabled


def read_sdf_records(path) -> tuple[list, list]:
    """All records of an SD file, hydrogens kept: ``(mols, problems)``.

    ``mols`` holds one entry per record (``None`` for a record RDKit cannot parse);
    ``problems`` holds a message per unparsable record. Raises ``InputError`` for a
    missing file or a file that is not ``.sdf``.
    """
    path = os.fspath(path)
    if not path.lower().endswith(".sdf"):
        raise InputError("expected an .sdf file", path=path)
    if not os.path.isfile(path):
        raise InputError("file not found", path=path)
    with rdkit_logs_disabled():
        mols = list(Chem.SDMolSupplier(path, removeHs=False, sanitize=True))
    problems = [f"{path}: record {i} could not be parsed, skipped"
                for i, m in enumerate(mols) if m is None]
    return mols, problems


def _input_index(mol):
    if mol is None or not mol.HasProp("input_index"):
        return None
    try:
        return int(mol.GetProp("input_index"))
    except ValueError:
        return None


def _smiles_key(mol) -> str:
    heavy = Chem.RemoveHs(mol, sanitize=False)
    return Chem.MolToSmiles(heavy, isomericSmiles=False)


def group_records(ref_mols: list, gen_mols: list):
    """Group records into molecules: ``(mode, ref_groups, gen_groups)``.

    ``mode`` is ``"input_index"`` when every parsed record of both lists carries an integer
    ``input_index``, else ``"smiles"``. Each group maps a key to the list of record numbers.
    """
    parsed = [m for m in ref_mols + gen_mols if m is not None]
    by_index = bool(parsed) and all(_input_index(m) is not None for m in parsed)
    key = _input_index if by_index else _smiles_key
    groups = []
    for mols in (ref_mols, gen_mols):
        g: dict = {}
        for i, m in enumerate(mols):
            if m is not None:
                g.setdefault(key(m), []).append(i)
        groups.append(g)
    return ("input_index" if by_index else "smiles"), groups[0], groups[1]


_EXACT_PICKLE = Chem.PropertyPickleOptions.CoordsAsDouble | Chem.PropertyPickleOptions.AllProps


def _to_bytes(mols):
    """Lossless serialisation for worker processes (plain pickling rounds coordinates to float32)."""
    return [m.ToBinary(_EXACT_PICKLE) for m in mols]


def _molecule_task(key, ref, gen, threshold, max_matches):
    """One molecule's RMSD matrix and metrics (runs in a worker process when asked).

    ``ref`` / ``gen``: lists of ``Mol`` or of ``Mol.ToBinary`` bytes.
    """
    ref = [Chem.Mol(m) if isinstance(m, bytes) else m for m in ref]
    gen = [Chem.Mol(m) if isinstance(m, bytes) else m for m in gen]
    try:
        rmsd, info = rmsd_matrix(ref, gen, max_matches=max_matches, return_info=True)
    except InputError as exc:
        return key, None, str(exc)
    metrics = coverage_metrics(rmsd, threshold)
    metrics.update({
        "min_rmsd": float(rmsd.min()),
        "symmetry_maps": info.num_matches,
        "rmsd_upper_bound": bool(info.truncated or info.time_limited),
        "rmsd_seconds": round(info.seconds, 4),
    })
    return key, metrics, None


def _nan_to_none(x):
    return None if isinstance(x, float) and math.isnan(x) else x


def evaluate_files(ref_path, gen_path, *, threshold: float = 0.75, posebusters: bool = True,
                   workers: int = 1, max_matches: int | None = None, progress=None) -> dict:
    """Evaluate ``gen_path`` against ``ref_path`` (both SD files); see ``evaluate_records``."""
    ref_mols, p_ref = read_sdf_records(ref_path)
    gen_mols, p_gen = read_sdf_records(gen_path)
    result = evaluate_records(ref_mols, gen_mols, threshold=threshold, posebusters=posebusters,
                              workers=workers, max_matches=max_matches, progress=progress)
    result["ref"], result["gen"] = os.fspath(ref_path), os.fspath(gen_path)
    result["problems"] = p_ref + p_gen + result["problems"]
    return result


def evaluate_records(ref_mols: list, gen_mols: list, *, threshold: float = 0.75,
                     posebusters: bool = True, workers: int = 1,
                     max_matches: int | None = None, progress=None) -> dict:
    """COV/AMR per molecule and aggregated, plus the PoseBusters pass rate of ``gen_mols``.

    ``progress(done, total, stage)`` (optional) is called after each molecule's RMSD matrix
    (stage ``"rmsd"``) and once before and after the PoseBusters checks (``"posebusters"``).

    ``ref_mols`` / ``gen_mols``: one RDKit ``Mol`` per conformer record (``None`` entries are
    skipped). Returns a dict with ``threshold``, ``grouping``, ``molecules`` (one dict per
    molecule present in both: key, name, smiles, n_ref, n_gen, cov_r, amr_r, cov_p, amr_p,
    min_rmsd, posebusters_pass), ``aggregate`` (``num_molecules``, ``mean``, ``median``,
    ``posebusters_pass``, ``num_gen_conformers``), ``only_in_ref``, ``only_in_gen``,
    ``errors`` (molecules whose RMSD could not be computed) and ``problems`` (messages).
    """
    max_matches = DEFAULT_MAX_MATCHES if max_matches is None else int(max_matches)
    mode, ref_groups, gen_groups = group_records(ref_mols, gen_mols)
    common = [k for k in ref_groups if k in gen_groups]
    only_ref = [k for k in ref_groups if k not in gen_groups]
    only_gen = [k for k in gen_groups if k not in ref_groups]
    problems = [f"molecule {k!r}: in the reference only, skipped" for k in only_ref]
    problems += [f"molecule {k!r}: in the generated file only, skipped" for k in only_gen]

    tasks = [(k, [ref_mols[i] for i in ref_groups[k]], [gen_mols[i] for i in gen_groups[k]],
              threshold, max_matches) for k in common]
    if workers > 1 and len(tasks) > 1:
        packed = [(k, _to_bytes(r), _to_bytes(g), t, mm) for k, r, g, t, mm in tasks]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            outcomes = []
            for outcome in pool.map(_molecule_task, *zip(*packed)):
                outcomes.append(outcome)
                if progress is not None:
                    progress(len(outcomes), len(tasks), "rmsd")
    else:
        outcomes = []
        for t in tasks:
            outcomes.append(_molecule_task(*t))
            if progress is not None:
                progress(len(outcomes), len(tasks), "rmsd")

    molecules, errors = [], []
    for (key, metrics, error), task in zip(outcomes, tasks):
        first = task[1][0]  # name and SMILES come from the first reference record
        entry = {
            "key": key,
            "name": first.GetProp("_Name") if first.HasProp("_Name") else "",
            "smiles": _smiles_key(first),
            "n_ref": len(task[1]),
            "n_gen": len(task[2]),
        }
        if error is not None:
            errors.append({**entry, "error": error})
            problems.append(f"molecule {key!r}: {error}")
            continue
        entry.update(metrics)
        molecules.append(entry)

    aggregate = aggregate_metrics(molecules)
    aggregate["num_gen_conformers"] = sum(m is not None for m in gen_mols)
    aggregate["posebusters_pass"] = None
    if posebusters:
        from engine.metrics.validity import posebusters_pass

        valid_gen = [i for i, m in enumerate(gen_mols) if m is not None]
        if progress is not None:
            progress(0, len(valid_gen), "posebusters")
        frac, table = posebusters_pass([gen_mols[i] for i in valid_gen], workers=workers)
        if progress is not None:
            progress(len(valid_gen), len(valid_gen), "posebusters")
        aggregate["posebusters_pass"] = _nan_to_none(frac)
        record_pass = dict(zip((valid_gen[j] for j in table["mol_index"]), table["pass"]))
        for entry in molecules:
            flags = [bool(record_pass[i]) for i in gen_groups[entry["key"]]]
            entry["posebusters_pass"] = sum(flags) / len(flags)
    for section in ("mean", "median"):
        aggregate[section] = {k: _nan_to_none(v) for k, v in aggregate[section].items()}

    return {
        "threshold": threshold,
        "grouping": mode,
        "molecules": molecules,
        "aggregate": aggregate,
        "only_in_ref": only_ref,
        "only_in_gen": only_gen,
        "errors": errors,
        "problems": problems,
    }


def _fmt(x, spec=".3f"):
    return "-" if x is None else format(x, spec)


def format_table(result: dict) -> str:
    """A readable text table of ``evaluate_records``'s result."""
    head = f"{'molecule':<12} {'name':<16} {'Kref':>4} {'Kgen':>4} " + " ".join(
        f"{k.upper().replace('_', '-'):>6}" for k in METRIC_KEYS) + f" {'PB':>6}"
    lines = [f"threshold {result['threshold']} A, grouped by {result['grouping']}", head,
             "-" * len(head)]
    for m in result["molecules"]:
        lines.append(f"{str(m['key'])[:12]:<12} {m['name'][:16]:<16} {m['n_ref']:>4} {m['n_gen']:>4} "
                     + " ".join(f"{m[k]:>6.3f}" for k in METRIC_KEYS)
                     + f" {_fmt(m.get('posebusters_pass')):>6}")
    agg = result["aggregate"]
    lines.append("-" * len(head))
    for section in ("mean", "median"):
        lines.append(f"{section:<12} {'(' + str(agg['num_molecules']) + ' molecules)':<16} {'':>4} {'':>4} "
                     + " ".join(f"{_fmt(agg[section][k]):>6}" for k in METRIC_KEYS))
    lines.append(f"PoseBusters 'mol' pass rate: {_fmt(agg['posebusters_pass'])} "
                 f"of {agg['num_gen_conformers']} generated conformers")
    if result["only_in_ref"] or result["only_in_gen"] or result["errors"]:
        lines.append(f"skipped: {len(result['only_in_ref'])} only in reference, "
                     f"{len(result['only_in_gen'])} only in generated, "
                     f"{len(result['errors'])} failed")
    return "\n".join(lines)


__all__ = ("read_sdf_records", "group_records", "evaluate_files",
                          "evaluate_records", "format_table")
