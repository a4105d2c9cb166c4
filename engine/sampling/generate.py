"""Molecules → conformers with a trained ε-network: the pipeline of ``sample``, the API and
the app, as a short sequence of named stages.

``generate_conformers`` takes RDKit molecules (hydrogens are added when missing), makes
``num_confs`` copies of each and runs them through the stages in batches of many
molecules at once: the reverse diffusion (``stages.diffuse``, on one
``GraphBatchDiffusion``, with the hooks on the network's estimate), the chemical-energy
polish (``stages.polish``), MMFF94 (``relax.relax_rows``), cis amides turned trans
(``relax.turn_cis_amides``), the stereo check against the input's tags (a mirror image is
reflected back, centres MMFF inverted are flipped back; anything else is resampled up to
``max_rounds`` times, then kept and counted) and, for a molecule without chirality tags,
the most diverse of the samples and their mirror images (``mirror``). It returns one
molecule per input with its conformers, or the error that stopped it. Every stage can
report its intermediate coordinates (``on_frame``; :mod:`engine.sampling.frames`): the
app plays them. What decides the result is one :class:`SamplingSettings`.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from engine.errors import EngineError, InputError
from engine.models.denoiser import Denoiser
from engine.sampling import relax as relax_stages
from engine.sampling import stages
from engine.sampling.frames import FrameCallback, StageFrame
from engine.sampling.mirror import mirror_eligible, mirror_sample_count, with_mirror_images
from engine.sampling.report import GenerationReport
from engine.sampling.settings import SamplingSettings

log = logging.getLogger(__name__)

__all__ = ["GenerationReport", "generate_conformers", "molecule_sample", "prepare_molecule",
           "mirror_sample_count"]


# the conformer property that holds a relaxed conformer's MMFF94 energy (kcal/mol); the
# SD writer of `sample` keeps it (engine.commands._provenance)
ENERGY_PROP = "gdapp_energy_mmff"
# and the outcome of its stereo check (when ``stereo`` is not "ignore")
STEREO_PROP = "gdapp_stereo_ok"

# GraphBatchDiffusion's default per-graph limit: one larger molecule in a batch used to
# raise GraphError for the whole batch, so `sample` wrote none of the other molecules.
MAX_ATOMS = 2000
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
    offsets = np.cumsum([0] + [prepared[i].mol.GetNumAtoms() for i, _ in chunk])[:-1]
    return (np.concatenate([idx + o for o in offsets]), np.concatenate([xyz] * len(chunk)))


@dataclass
class _Prepared:
    """A molecule ready for the stages: hydrogens added, its graph sample (with the input
    pose as ``pos`` when it has one), its chemical-energy terms, whether it has a pose."""

    mol: object
    sample: object
    terms: object
    posed: bool


def _input_pose(mol) -> np.ndarray | None:
    """The molecule's 3D input coordinates, centred (``None`` without a 3D conformer)."""
    if mol.GetNumConformers() == 0 or not mol.GetConformer().Is3D():
        return None
    xyz = mol.GetConformer().GetPositions()
    if not np.all(np.isfinite(xyz)) or np.ptp(xyz, axis=0).max() < 1e-6:
        return None
    return xyz - xyz.mean(0)


def _prepare(mols: Sequence, settings: SamplingSettings, report: GenerationReport) -> list:
    """One :class:`_Prepared` or the exception that stopped it per input (reported)."""
    from engine.chem.energy import empty_terms, molecule_terms

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
            if settings.guidance > 0 or settings.polish > 0:
                try:
                    terms = molecule_terms(pm)
                except InputError as exc:       # sampled all the same, without the energy
                    terms = empty_terms(pm.GetNumAtoms())
                    report.warnings[i] = f"no chemical energy ({exc}); sampled without guidance and polish"
            pose = _input_pose(pm) if settings.alignment > 0 else None
            if settings.alignment > 0 and pose is None:
                report.warn(i, "no 3D input pose: sampled without the alignment")
            prepared.append(_Prepared(pm, molecule_sample(pm, i, pos=pose), terms, pose is not None))
        except Exception as exc:  # report and go on with the others
            prepared.append(exc)
            report.errors[i] = str(exc)
    return prepared


