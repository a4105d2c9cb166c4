"""The force-field stages of the pipeline: MMFF94 (UFF where MMFF has no parameters),
cis amides turned trans, and centres MMFF94 inverted flipped back.

Rows are ``(molecule index, slot, xyz, MMFF94 energy or None, polished xyz or None)``, one
per conformer of a polish group; the stages change them in place. With ``on_frame`` the
minimisation is recorded (RDKit's ``MinimizeTrajectory``: the same iterations and result
as ``MMFFOptimizeMoleculeConfs``, a snapshot every few iterations) and reported as
``MMFF94`` frames (:mod:`engine.sampling.frames`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from engine.sampling.frames import FrameCallback, StageFrame, frame_stride
from engine.sampling.report import GenerationReport

__all__ = ["relax_conformers", "relax_rows", "turn_cis_amides", "stereo_candidates", "flip_and_relax",
           "FLIP_ENERGY_MARGIN"]

# The most a stereo-repaired conformer's MMFF94 energy may lie above the minimum MMFF
# found with the wrong stereo (kcal/mol; diastereomers differ by a few tens).
FLIP_ENERGY_MARGIN = 50.0


def _minimise_recorded(ff, max_iters: int, num_atoms: int) -> tuple:
    """``ff.MinimizeTrajectory``: ``(points (k, N, 3), energies (k,), converged)``; the
    last snapshot is the final state (RDKit appends it)."""
    from rdkit.Chem import rdtrajectory

    status, snaps = ff.MinimizeTrajectory(frame_stride(max_iters), maxIts=int(max_iters))
    traj = rdtrajectory.Trajectory(3, num_atoms)
    for snap in snaps:
        traj.AddSnapshot(snap)
    points = np.array([[list(traj.GetSnapshot(k).GetPoint3D(j)) for j in range(num_atoms)]
                       for k in range(len(traj))], dtype=np.float64).reshape(len(traj), num_atoms, 3)
    energies = np.array([traj.GetSnapshot(k).GetEnergy() for k in range(len(traj))], dtype=np.float64)
    return points, energies, status == 0


def relax_conformers(mol, max_iters: int, fixed: Sequence[int] | None = None,
                     num_threads: int = 0, snapshots: list | None = None) -> tuple[str, list[float]]:
    """MMFF94 (or UFF where MMFF has no parameters) optimisation of every conformer of
    ``mol`` in place, at most ``max_iters`` iterations each; ``fixed`` atom indices do not
    move. Returns the force field used (``"none"`` when neither has parameters) and the
    final energy of every conformer (kcal/mol). ``snapshots`` (a list): each conformer's
    recorded minimisation is appended (see :func:`_minimise_recorded`); same result."""
    from rdkit.Chem import AllChem

    from engine.rdlog import capture_rdkit_log

    fixed = [] if fixed is None else [int(i) for i in fixed]
    with capture_rdkit_log():     # the typers' complaints: the caller reports "none" itself
        has_mmff = AllChem.MMFFHasAllMoleculeParams(mol)
        has_uff = not has_mmff and AllChem.UFFHasAllMoleculeParams(mol)
    if has_mmff:
        name = "mmff"
        if not fixed and snapshots is None:
            res = AllChem.MMFFOptimizeMoleculeConfs(mol, numThreads=int(num_threads), maxIters=int(max_iters))
            return name, [float(e) for _, e in res]
        props = AllChem.MMFFGetMoleculeProperties(mol)
        make = lambda cid: AllChem.MMFFGetMoleculeForceField(mol, props, confId=cid)  # noqa: E731
    elif has_uff:
        name = "uff"
        if not fixed and snapshots is None:
            res = AllChem.UFFOptimizeMoleculeConfs(mol, numThreads=int(num_threads), maxIters=int(max_iters))
            return name, [float(e) for _, e in res]
        make = lambda cid: AllChem.UFFGetMoleculeForceField(mol, confId=cid)  # noqa: E731
    else:
        return "none", []
    energies = []
    for conf in mol.GetConformers():
        ff = make(conf.GetId())
        for i in fixed:
            ff.AddFixedPoint(i)
        if snapshots is None:
            ff.Minimize(maxIts=int(max_iters))
        else:
            snapshots.append(_minimise_recorded(ff, max_iters, mol.GetNumAtoms()))
        energies.append(float(ff.CalcEnergy()))
    return name, energies


def minimise(mol, coords: list, max_iters: int, fixed, threads: int,
             snapshots: list | None = None) -> tuple[str, list]:
    """One :func:`relax_conformers` call on ``coords`` (a list of ``(N, 3)``) of ``mol``:
    the force field used and, per input, ``(xyz, MMFF94 energy or None)`` or ``None``
    (not finite). Conformers stay centred unless atoms are ``fixed`` (MMFF can drift the
    centroid); recorded ``snapshots`` are centred the same way."""
    from engine.chem.conformers import mol_with_conformers

    m = mol_with_conformers(mol, coords)
    used, energies = relax_conformers(m, max_iters, fixed=None if fixed is None else fixed[0],
                                      num_threads=threads, snapshots=snapshots)
    out: list = []
    for cid in range(len(coords)):
        xyz = m.GetConformer(cid).GetPositions()
        if fixed is None:
            xyz = xyz - xyz.mean(0)
            if snapshots is not None and cid < len(snapshots):
                points, snap_energies, converged = snapshots[cid]
                snapshots[cid] = (points - points.mean(1, keepdims=True), snap_energies, converged)
        energy = energies[cid] if used == "mmff" and cid < len(energies) else None
        out.append((xyz, energy) if np.all(np.isfinite(xyz)) else None)
    return used, out


def minimise_molecules(jobs: list, max_iters: int, fixed, threads: int, snapshots: list | None = None) -> list:
    """:func:`minimise` for every ``(mol, coords)`` of ``jobs``: the result or the
    exception per job, in order. Without fixed atoms the molecules are spread over
    ``threads`` threads, one molecule per thread (RDKit releases the GIL while it
    minimises); one multi-threaded call per molecule left a core idle while the slowest
    conformer of each call finished (measured on 1,321 conformers of 160 molecules, 2
    cores, MMFF94 500: 35.6 s as one call per molecule, 31.9 s spread over molecules).
    ``snapshots`` (a list): one list of recorded minimisations per job is appended (in
    one thread: recording is for the app's single conformer)."""
    pool = fixed is None and threads > 1 and len(jobs) > 1 and snapshots is None

    def one(job):
        recorded: list | None = None if snapshots is None else []
        if snapshots is not None:
            snapshots.append(recorded)
        try:
            return minimise(job[0], job[1], max_iters, fixed, 1 if pool else threads, recorded)
        except Exception as exc:  # noqa: BLE001 - RDKit raises plain RuntimeErrors
            return exc

    if not pool:
        return [one(job) for job in jobs]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(threads, len(jobs))) as ex:
        return list(ex.map(one, jobs))


