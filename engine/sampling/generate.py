"""Molecules → conformers with a trained ε-network: batching, stereo check, output records.

``generate_conformers`` takes RDKit molecules (hydrogens are added when missing), makes
``num_confs`` copies of each, samples them in batches of many molecules at once on one
``GraphBatchDiffusion``, checks each conformer's tetrahedral centres and double bonds
against the input's stereo tags (a mirror image is reflected back; anything else is
resampled up to ``max_rounds`` times, then kept and counted) and returns one molecule
per input with its conformers, or the error that stopped it.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.defaults import (
    DEFAULT_ENERGY_GUIDANCE,
    DEFAULT_EXPANSION,
    DEFAULT_GUIDANCE_START,
    DEFAULT_MIRROR_IMAGES,
    DEFAULT_POLISH_STEPS,
    DEFAULT_RELAX_STEPS,
    DEFAULT_SAMPLER,
    DEFAULT_STEPS,
    MIRROR_SAMPLE_FRACTION,
    POLISH_SETTLE_STEPS,
)
from engine.devices import resolve_device
from engine.errors import EngineError, InputError

log = logging.getLogger(__name__)

__all__ = ["GenerationModel", "GenerationReport", "generate_conformers", "molecule_sample",
           "default_checkpoint", "load_generation_model", "prepare_molecule"]


# the conformer property that holds a relaxed conformer's MMFF94 energy (kcal/mol); the
# SD writer of `sample` keeps it (engine.commands._provenance)
ENERGY_PROP = "gdapp_energy_mmff"
# and the outcome of its stereo check (when ``stereo`` is not "ignore")
STEREO_PROP = "gdapp_stereo_ok"

# GraphBatchDiffusion's default per-graph limit: one larger molecule in a batch used to
# raise GraphError for the whole batch, so `sample` wrote none of the other molecules.
MAX_ATOMS = 2000


def default_checkpoint() -> Path:
    """The pretrained molecule model that ships in ``resources/models``."""
    from engine.resources import resource_path

    return resource_path("models", "molecule_egnn.pt")


@dataclass
class GenerationModel:
    """A network and the process settings it was trained with."""

    network: torch.nn.Module
    config: dict
    device: torch.device
    name: str = "model"

    @property
    def process_config(self) -> dict:
        return self.config.get("process", {})

    @property
    def coord_scale(self) -> float:
        return float(self.process_config.get("coord_scale", 1.0))

    @property
    def lam(self) -> float:
        """``λ`` of ``A = γL + λI`` the model was trained with (0: centre-of-mass-free prior)."""
        return float(self.process_config.get("lam", 0.0))

    def schedule(self):
        from engine.process.schedules import schedule_from_config
        return schedule_from_config(self.process_config)


def load_generation_model(path=None, device="auto") -> GenerationModel:
    from engine.training.checkpoint import load_model

    path = Path(path) if path is not None else default_checkpoint()
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist")
    dev = resolve_device(device) if isinstance(device, str) else torch.device(device)
    network, config = load_model(path, device=dev)
    return GenerationModel(network, config, dev, name=path.name)


def prepare_molecule(mol):
    """A copy with explicit hydrogens and assigned stereo (the atoms ``sample`` writes)."""
    from rdkit import Chem

    if mol is None or mol.GetNumAtoms() == 0:
        raise InputError("empty molecule")
    has_h = any(a.GetAtomicNum() == 1 for a in mol.GetAtoms())
    implicit = sum(a.GetTotalNumHs() for a in mol.GetAtoms())
    out = Chem.AddHs(mol, addCoords=mol.GetNumConformers() > 0) if (implicit and not has_h) or not has_h \
        else Chem.Mol(mol)
    if len(Chem.GetMolFrags(out)) > 1:
        raise InputError("molecule has several disconnected fragments")
    Chem.AssignStereochemistry(out, cleanIt=True, force=True)
    return out


def molecule_sample(mol, index: int = 0, pos: np.ndarray | None = None):
    """A ``GraphSample`` of an RDKit molecule, built as the training corpus builds one."""
    from rdkit import Chem

    from engine.chem.features import atom_features
    from engine.chem.graph import bond_orders, graph_edges
    from engine.data.batching import GraphSample
    from engine.data.dataset import atomic_masses
    from engine.graphs import laplacian_from_edges

    n = mol.GetNumAtoms()
    bonds, orders = bond_orders(mol)
    edges, weights = graph_edges(n, bonds, orders)
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    both = np.concatenate([bonds, bonds[:, ::-1]]).T if len(bonds) else np.zeros((2, 0), np.int64)
    if pos is None:
        pos = np.zeros((n, 3), dtype=np.float32)
    return GraphSample(
        pos=torch.as_tensor(np.asarray(pos, dtype=np.float32)),
        features=torch.from_numpy(atom_features(mol).astype(np.float32)),
        bond_index=torch.from_numpy(np.ascontiguousarray(both, dtype=np.int64)),
        laplacian=laplacian_from_edges(n, edges, weights),
        masses=torch.from_numpy(atomic_masses()[z].astype(np.float32)),
        atomic_numbers=torch.from_numpy(z),
        index=int(index),
        smiles=Chem.MolToSmiles(mol),
    )


@dataclass
class GenerationReport:
    molecules: int = 0
    conformers: int = 0
    failed: int = 0
    stereo_reflected: int = 0
    stereo_resampled: int = 0
    stereo_unfixed: int = 0
    relax_flipped: int = 0         # MMFF94 inverted centres; flipped back and minimised again
    relax_undone: int = 0          # MMFF94 changed the stereo: the polished conformer kept
    amides_turned: int = 0         # conformers whose cis secondary amides were turned trans
    mirror_images: int = 0         # conformers written as the mirror image of a sample
    seconds: float = 0.0
    batches: int = 0
    errors: dict = field(default_factory=dict)
    warnings: dict = field(default_factory=dict)     # index -> what was done differently

    @property
    def conformers_per_second(self) -> float:
        return self.conformers / self.seconds if self.seconds > 0 else float("nan")


def relax_conformers(mol, max_iters: int, fixed: Sequence[int] | None = None,
                     num_threads: int = 0) -> tuple[str, list[float]]:
    """MMFF94 (or UFF where MMFF has no parameters) optimisation of every conformer of
    ``mol`` in place, at most ``max_iters`` iterations each; ``fixed`` atom indices do not
    move. Returns the force field used (``"none"`` when neither has parameters) and the
    final energy of every conformer (kcal/mol)."""
    from rdkit.Chem import AllChem

    from engine.io_rdlog import capture_rdkit_log

    fixed = [] if fixed is None else [int(i) for i in fixed]
    with capture_rdkit_log():     # the typers' complaints: the caller reports "none" itself
        has_mmff = AllChem.MMFFHasAllMoleculeParams(mol)
        has_uff = not has_mmff and AllChem.UFFHasAllMoleculeParams(mol)
    if has_mmff:
        name = "mmff"
        if not fixed:
            res = AllChem.MMFFOptimizeMoleculeConfs(mol, numThreads=int(num_threads), maxIters=int(max_iters))
            return name, [float(e) for _, e in res]
        props = AllChem.MMFFGetMoleculeProperties(mol)
        make = lambda cid: AllChem.MMFFGetMoleculeForceField(mol, props, confId=cid)  # noqa: E731
    elif has_uff:
        name = "uff"
        if not fixed:
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
        ff.Minimize(maxIts=int(max_iters))
        energies.append(float(ff.CalcEnergy()))
    return name, energies


def _minimise(mol, coords: list, max_iters: int, fixed, threads: int) -> tuple[str, list]:
    """One :func:`relax_conformers` call on ``coords`` (a list of ``(N, 3)``) of ``mol``:
    the force field used and, per input, ``(xyz, MMFF94 energy or None)`` or ``None``
    (not finite). Conformers stay centred unless atoms are ``fixed`` (MMFF can drift the
    centroid)."""
    from engine.chem.conformers import mol_with_conformers

    m = mol_with_conformers(mol, coords)
    used, energies = relax_conformers(m, max_iters, fixed=None if fixed is None else fixed[0],
                                      num_threads=threads)
    out: list = []
    for cid in range(len(coords)):
        xyz = m.GetConformer(cid).GetPositions()
        if fixed is None:
            xyz = xyz - xyz.mean(0)
        energy = energies[cid] if used == "mmff" and cid < len(energies) else None
        out.append((xyz, energy) if np.all(np.isfinite(xyz)) else None)
    return used, out


def _minimise_molecules(jobs: list, max_iters: int, fixed, threads: int) -> list:
    """:func:`_minimise` for every ``(mol, coords)`` of ``jobs``: the result or the
    exception per job, in order. Without fixed atoms the molecules are spread over
    ``threads`` threads, one molecule per thread (RDKit releases the GIL while it
    minimises); one multi-threaded call per molecule left a core idle while the slowest
    conformer of each call finished (measured on 1,321 conformers of 160 molecules, 2
    cores, MMFF94 500: 35.6 s as one call per molecule, 31.9 s spread over molecules)."""
    pool = fixed is None and threads > 1 and len(jobs) > 1

    def one(job):
        try:
            return _minimise(job[0], job[1], max_iters, fixed, 1 if pool else threads)
        except Exception as exc:  # noqa: BLE001 - RDKit raises plain RuntimeErrors
            return exc

    if not pool:
        return [one(job) for job in jobs]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(threads, len(jobs))) as ex:
        return list(ex.map(one, jobs))


def _relax_group(prepared, accepted: list, max_iters: int, fixed, report: GenerationReport) -> None:
    """MMFF94 on the ``(molecule index, slot, xyz, energy, polished)`` rows of one polish
    group, in place (per molecule: its conformers in this group together): ``xyz`` becomes
    the relaxed coordinates, ``energy`` their MMFF94 energy (kcal/mol), ``polished`` the
    coordinates before. A molecule the force field cannot treat keeps its polished
    conformers and is reported."""
    by_mol: dict[int, list[int]] = {}
    for n, row in enumerate(accepted):
        by_mol.setdefault(row[0], []).append(n)
    results = _minimise_molecules([(prepared[i][0], [accepted[n][2] for n in rows]) for i, rows in by_mol.items()],
                                  max_iters, fixed, torch.get_num_threads())
    for (i, rows), result in zip(by_mol.items(), results):
        if isinstance(result, Exception):
            _warn(report, i, f"not relaxed with MMFF94 ({result}); conformers as polished")
            continue
        used, relaxed = result
        if used == "none":
            _warn(report, i, "not relaxed: neither MMFF94 nor UFF has parameters for it")
            continue
        for n, result in zip(rows, relaxed):
            if result is not None:
                accepted[n] = (accepted[n][0], accepted[n][1], *result, accepted[n][2])


def _turn_cis_amides(prepared, rows: list, relax: int, report: GenerationReport, amides: dict) -> None:
    """Relaxed conformers (rows ``(molecule index, slot, xyz, MMFF94 energy, polished)``)
    with a *cis* acyclic secondary amide, in place: its amides turned trans
    (``engine.chem.conformers.turn_amide``, one side of the C–N bond rotated by 180°) and
    minimised again, the molecules over torch's threads; kept when the MMFF94 energy is
    not higher and every amide is trans. The network draws some amides cis (3.8 % of 730
    amides on 160 validation molecules; ETKDG: none); MMFF keeps them, and a cis amide
    can break PoseBusters' 1-5 distance bounds. ``amides`` caches each molecule's
    amides."""
    from engine.chem.conformers import cis_amides, secondary_amides, turn_amide

    by_mol: dict[int, list] = {}
    for n, (i, _, xyz, energy, _) in enumerate(rows):
        if energy is None:                 # not minimised with MMFF94: nothing to compare
            continue
        if i not in amides:
            amides[i] = secondary_amides(prepared[i][0])
        cis = cis_amides(amides[i], xyz)
        if not cis:
            continue
        turned = xyz
        for k in cis:
            turned = turn_amide(amides[i][k], turned)
        by_mol.setdefault(i, []).append((n, turned))
    if not by_mol:
        return
    results = _minimise_molecules([(prepared[i][0], [xyz for _, xyz in items]) for i, items in by_mol.items()],
                                  relax, None, torch.get_num_threads())
    for (i, items), minimised in zip(by_mol.items(), results):
        if isinstance(minimised, Exception):     # an improvement only: keep what was relaxed
            continue
        for (n, _), result in zip(items, minimised[1]):
            if result is None or result[1] is None or result[1] > rows[n][3] or cis_amides(amides[i], result[0]):
                continue
            rows[n] = (i, rows[n][1], result[0], result[1], rows[n][4])
            report.amides_turned += 1


# The most a stereo-repaired conformer's MMFF94 energy may lie above the minimum MMFF
# found with the wrong stereo (kcal/mol; diastereomers differ by a few tens).
FLIP_ENERGY_MARGIN = 50.0


def _stereo_candidates(relaxed, energy, polished, flipped):
    """What the stereo check tries, in order: ``("relaxed", xyz, energy)``; when MMFF
    inverted some centres (strained start) and they could be flipped back and minimised
    again (``flipped`` = ``(xyz, energy)`` from :func:`_flip_and_relax`), that conformer,
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