def _diffuse_and_relax(model, prepared, group, settings, gen_for, fixed, report, amides,
                       on_frame: FrameCallback | None) -> list:
    """The stages up to the stereo check for one polish ``group`` (chunks of jobs):
    diffusion per chunk, the polish and MMFF94 over the group, cis amides turned. Returns
    the rows ``(molecule index, slot, xyz, MMFF94 energy or None, polished xyz or None)``."""
    from engine.chem.energy import ChemicalEnergy

    sampled = []
    for chunk in group:
        energy = None
        if settings.guidance > 0:
            energy = ChemicalEnergy.for_batch([prepared[i].terms for i, _ in chunk], device=model.device,
                                              dtype=torch.float32)
        sampled.append(stages.diffuse(model, [prepared[i].sample for i, _ in chunk], settings, gen_for(chunk),
                                      energy=energy, fixed=_batch_fixed(fixed, chunk, prepared),
                                      posed=[prepared[i].posed for i, _ in chunk], jobs=tuple(chunk),
                                      on_frame=on_frame))
        report.batches += 1
    jobs = [job for chunk in group for job in chunk]
    coords = torch.cat(sampled)
    if settings.polish > 0:
        fixed_idx = None
        if fixed is not None:
            fixed_idx = torch.as_tensor(_batch_fixed(fixed, jobs, prepared)[0], dtype=torch.long,
                                        device=model.device)
        energy = ChemicalEnergy.for_batch([prepared[i].terms for i, _ in jobs], device=model.device,
                                          dtype=torch.float32)
        coords = stages.polish(energy, coords, settings.polish, fixed=fixed_idx, jobs=tuple(jobs),
                               on_frame=on_frame)
    flat = coords.cpu().numpy().astype(np.float64)
    ptr = np.cumsum([0] + [prepared[i].mol.GetNumAtoms() for i, _ in jobs])
    # MMFF94 before the stereo check, which must see what is written: from a strained
    # start (a stereocentre the polish dragged through a flat geometry in a fused
    # polycycle) a minimisation can invert a centre (relax.stereo_candidates)
    rows = [(i, c, flat[ptr[k]:ptr[k + 1]], None, None) for k, (i, c) in enumerate(jobs)]
    if settings.relax > 0:
        relax_stages.relax_rows(prepared, rows, settings.relax, fixed, report, on_frame)
        if fixed is None:
            relax_stages.turn_cis_amides(prepared, rows, settings.relax, report, amides, on_frame)
    return rows


def _check_stereo(prepared, rows: list, settings, fixed, report, last_round: bool,
                  on_frame: FrameCallback | None) -> tuple[list, list]:
    """The stereo stage: per row the first candidate (relaxed, flipped back and minimised
    again, polished) whose stereo is right (mirror images reflected back with ``fix``).
    Returns ``(accepted rows (i, c, xyz, energy, stereo verdict or None), rows to resample)``."""
    from engine.chem.stereo import fix_stereo, stereo_ok

    if settings.stereo == "ignore":
        return [(i, c, xyz, energy, None) for i, c, xyz, energy, _ in rows], []
    check = fix_stereo if settings.stereo == "fix" else (lambda mol, xyz: (xyz, stereo_ok(mol, xyz)))
    verdicts = [check(prepared[i].mol, xyz) for i, c, xyz, _, _ in rows]
    # centres MMFF inverted from a strained start: flipped back and minimised again, a
    # molecule's conformers together (stereo="fix" only)
    flips: dict = {}
    if settings.stereo == "fix" and settings.relax > 0:
        wanted = [n for n, row in enumerate(rows) if row[4] is not None and not verdicts[n][1]]
        if wanted:
            flips = relax_stages.flip_and_relax(prepared, rows, wanted, settings.relax, fixed,
                                                torch.get_num_threads())
    accepted, retry, changed = [], [], False
    for n, (i, c, xyz, energy, polished) in enumerate(rows):
        ok = False
        for kind, candidate, cand_energy in relax_stages.stereo_candidates(xyz, energy, polished, flips.get(n)):
            repaired, ok = verdicts[n] if kind == "relaxed" else check(prepared[i].mol, candidate)
            if ok:
                report.relax_flipped += kind == "flipped"
                report.relax_undone += kind == "polished"
                report.stereo_reflected += repaired is not candidate
                changed |= kind != "relaxed" or repaired is not candidate
                xyz, energy = np.asarray(repaired, dtype=np.float64), cand_energy
                break
        if not ok and not last_round:
            retry.append((i, c))
            report.stereo_resampled += 1
            continue
        report.stereo_unfixed += not ok
        accepted.append((i, c, xyz, energy, bool(ok)))
    if changed:
        relax_stages.emit_rows(on_frame, accepted, "stereo")
    return accepted, retry