def emit_rows(on_frame: FrameCallback | None, rows: list, stage: str, step: int = 1, total: int = 1,
              energy: float | None = None, done: bool = True) -> None:
    """Report the rows' current coordinates as one frame of ``stage``."""
    if on_frame is None or not rows:
        return
    on_frame(StageFrame(stage, step, total, 0.0, np.concatenate([np.asarray(r[2]) for r in rows]),
                        jobs=tuple((r[0], r[1]) for r in rows), energy=energy, done=done))


def _emit_minimisation(on_frame: FrameCallback, rows: list, recorded: dict, stage: str, total: int) -> None:
    """The recorded minimisations of ``rows`` as frames: snapshot k of every row (a row
    that converged earlier stays at its last state). ``recorded``: row -> snapshots."""
    every = frame_stride(total)
    count = max((len(points) for points, _, _ in recorded.values()), default=0)
    for k in range(count):
        coords, energy, done = [], 0.0, True
        for n, row in enumerate(rows):
            if n not in recorded:
                coords.append(np.asarray(row[2]))
                continue
            points, energies, converged = recorded[n]
            j = min(k, len(points) - 1)
            coords.append(points[j])
            energy += float(energies[j])
            done &= j == len(points) - 1
        if done:            # the final state: converged, or stopped at the cap
            converged = all(c for _, _, c in recorded.values())
            step = min(k * every, total - 1) if converged else total
        else:
            step = min((k + 1) * every, total)
        on_frame(StageFrame(stage, step, total, 0.0, np.concatenate(coords),
                            jobs=tuple((r[0], r[1]) for r in rows), energy=energy, done=done))