def _flip_and_relax(prepared, rows, wanted: Sequence[int], relax: int, fixed, threads: int) -> dict:
    """For the rows ``wanted`` (their relaxed conformer failed the stereo check): the wrong
    centres flipped back (:func:`_flip_back`) and minimised again, all flipped conformers
    of a molecule in one MMFF94 call, the molecules over ``threads`` threads. Returns
    ``{row: (xyz, MMFF energy or None) or None}``."""
    out: dict = {n: None for n in wanted}
    by_mol: dict[int, list] = {}
    for n in wanted:
        i, xyz = rows[n][0], rows[n][2]
        flipped = _flip_back(prepared[i][0], xyz, fixed)
        if flipped is not None:
            by_mol.setdefault(i, []).append((n, flipped))
    results = _minimise_molecules([(prepared[i][0], [xyz for _, xyz in items]) for i, items in by_mol.items()],
                                  relax, fixed, threads)
    for items, minimised in zip(by_mol.values(), results):
        if isinstance(minimised, Exception):     # a repair attempt only: the caller falls back
            continue
        for (n, _), result in zip(items, minimised[1]):
            out[n] = result
    return out


# Heavy-atom RMSD (Å) under which a mirror image counts as its own sample (the GEOM
# metrics' coverage threshold for drug-like molecules is 0.75 Å).
MIRROR_SAME_RMSD = 0.25


