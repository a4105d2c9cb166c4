"""The stages of the sampling pipeline that run on the model's device: the reverse
diffusion (with its hooks on the network's estimate) and the chemical-energy polish.

Each takes ``on_frame`` (:mod:`engine.sampling.frames`) and reports its intermediate
coordinates there when given; the force-field stages that follow are in
:mod:`engine.sampling.relax`. :func:`engine.sampling.generate.generate_conformers` runs
the stages in order: ``diffuse`` → ``polish`` → ``relax_rows`` (MMFF94) →
``turn_cis_amides`` → the stereo check → mirror images.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from engine.defaults import POLISH_SETTLE_STEPS
from engine.models.denoiser import Denoiser
from engine.sampling.frames import FrameCallback, StageFrame, frame_stride
from engine.sampling.settings import SamplingSettings

__all__ = ["diffuse", "polish", "steering_hooks"]


def steering_hooks(batch, settings: SamplingSettings, scale: float, posed: Sequence[bool]) -> tuple:
    """The hooks of the sliders λ_A and λ_G on the network's estimate Ŝ₀ (model units):
    ``(alignment, smoothing)``, each ``None`` when its weight is 0.
    :class:`~engine.sampling.guidance.PoseAlignment` with each molecule's input pose
    (``batch.pos``, Å; ``posed[g]``: molecule g has one) at every step;
    :class:`engine.sampling.guidance.GraphSmoothing` on the three-bond graph at
    ``t <= guidance_start``."""
    from engine.sampling.guidance import GraphSmoothing, LateHook, PoseAlignment, hop_laplacians

    bonds = batch.bond_index.t().cpu()
    bonds = bonds[bonds[:, 0] < bonds[:, 1]]
    graph = batch.batch.cpu()
    alignment = smoothing = None
    if settings.alignment > 0 and any(posed):
        weights = torch.tensor([settings.alignment if p else 0.0 for p in posed], dtype=torch.float64)
        alignment = PoseAlignment(batch.pos.cpu().double() / scale, bonds, graph, batch.num_graphs,
                                  weights, masses=batch.masses.cpu())
    if settings.smoothness > 0:
        lap = hop_laplacians(bonds, graph, batch.num_graphs, hops=3)
        smoothing = LateHook(GraphSmoothing(lap, graph, batch.num_graphs, settings.smoothness),
                             settings.guidance_start)
    return alignment, smoothing


def diffuse(model: Denoiser, samples, settings: SamplingSettings, generator, *, energy=None, fixed=None,
            posed: Sequence[bool] = (), jobs: tuple = (), on_frame: FrameCallback | None = None) -> torch.Tensor:
    """The reverse diffusion of every structure of ``samples`` once: the centred
    coordinates in Å, concatenated ``(N_total, 3)`` on the model's device (not yet
    polished).

    Hooks on Ŝ₀, in order: the expansion (``settings.expansion ** (1 / steps)`` per
    estimate, so the factor is the run's and does not compound with the steps), λ_A
    (:func:`steering_hooks`), the chemical ``energy`` (the batch's ``ChemicalEnergy``, Å)
    with weight ``settings.guidance`` at ``t <= guidance_start``, λ_G, then ``fixed`` =
    ``(indices, coords (k, 3) Å, centred)`` held exactly. ``on_frame``
    gets a ``diffusion`` frame per step (the prior draw first) for the rows of ``jobs``.
    """
    from engine.data.batching import collate
    from engine.sampling.guidance import EnergyGuidance, Expansion, FixedAtoms, compose
    from engine.sampling.samplers import get_sampler, time_grid

    batch = collate(samples).to(model.device)
    proc = model.batch_process(batch.laplacians)     # the process the network was trained with
    prepare = getattr(model.network, "prepare", None)
    prepared = prepare(batch) if prepare is not None else batch
    num_graphs = batch.num_graphs
    scale = model.coord_scale
    # ε̂ whatever the network predicts; a self-conditioning network is called twice a step, the
    # second time with its own raw Ŝ₀ of the first (before the hooks below; engine.models.denoiser)
    eps_model = model.eps_model(proc, prepared, num_graphs)

    fixed_idx = fixed_hook = None
    if fixed is not None:
        fixed_idx = torch.as_tensor(fixed[0], dtype=torch.long, device=model.device)
        fixed_hook = FixedAtoms(fixed_idx, torch.as_tensor(fixed[1], dtype=torch.float32) / scale)
    guide = None
    if energy is not None and settings.guidance > 0:
        guide = EnergyGuidance(energy, float(settings.guidance), coord_scale=scale,
                               t_start=float(settings.guidance_start), fixed=fixed_idx)
    expand = None
    if settings.expansion != 1.0:
        expand = Expansion(float(settings.expansion) ** (1.0 / settings.steps), batch.batch, num_graphs)
    # λ_G after the chemical energy: before it, the energy undid the straightening (the
    # result's radius of gyration did not grow with λ_G; docs/app.md, "Sliders")
    alignment, smoothing = steering_hooks(batch, settings, scale, posed)
    hook = compose(expand, alignment, guide, smoothing, fixed_hook)
    callback = None
    if on_frame is not None:
        def callback(k, t, x, x0):
            on_frame(StageFrame("diffusion", k, settings.steps, float(t),
                                (x * scale).detach().cpu().numpy().astype(np.float64), jobs,
                                None if x0 is None else (x0 * scale).detach().cpu().numpy().astype(np.float64)))

    # the harmonic prior N(0, A^-1) rather than N(0, Sigma(1)): with lam = 0 the slowest
    # modes keep part of the data at t = 1, and this start gives them the spread they need
    # (measured: AMR-R 1.14 -> 1.07 A on 5 drug-like molecules, docs/prior_sweep.md)
    x_T = proc.prior_sample(generator=generator, start="stationary")
    if callback is not None:
        callback(0, 1.0, x_T, None)
    grid = time_grid(settings.steps, settings.time_grid, schedule=proc.schedule)
    x0 = get_sampler(settings.sampler)(eps_model, x_T, proc, grid, generator=generator,
                                       transform_s0=hook, callback=callback)
    return x0.detach() * scale


def polish(energy, coords: torch.Tensor, steps: int, fixed=None, *, jobs: tuple = (),
           on_frame: FrameCallback | None = None) -> torch.Tensor:
    """The chemical-energy polish of concatenated coordinates (Å): the torsion preferences
    shape the structure first; the last iterations lower only the terms a valid structure
    must satisfy (bounds, planarity, stereo), so that a preference does not leave a bond or
    an angle outside its bounds. ``on_frame`` gets a ``polish`` frame every few
    iterations (at most ``STAGE_FRAMES``) and after the last."""
    from engine.chem.polish import polish as lbfgs

    if energy is None or steps <= 0:
        return coords
    settle = min(POLISH_SETTLE_STEPS, steps // 3)
    report = None
    if on_frame is not None:
        every = frame_stride(steps)

        def report(done, y, offset=0):
            it = offset + done
            if it % every == 0 or it == steps:
                on_frame(StageFrame("polish", it, steps, 0.0, y.detach().cpu().numpy().astype(np.float64),
                                    jobs, done=it == steps))
    first = None if report is None else (lambda done, y: report(done, y))
    coords = lbfgs(energy, coords, steps - settle, fixed=fixed, callback=first)
    second = None if report is None else (lambda done, y: report(done, y, steps - settle))
    return lbfgs(energy.without_preferences(), coords, settle, fixed=fixed, callback=second)