def relax_rows(prepared, rows: list, max_iters: int, fixed, report: GenerationReport,
               on_frame: FrameCallback | None = None) -> None:
    """MMFF94 on the rows of one polish group, in place (per molecule: its conformers in
    this group together): ``xyz`` becomes the relaxed coordinates, ``energy`` their MMFF94
    energy (kcal/mol), ``polished`` the coordinates before. A molecule the force field
    cannot treat keeps its polished conformers and is reported."""
    by_mol: dict[int, list[int]] = {}
    for n, row in enumerate(rows):
        by_mol.setdefault(row[0], []).append(n)
    snapshots: list | None = None if on_frame is None else []
    results = minimise_molecules([(prepared[i].mol, [rows[n][2] for n in ns]) for i, ns in by_mol.items()],
                                 max_iters, fixed, torch.get_num_threads(), snapshots)
    recorded: dict = {}
    names = set()
    for k, ((i, ns), result) in enumerate(zip(by_mol.items(), results)):
        if isinstance(result, Exception):
            report.warn(i, f"not relaxed with MMFF94 ({result}); conformers as polished")
            continue
        used, relaxed = result
        if used == "none":
            report.warn(i, "not relaxed: neither MMFF94 nor UFF has parameters for it")
            continue
        names.add("UFF" if used == "uff" else "MMFF94")
        for j, (n, res) in enumerate(zip(ns, relaxed)):
            if res is not None:
                rows[n] = (rows[n][0], rows[n][1], *res, rows[n][2])
                if snapshots is not None and j < len(snapshots[k]):
                    recorded[n] = snapshots[k][j]
    if on_frame is not None and recorded:
        _emit_minimisation(on_frame, rows, recorded, "UFF" if names == {"UFF"} else "MMFF94", int(max_iters))


def turn_cis_amides(prepared, rows: list, relax: int, report: GenerationReport, amides: dict,
                    on_frame: FrameCallback | None = None) -> None:
    """Relaxed conformers (rows ``(molecule index, slot, xyz, MMFF94 energy, polished)``)
    with a *cis* acyclic secondary amide, in place: its amides turned trans
    (``engine.chem.conformers.turn_amide``, one side of the C–N bond rotated by 180°) and
    minimised again, the molecules over torch's threads; kept when the MMFF94 energy is
    not higher and every amide is trans. The network draws some amides cis (3.8 % of 730
    amides on 160 validation molecules; ETKDG: none); MMFF keeps them, and a cis amide
    can break PoseBusters' 1-5 distance bounds. ``amides`` caches each molecule's
    amides. With ``on_frame``, an ``amide`` frame when a conformer was turned."""
    from engine.chem.conformers import cis_amides, secondary_amides, turn_amide

    by_mol: dict[int, list] = {}
    for n, (i, _, xyz, energy, _) in enumerate(rows):
        if energy is None:                 # not minimised with MMFF94: nothing to compare
            continue
        if i not in amides:
            amides[i] = secondary_amides(prepared[i].mol)
        cis = cis_amides(amides[i], xyz)
        if not cis:
            continue
        turned = xyz
        for k in cis:
            turned = turn_amide(amides[i][k], turned)
        by_mol.setdefault(i, []).append((n, turned))
    if not by_mol:
        return
    results = minimise_molecules([(prepared[i].mol, [xyz for _, xyz in items]) for i, items in by_mol.items()],
                                 relax, None, torch.get_num_threads())
    changed = False
    for (i, items), minimised in zip(by_mol.items(), results):
        if isinstance(minimised, Exception):     # an improvement only: keep what was relaxed
            continue
        for (n, _), result in zip(items, minimised[1]):
            if result is None or result[1] is None or result[1] > rows[n][3] or cis_amides(amides[i], result[0]):
                continue
            rows[n] = (i, rows[n][1], result[0], result[1], rows[n][4])
            report.amides_turned += 1
            changed = True
    if changed:
        emit_rows(on_frame, rows, "amide")