def _mirror_eligible(mol) -> bool:
    """Whether ``mol`` (no chirality tags, at least 3 heavy atoms) has its conformers'
    mirror images as conformers of the same molecule."""
    from engine.chem.conformers import has_specified_chirality

    return not has_specified_chirality(mol) and sum(a.GetAtomicNum() > 1 for a in mol.GetAtoms()) >= 3


def mirror_sample_count(num_confs: int) -> int:
    """How many samples a molecule with mirror images gets for ``num_confs`` conformers
    (:data:`engine.defaults.MIRROR_SAMPLE_FRACTION` of them, rounded up)."""
    return num_confs if num_confs < 2 else max(2, math.ceil(MIRROR_SAMPLE_FRACTION * num_confs - 1e-9))


def _with_mirror_images(mol, written: list, report: GenerationReport, k: int) -> list:
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


def _warn(report: GenerationReport, i: int, message: str) -> None:
    report.warnings[i] = f"{report.warnings[i]}; {message}" if i in report.warnings else message


def _sample_batch(model: GenerationModel, samples, *, sampler: str, steps: int, generator,
                  energy=None, energy_weight: float = 0.0, guidance_start: float = 1.0,
                  expansion: float = 1.0, fixed=None, transform=None, callback=None) -> torch.Tensor:
    """Sample every structure of ``samples`` once; returns the centred coordinates in Å,
    concatenated ``(N_total, 3)`` on the model's device (not yet polished: :func:`_polish`).

    ``energy``: the batch's ``ChemicalEnergy`` (Å), used as guidance on Ŝ₀ with weight
    ``energy_weight`` at ``t <= guidance_start``, after every Ŝ₀ is scaled about its
    molecule's centroid by ``expansion ** (1 / steps)`` (``expansion``: the product over
    the run, so that it does not compound with the number of steps). ``fixed``: ``(indices, coords (k, 3) in
    Å, centred)`` rows held exactly. ``callback(step, t, S_t, Ŝ₀)`` gets Å tensors
    (concatenated) after every step.
    """
    from engine.data.batching import collate
    from engine.defaults import SAMPLING_PHI_FLOOR, V_SAMPLING_PHI_FLOOR
    from engine.models.outputs import eps_from_output, parameterization, s0_from_output, uses_self_cond
    from engine.process import GraphBatchDiffusion
    from engine.sampling.guidance import EnergyGuidance, Expansion, FixedAtoms, compose
    from engine.sampling.samplers import get_sampler, time_grid

    net = model.network
    # What the network's output means and whether it takes its previous estimate Ŝ₀
    # (engine.models.outputs; both from the checkpoint's model config). A v network's Ŝ₀
    # needs no guard of Φ⁻¹ beyond round-off (engine.defaults.V_SAMPLING_PHI_FLOOR).
    kind, self_cond = parameterization(net), uses_self_cond(net)
    batch = collate(samples).to(model.device)
    p = model.process_config
    proc = GraphBatchDiffusion(batch.laplacians, gamma=float(p.get("gamma", 1.0)), lam=model.lam,
                               schedule=model.schedule(), dtype=torch.float32, device=model.device,
                               center=True,
                               phi_floor=SAMPLING_PHI_FLOOR if kind == "eps" else V_SAMPLING_PHI_FLOOR)
    prepare = getattr(net, "prepare", None)
    prepared = prepare(batch) if prepare is not None else batch
    num_graphs = batch.num_graphs
    scale = model.coord_scale

    # a self-conditioning network gets the last raw Ŝ₀ (before the hooks below), zeros at
    # the first call
    last_s0: list = [None]

    @torch.no_grad()
    def eps_model(x, t):
        tt = torch.full((num_graphs,), float(t), dtype=torch.float32, device=model.device)
        extra = {}
        if self_cond:
            extra["self_cond"] = torch.zeros_like(x) if last_s0[0] is None else last_s0[0]
        with torch.autocast(device_type=model.device.type, dtype=torch.bfloat16,
                            enabled=model.device.type == "cuda"):
            out = net(x, tt, prepared, **extra)
        out = proc._centered(out.float())
        if self_cond:
            last_s0[0] = s0_from_output(kind, proc, x, tt, out)
        return out if kind == "eps" else eps_from_output(kind, proc, x, tt, out)

    fixed_idx = fixed_hook = None
    if fixed is not None:
        fixed_idx = torch.as_tensor(fixed[0], dtype=torch.long, device=model.device)
        fixed_hook = FixedAtoms(fixed_idx, torch.as_tensor(fixed[1], dtype=torch.float32) / scale)
    guide = None
    if energy is not None and energy_weight > 0:
        guide = EnergyGuidance(energy, float(energy_weight), coord_scale=scale,
                               t_start=float(guidance_start), fixed=fixed_idx)
    expand = None
    if expansion != 1.0:
        expand = Expansion(float(expansion) ** (1.0 / steps), batch.batch, num_graphs)
    hook = compose(expand, guide, transform, fixed_hook)
    step_callback = None
    if callback is not None:
        def step_callback(k, t, x, x0):
            callback(k, t, x * scale, None if x0 is None else x0 * scale)

    # the harmonic prior N(0, A^-1) rather than N(0, Sigma(1)): with lam = 0 the slowest
    # modes keep part of the data at t = 1, and this start gives them the spread they need
    # (measured: AMR-R 1.14 -> 1.07 A on 5 drug-like molecules, docs/prior_sweep.md)
    x_T = proc.prior_sample(generator=generator, start="stationary")
    if step_callback is not None:
        step_callback(0, 1.0, x_T, None)
    x0 = get_sampler(sampler)(eps_model, x_T, proc, time_grid(steps), generator=generator,
                              transform_s0=hook, callback=step_callback)
    return x0.detach() * scale