def _assemble(prepared, results: dict, mirrored: set, num_confs: int, report: GenerationReport) -> list:
    """One ``Chem.Mol`` per input with its conformers (MMFF94 energy and stereo verdict as
    conformer properties; mirror images chosen), or the exception that stopped it."""
    from rdkit import Chem

    from engine.chem.conformers import add_conformer

    out: list = []
    for i, p in enumerate(prepared):
        if isinstance(p, Exception):
            out.append(p)
            report.failed += 1
            continue
        mol = Chem.Mol(p.mol)
        mol.RemoveAllConformers()
        written = [row for row in results[i] if row is not None and np.all(np.isfinite(row[0]))]
        if i in mirrored and len(written) > 1:
            written = with_mirror_images(p.mol, written, report, num_confs)
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
    return out


def generate_conformers(mols: Sequence, num_confs: int, model: Denoiser,
                        settings: SamplingSettings | None = None, *, batch_size: int = 256,
                        max_rounds: int = 3, progress: Callable[[int, int], None] | None = None,
                        report: GenerationReport | None = None, keys: Sequence | None = None,
                        fixed: tuple | None = None, on_frame: FrameCallback | None = None,
                        **setting_fields) -> list:
    """Conformers for every molecule; returns a list of ``Chem.Mol`` (with ``num_confs``
    conformers, hydrogens added) or an ``Exception`` per input, in input order.

    ``settings`` (:class:`SamplingSettings`, default ``sample``'s), with any of its fields
    changed by keyword (``steps=8``): ``stereo``: ``fix`` (reflect mirror images, resample
    other violations), ``reject`` (resample every violation) or ``ignore``. ``relax`` (0 =
    off) minimises every accepted conformer with at most that many MMFF94 iterations (UFF
    where MMFF has no parameters; ``fixed`` atoms held), after the polish, as the ETKDG +
    MMFF baseline does after embedding; RDKit runs it on the CPU with torch's thread
    count. A molecule the force field cannot treat keeps its polished conformers and is
    reported (``report.warnings``).

    Chemistry (``engine.chem.energy``, built per molecule from RDKit's distance bounds,
    planarity and stereo tags): ``guidance`` weighs the chemical energy against the
    network's estimate Ŝ₀ at sampler times ``t <= guidance_start`` (0 = off), and
    ``polish`` L-BFGS iterations lower it on every sample before the stereo check;
    ``expansion`` scales every network estimate Ŝ₀ about its molecule's centroid by
    ``expansion ** (1 / steps)`` before the guidance (1 = off). ``alignment`` (λ_A) steers
    Ŝ₀'s bonds towards the input's bond directions (molecules with a 3D input; others are
    sampled without it and reported), ``smoothness`` (λ_G) smooths Ŝ₀ on the three-bond
    graph at ``t <= guidance_start``. ``mirror_images``: for a molecule without chirality
    tags, and no ``fixed`` atoms, the ``num_confs`` conformers written are the most
    diverse (MaxMin on heavy-atom RMSD, the first sample first) of the samples and their
    mirror images, which are conformers of the same molecule with the same energy. A
    molecule the energy cannot be built for is sampled without it and reported
    (``report.warnings``, by index, with RDKit's reason). ``fixed`` =
    ``(indices, coords (k, 3) Å)`` holds those atoms (centred coordinates) in every
    conformer. ``on_frame(StageFrame)`` gets every stage's intermediate coordinates
    (diffusion steps, polish and MMFF94 iterations; :mod:`engine.sampling.frames`).

    Random streams: conformer slot ``c`` of molecule ``i`` (resampling round ``r``) draws
    from its own generator seeded by ``(seed, *keys[i], c, r)`` (``keys[i]``: an int or a
    tuple of ints; default ``i``), so a molecule's conformers do not depend on the other
    molecules in the call (``sample`` passes input indices: shards reproduce the whole run).
    """
    from engine.rng import PerGraphGenerator, stream_seed

    if num_confs < 1:
        raise InputError("num_confs must be at least 1")
    settings = (settings or SamplingSettings()).replace(**setting_fields).check()
    report = report if report is not None else GenerationReport()
    start = time.perf_counter()
    keys = [k if isinstance(k, tuple) else (int(k),) for k in (keys if keys is not None else range(len(mols)))]
    if len(keys) != len(mols):
        raise InputError(f"{len(keys)} keys given for {len(mols)} molecules")
    prepared = _prepare(mols, settings, report)
    # a molecule whose mirror images are conformers of it samples fewer (mirror_sample_count)
    mirrored = {i for i, p in enumerate(prepared) if settings.mirror_images and fixed is None and num_confs > 1
                and not isinstance(p, Exception) and mirror_eligible(p.mol)}
    results: dict[int, list] = {i: [None] * (mirror_sample_count(num_confs) if i in mirrored else num_confs)
                                for i, p in enumerate(prepared) if not isinstance(p, Exception)}
    amides: dict[int, list] = {}                    # each molecule's secondary amides
    pending = [(i, c) for i in results for c in range(len(results[i]))]
    done, total = 0, len(pending)
    for round_ in range(max_rounds):
        if not pending:
            break
        retry = []
        # group by molecule size so padding stays small
        pending.sort(key=lambda ic: prepared[ic[0]].mol.GetNumAtoms())
        atom_budget = CPU_CHUNK_ATOMS if model.device.type == "cpu" else None
        chunks = list(_chunks(pending, [prepared[i].mol.GetNumAtoms() for i, _ in pending],
                              batch_size, atom_budget))
        chunk_atoms = [sum(prepared[i].mol.GetNumAtoms() for i, _ in chunk) for chunk in chunks]

        def gen_for(chunk, r=round_):
            sizes = np.cumsum([0] + [prepared[i].mol.GetNumAtoms() for i, _ in chunk])
            return PerGraphGenerator([stream_seed(settings.seed, *keys[i], c, r) for i, c in chunk], sizes,
                                     device=model.device)

        # with fixed atoms (one molecule, the app) every chunk is polished on its own
        for group in _chunks(chunks, chunk_atoms, 1 if fixed is not None else len(chunks), POLISH_GROUP_ATOMS):
            rows = _diffuse_and_relax(model, prepared, group, settings, gen_for, fixed, report, amides, on_frame)
            accepted, again = _check_stereo(prepared, rows, settings, fixed, report, round_ == max_rounds - 1,
                                            on_frame)
            retry += again
            for i, c, xyz, energy, verdict in accepted:
                results[i][c] = (xyz, energy, verdict)
                done += 1
                if progress is not None:
                    progress(done, total)
        pending = retry
    out = _assemble(prepared, results, mirrored, num_confs, report)
    report.seconds += time.perf_counter() - start
    return out


__all__ += ["StageFrame"]