def stereo_candidates(relaxed, energy, polished, flipped):
    """What the stereo check tries, in order: ``("relaxed", xyz, energy)``; when MMFF
    inverted some centres (strained start) and they could be flipped back and minimised
    again (``flipped`` = ``(xyz, energy)`` from :func:`flip_and_relax`), that conformer,
    kept only within ``FLIP_ENERGY_MARGIN`` of the relaxed energy; then the polished
    coordinates (``"polished"``, no energy)."""
    yield "relaxed", relaxed, energy
    if polished is None:
        return
    # a flip that MMFF can only settle far above the (wrong-stereo) minimum it came from is
    # a knotted ring system, not a conformer: measured +460 to +680 kcal/mol for those
    if flipped is not None and energy is not None and flipped[1] is not None \
            and flipped[1] <= energy + FLIP_ENERGY_MARGIN:
        yield ("flipped", *flipped)
    yield "polished", polished, None


def _flip_back(mol, xyz, fixed):
    """``xyz`` with its wrong tetrahedral centres flipped back, or ``None`` (a wrong double
    bond, a centre that cannot be flipped, a fixed atom that would move)."""
    from engine.chem.stereo import flip_centres, stereo_report

    try:
        report = stereo_report(mol, xyz)
    except Exception:  # noqa: BLE001 - a repair attempt only: the caller falls back
        return None
    wrong = report["wrong_centres"]
    if report["bonds_wrong"] or not wrong:
        return None
    if fixed is not None:
        held = set(int(k) for k in np.asarray(fixed[0]).reshape(-1))
        moving = set(wrong) | {n.GetIdx() for c in wrong for n in mol.GetAtomWithIdx(int(c)).GetNeighbors()
                               if n.GetAtomicNum() == 1}
        if held & moving:
            return None
    return flip_centres(mol, xyz, wrong)


def flip_and_relax(prepared, rows, wanted: Sequence[int], relax: int, fixed, threads: int) -> dict:
    """For the rows ``wanted`` (their relaxed conformer failed the stereo check): the wrong
    centres flipped back (:func:`_flip_back`) and minimised again, all flipped conformers
    of a molecule in one MMFF94 call, the molecules over ``threads`` threads. Returns
    ``{row: (xyz, MMFF energy or None) or None}``."""
    out: dict = {n: None for n in wanted}
    by_mol: dict[int, list] = {}
    for n in wanted:
        i, xyz = rows[n][0], rows[n][2]
        flipped = _flip_back(prepared[i].mol, xyz, fixed)
        if flipped is not None:
            by_mol.setdefault(i, []).append((n, flipped))
    results = minimise_molecules([(prepared[i].mol, [xyz for _, xyz in items]) for i, items in by_mol.items()],
                                 relax, fixed, threads)
    for items, minimised in zip(by_mol.values(), results):
        if isinstance(minimised, Exception):     # a repair attempt only: the caller falls back
            continue
        for (n, _), result in zip(items, minimised[1]):
            out[n] = result
    return out