def _polish(energy, coords: torch.Tensor, steps: int, fixed=None) -> torch.Tensor:
    """The chemical-energy polish of concatenated coordinates (Å): the torsion preferences
    shape the structure first; the last iterations lower only the terms a valid structure
    must satisfy (bounds, planarity, stereo), so that a preference does not leave a bond or
    an angle outside its bounds."""
    from engine.chem.energy import polish

    if energy is None or steps <= 0:
        return coords
    settle = min(POLISH_SETTLE_STEPS, steps // 3)
    coords = polish(energy, coords, steps - settle, fixed=fixed)
    return polish(energy.without_preferences(), coords, settle, fixed=fixed)


# On the CPU the network's edge tensors of more than ~1,000 atoms fall out of the caches
# (below), but the polish, a few elementwise and gather/scatter operations per iteration,
# pays a fixed cost per call: several network batches are polished together, up to this
# many atoms (300 iterations on 400 drug-like conformers, 18,360 atoms, on a loaded 2-core
# machine: 10.7 s in one call, 11.1 s in 3 calls of <= 8,192 atoms, 12.0 s in 5 of 4,096,
# 17.0 s in 19 of 1,024). Progress is reported per group, so it stays at a few seconds.
POLISH_GROUP_ATOMS = 8192


# On the CPU the network's edge tensors of more than ~1,000 atoms fall out of the caches:
# 256 drug-like molecules, DDIM 10 steps, 2 threads ran at 27-31 conformers/s in one batch,
# 40-53 cut at 3,072 atoms, 58-61 cut at 1,024 and 52-56 at 512 (two runs each, idle
# 2-core machine). Batches are therefore also cut at this many atoms on the CPU.
CPU_CHUNK_ATOMS = 1024


def _chunks(items: list, atoms: list, max_items: int, max_atoms: int | None):
    """Consecutive runs of ``items`` with at most ``max_items`` entries and (if given) at
    most ``max_atoms`` atoms in total (a single larger item forms its own run)."""
    chunk: list = []
    total = 0
    for item, n in zip(items, atoms):
        if chunk and (len(chunk) >= max_items or (max_atoms is not None and total + n > max_atoms)):
            yield chunk
            chunk, total = [], 0
        chunk.append(item)
        total += n
    if chunk:
        yield chunk


def _batch_fixed(fixed, chunk, prepared):
    """``fixed`` = (indices, coords) of one molecule, laid out for every copy in ``chunk``."""
    if fixed is None:
        return None
    idx = np.asarray(fixed[0], dtype=np.int64).reshape(-1)
    xyz = np.asarray(fixed[1], dtype=np.float64).reshape(-1, 3)
    offsets = np.cumsum([0] + [prepared[i][0].GetNumAtoms() for i, _ in chunk])[:-1]
    return (np.concatenate([idx + o for o in offsets]), np.concatenate([xyz] * len(chunk)))


def generate_conformers(mols: Sequence, num_confs: int, model: GenerationModel, *,
                        sampler: str = DEFAULT_SAMPLER, steps: int = DEFAULT_STEPS, seed: int = 0,
                        batch_size: int = 256, stereo: str = "fix", max_rounds: int = 3,
                        relax: int = DEFAULT_RELAX_STEPS,
                        progress: Callable[[int, int], None] | None = None,
                        report: GenerationReport | None = None,
                        keys: Sequence | None = None,
                        guidance: float = DEFAULT_ENERGY_GUIDANCE,
                        guidance_start: float = DEFAULT_GUIDANCE_START,
                        polish: int = DEFAULT_POLISH_STEPS,
                        expansion: float = DEFAULT_EXPANSION,
                        mirror_images: bool = DEFAULT_MIRROR_IMAGES,
                        fixed: tuple | None = None,
                        transform=None,
                        step_callback: Callable | None = None) -> list:
    """Conformers for every molecule; returns a list of ``Chem.Mol`` (with ``num_confs``
    conformers, hydrogens added) or an ``Exception`` per input, in input order.

    ``stereo``: ``fix`` (reflect mirror images, resample other violations), ``reject``
    (resample every violation) or ``ignore``. ``relax`` (0 = off) minimises every accepted
    conformer with at most that many MMFF94 iterations (UFF where MMFF has no parameters;
    ``fixed`` atoms held), after the polish, as the ETKDG + MMFF baseline does after
    embedding; RDKit runs it on the CPU with torch's thread count. A molecule the force
    field cannot treat keeps its polished conformers and is reported (``report.warnings``).

    Chemistry (``engine.chem.energy``, built per molecule from RDKit's distance bounds,
    planarity and stereo tags): ``guidance`` weighs the chemical energy against the
    network's estimate Ŝ₀ at sampler times ``t <= guidance_start`` (0 = off), and
    ``polish`` L-BFGS iterations lower it on every sample before the stereo check;
    ``expansion`` scales every network estimate Ŝ₀ about its molecule's centroid by
    ``expansion ** (1 / steps)`` before the guidance (1 = off; the trained networks'
    estimates are too compact). ``mirror_images``: for a molecule without chirality tags,
    and no ``fixed`` atoms, the ``num_confs`` conformers written are the most diverse
    (MaxMin on heavy-atom RMSD, the first sample first) of the samples and their mirror
    images, which are conformers of the same molecule with the same energy. A
    molecule the energy cannot be built for is sampled without it and reported
    (``report.warnings``, by index, with RDKit's reason). ``fixed`` =
    ``(indices, coords (k, 3) Å)`` holds those atoms (centred coordinates) in every
    conformer; ``transform`` is an extra Ŝ₀ hook in model units (``engine.sampling.guidance``);
    ``step_callback(step, t, S_t, Ŝ₀)`` streams every sampler step of every batch (Å tensors,
    the batch's molecules concatenated).

    Random streams: conformer slot ``c`` of molecule ``i`` (resampling round ``r``) draws
    from its own generator seeded by ``(seed, *keys[i], c, r)`` (``keys[i]``: an int or a
    tuple of ints; default ``i``), so a molecule's conformers do not depend on the other
    molecules in the call (``sample`` passes input indices: shards reproduce the whole run).
    """
    from rdkit import Chem

    from engine.chem.conformers import add_conformer
    from engine.chem.energy import ChemicalEnergy, empty_terms, molecule_terms
    from engine.chem.stereo import fix_stereo, stereo_ok

    if num_confs < 1:
        raise InputError("num_confs must be at least 1")
    if stereo not in ("fix", "reject", "ignore"):
        raise InputError("stereo must be 'fix', 'reject' or 'ignore'")
    if not (np.isfinite(expansion) and expansion > 0):
        raise InputError(f"expansion must be a finite number > 0, got {expansion}")
    report = report if report is not None else GenerationReport()
    start = time.perf_counter()
    from engine.rng import PerGraphGenerator, stream_seed

    keys = [k if isinstance(k, tuple) else (int(k),) for k in (keys if keys is not None else range(len(mols)))]
    if len(keys) != len(mols):
        raise InputError(f"{len(keys)} keys given for {len(mols)} molecules")
    prepared: list = []
    for i, mol in enumerate(mols):
        try:
            if isinstance(mol, Exception):
                raise mol
            pm = prepare_molecule(mol)
            if pm.GetNumAtoms() > MAX_ATOMS:
                raise InputError(f"molecule has {pm.GetNumAtoms()} atoms with hydrogens; the "
                                 f"sampler handles at most {MAX_ATOMS}")
            terms = None
            if guidance > 0 or polish > 0:
                try:
                    terms = molecule_terms(pm)
                except InputError as exc:       # sampled all the same, without the energy
                    terms = empty_terms(pm.GetNumAtoms())
                    report.warnings[i] = f"no chemical energy ({exc}); sampled without guidance and polish"
            prepared.append((pm, molecule_sample(pm, i), terms))
        except Exception as exc:  # report and go on with the others
            prepared.append(exc)
            report.errors[i] = str(exc)
    # one job per (molecule, conformer slot); resampled slots go round again
    # a molecule whose mirror images are conformers of it samples fewer (mirror_sample_count)
    mirrored = {i for i, p in enumerate(prepared) if mirror_images and fixed is None and num_confs > 1
                and not isinstance(p, Exception) and _mirror_eligible(p[0])}
    results: dict[int, list] = {i: [None] * (mirror_sample_count(num_confs) if i in mirrored else num_confs)
                                for i, p in enumerate(prepared) if not isinstance(p, Exception)}
    energies: dict[tuple[int, int], float] = {}     # MMFF94 energies of relaxed conformers
    stereo_flags: dict[tuple[int, int], bool] = {}  # the stereo check's verdicts
    amides: dict[int, list] = {}                    # each molecule's secondary amides
    pending = [(i, c) for i in results for c in range(len(results[i]))]
    done = 0
    total = len(pending)
    for round_ in range(max_rounds):
        if not pending:
            break
        retry = []
        # group by molecule size so padding stays small
        pending.sort(key=lambda ic: prepared[ic[0]][0].GetNumAtoms())
        atom_budget = CPU_CHUNK_ATOMS if model.device.type == "cpu" else None
        chunks = list(_chunks(pending, [prepared[i][0].GetNumAtoms() for i, _ in pending],
                              batch_size, atom_budget))
        chunk_atoms = [sum(prepared[i][0].GetNumAtoms() for i, _ in chunk) for chunk in chunks]
        # with fixed atoms (one molecule, the app) every chunk is polished on its own
        for group in _chunks(chunks, chunk_atoms, 1 if fixed is not None else len(chunks),
                             POLISH_GROUP_ATOMS):
            sampled = []
            for chunk in group:
                sizes = np.cumsum([0] + [prepared[i][0].GetNumAtoms() for i, _ in chunk])
                gen = PerGraphGenerator([stream_seed(seed, *keys[i], c, round_) for i, c in chunk], sizes,
                                        device=model.device)
                energy = None
                if guidance > 0:
                    energy = ChemicalEnergy.for_batch([prepared[i][2] for i, _ in chunk],
                                                      device=model.device, dtype=torch.float32)
                sampled.append(_sample_batch(model, [prepared[i][1] for i, _ in chunk], sampler=sampler,
                                             steps=steps, generator=gen, energy=energy,
                                             energy_weight=guidance, guidance_start=guidance_start,
                                             expansion=expansion, fixed=_batch_fixed(fixed, chunk, prepared),
                                             transform=transform, callback=step_callback))
                report.batches += 1
            jobs = [job for chunk in group for job in chunk]
            coords = torch.cat(sampled)
            if polish > 0:
                fixed_idx = None
                if fixed is not None:
                    fixed_idx = torch.as_tensor(_batch_fixed(fixed, jobs, prepared)[0], dtype=torch.long,
                                                device=model.device)
                energy = ChemicalEnergy.for_batch([prepared[i][2] for i, _ in jobs],
                                                  device=model.device, dtype=torch.float32)
                coords = _polish(energy, coords, polish, fixed=fixed_idx)
            flat = coords.cpu().numpy().astype(np.float64)
            ptr = np.cumsum([0] + [prepared[i][0].GetNumAtoms() for i, _ in jobs])
            # MMFF94 before the stereo check, which must see what is written: from a
            # strained start (a stereocentre the polish dragged through a flat geometry in
            # a fused polycycle) a minimisation can invert a centre (_stereo_candidates)
            rows = [(i, c, flat[ptr[k]:ptr[k + 1]], None, None) for k, (i, c) in enumerate(jobs)]
            if relax > 0:
                _relax_group(prepared, rows, relax, fixed, report)
                if fixed is None:
                    _turn_cis_amides(prepared, rows, relax, report, amides)
            check = fix_stereo if stereo == "fix" else (lambda mol, xyz: (xyz, stereo_ok(mol, xyz)))
            verdicts: list = [check(prepared[i][0], xyz) if stereo != "ignore" else None
                              for i, c, xyz, energy, polished in rows]
            # centres MMFF inverted from a strained start: flipped back and minimised again,
            # a molecule's conformers together (stereo="fix" only)
            flips: dict = {}
            if stereo == "fix" and relax > 0:
                wanted = [n for n, row in enumerate(rows) if row[4] is not None and not verdicts[n][1]]
                if wanted:
                    flips = _flip_and_relax(prepared, rows, wanted, relax, fixed, torch.get_num_threads())
            for n, (i, c, xyz, energy, polished) in enumerate(rows):
                mol = prepared[i][0]
                if stereo != "ignore":
                    ok = False
                    for kind, candidate, cand_energy in _stereo_candidates(xyz, energy, polished, flips.get(n)):
                        repaired, ok = verdicts[n] if kind == "relaxed" else check(mol, candidate)
                        if ok:
                            if kind == "flipped":
                                report.relax_flipped += 1
                            elif kind == "polished":
                                report.relax_undone += 1
                            if repaired is not candidate:
                                report.stereo_reflected += 1
                            xyz, energy = np.asarray(repaired, dtype=np.float64), cand_energy
                            break
                    if not ok and round_ < max_rounds - 1:
                        retry.append((i, c))
                        report.stereo_resampled += 1
                        continue
                    if not ok:
                        report.stereo_unfixed += 1
                    stereo_flags[(i, c)] = bool(ok)
                results[i][c] = xyz
                if energy is not None:
                    energies[(i, c)] = energy
                done += 1
                if progress is not None:
                    progress(done, total)
        pending = retry
    out: list = []
    for i, p in enumerate(prepared):
        if isinstance(p, Exception):
            out.append(p)
            report.failed += 1
            continue
        mol = Chem.Mol(p[0])
        mol.RemoveAllConformers()
        written = [(xyz, energies.get((i, c)), stereo_flags.get((i, c))) for c, xyz in enumerate(results[i])
                   if xyz is not None and np.all(np.isfinite(xyz))]
        if i in mirrored and len(written) > 1:
            written = _with_mirror_images(p[0], written, report, num_confs)
        for xyz, mmff_energy, stereo_flag in written:
            cid = add_conformer(mol, xyz)
            if mmff_energy is not None:
                mol.GetConformer(cid).SetDoubleProp(ENERGY_PROP, round(mmff_energy, 4))
            if stereo_flag is not None:
                mol.GetConformer(cid).SetBoolProp(STEREO_PROP, stereo_flag)
        if mol.GetNumConformers() == 0:
            out.append(EngineError("no finite conformer was generated"))
            report.failed += 1
            continue
        report.molecules += 1
        report.conformers += mol.GetNumConformers()
        out.append(mol)
    report.seconds += time.perf_counter() - start
    return out
