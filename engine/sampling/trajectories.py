"""Forward and reverse trajectories of one structure, frame by frame, for the app and scripts.

Long calls take ``callback`` (streamed per-step results) and ``should_stop`` (a no-argument
predicate polled between steps; when it returns True the call raises
:class:`engine.errors.Cancelled`). The molecule reverse path with a trained network is the
one sampling path of ``python -m engine sample``
(:func:`engine.sampling.generate.generate_conformers`; docs/conformers.md).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from engine.defaults import (
    DEFAULT_ENERGY_GUIDANCE,
    DEFAULT_LATTICE_STEPS,
    DEFAULT_SAMPLER,
    SAMPLING_PHI_FLOOR,
    WATCH_SAMPLER,
    WATCH_STEPS,
)
from engine.errors import Cancelled, InputError, check_stop
from engine.process.params import ProcessParams, make_process
from engine.sampling.handles import ModelHandle, harmonic_prior_model
from engine.structures import Structure

StepCallback = Callable[[int, float, np.ndarray, np.ndarray | None], None]


def _centroid(structure: Structure) -> np.ndarray:
    return structure.positions.mean(0) if structure.is_molecule else np.zeros(3)


@dataclass
class Trajectory:
    """Frames of a forward (noising) or reverse (denoising) run.

    ``frames`` ``(K, N, 3)``, ``times`` ``(K,)``, ``s0_hat`` ``(K, N, 3)`` or None,
    ``mode_energies`` ``(K, N)`` energy per Laplacian eigenmode (ascending eigenvalue),
    ``eigenvalues`` ``(N,)`` of ``A``. Forward frames run t = 0 → 1, reverse ones t = 1 → 0.
    """

    kind: str
    frames: np.ndarray
    times: np.ndarray
    mode_energies: np.ndarray
    eigenvalues: np.ndarray
    s0_hat: np.ndarray | None = None
    model_name: str = ""
    seed: int = 0
    meta: dict = field(default_factory=dict)
    stages: list = field(default_factory=list)     # the stage of every frame ("diffusion", "polish", …)
    labels: list = field(default_factory=list)     # what every frame is ("polish 40/70", …)

    @property
    def final(self) -> np.ndarray:
        return self.frames[-1]

    def stage(self, index: int) -> str:
        return self.stages[index] if self.stages else ("diffusion" if self.kind == "reverse" else "forward")

    def label(self, index: int) -> str:
        """What frame ``index`` is: ``diffusion 12/50, t=0.420``, ``polish 40/70``,
        ``MMFF94 120/500, 63.6 kcal/mol`` (``t=0.420`` for a trajectory without stages)."""
        return self.labels[index] if self.labels else f"t={float(self.times[index]):.3f}"

    def stage_starts(self) -> list[tuple[int, str]]:
        """``(first frame, stage)`` of every stage, in order."""
        out: list[tuple[int, str]] = []
        for i in range(len(self.frames)):
            name = self.stage(i)
            if not out or out[-1][1] != name:
                out.append((i, name))
        return out


def _mode_order(process, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(eigenvalues ascending ``(N,)``, permutation from the process's mode order)."""
    try:
        ev = process.eigenvalues
    except (AttributeError, NotImplementedError):
        return np.arange(n, dtype=np.float64), np.arange(n)
    ev = np.asarray(ev.detach().cpu().numpy() if hasattr(ev, "detach") else ev, dtype=np.float64)
    order = np.argsort(ev, kind="stable")
    return ev[order], order


def _mode_energies(process, S) -> np.ndarray:
    """Energy per mode ``(N,)``, ordered by ascending eigenvalue (zeros if unavailable)."""
    try:
        E = process.mode_energies(S).detach().cpu().numpy()
    except NotImplementedError:
        return np.zeros(S.shape[-2])
    order = getattr(process, "_api_order", None)
    if order is None:
        order = _mode_order(process, E.shape[-1])[1]
        process._api_order = order
    return E[..., order]


def _eigenvalues(process, n: int) -> np.ndarray:
    return _mode_order(process, n)[0]


def forward_trajectory(structure: Structure, *, num_frames: int = 60, seed: int = 0,
                       params: ProcessParams | None = None,
                       callback: StepCallback | None = None,
                       should_stop: Callable[[], bool] | None = None) -> Trajectory:
    """An exact sample path of the forward SDE at ``num_frames`` times in ``[0, 1]``.

    ``S_{t_k} = Φ(t_k|t_{k-1}) S_{t_{k-1}} + Σ(t_k|t_{k-1})^{1/2} ε_k`` (exact transitions,
    docs/math.md §1). Molecules are noised around their centroid and shown around it.
    ``callback(k, t_k, S_k (N,3), None)`` is called for every frame.
    """
    import torch

    if num_frames < 2:
        raise InputError(f"num_frames must be >= 2, got {num_frames}")
    process = make_process(structure, params)
    gen = torch.Generator().manual_seed(int(seed))
    center = _centroid(structure)
    S = torch.as_tensor(structure.positions - center, dtype=torch.float64)
    if structure.is_molecule:
        S = S - S.mean(0, keepdim=True)
    times = np.linspace(0.0, 1.0, num_frames)
    frames, energies = [], []
    for k, t in enumerate(times):
        check_stop(should_stop)
        if k > 0:
            eps = torch.randn(S.shape, generator=gen, dtype=torch.float64)
            if structure.is_molecule:
                eps = eps - eps.mean(0, keepdim=True)
            S = process.apply_phi(S, float(t), s=float(times[k - 1])) + \
                process.apply_sigma_sqrt(eps, float(t), s=float(times[k - 1]))
        frame = S.cpu().numpy() + center
        frames.append(frame)
        energies.append(_mode_energies(process, S))
        if callback is not None:
            callback(k, float(t), frame, None)
    return Trajectory(kind="forward", frames=np.stack(frames), times=times,
                      mode_energies=np.stack(energies),
                      eigenvalues=_eigenvalues(process, structure.n), seed=int(seed))


@dataclass(frozen=True)
class Guidance:
    """Sampling-time regulariser weights (docs/math.md §4) and their overall scale."""

    lambda_E: float = 0.0
    lambda_G: float = 0.0
    lambda_A: float = 0.0
    scale: float = 1.0

    @property
    def active(self) -> bool:
        from engine.sampling.guidance import acts

        return acts(self.scale, self.lambda_E, self.lambda_G, self.lambda_A)


def default_guidance(kind: str = "molecule") -> Guidance:
    """The guidance a structure kind gets by default: for molecules ``lambda_E`` is the
    chemical energy's weight (``engine.chem.energy``; the default of ``sample`` as well),
    for lattices every weight is 0 (``lambda_E`` there pulls towards the input)."""
    return Guidance(lambda_E=DEFAULT_ENERGY_GUIDANCE if kind == "molecule" else 0.0)


def default_steps(kind: str = "molecule") -> int:
    """The reverse steps a structure kind gets by default: the app's Denoise for
    molecules (enough frames to watch the molecule form, ``engine.defaults.WATCH_STEPS``;
    ``sample`` takes 2 for throughput), the lattice model card's 50 for lattices."""
    return WATCH_STEPS if kind == "molecule" else DEFAULT_LATTICE_STEPS


def default_sampler(kind: str = "molecule") -> str:
    """The sampler a structure kind gets by default: the app's Denoise sampler for
    molecules (deterministic: a run a person watches, ``engine.defaults.WATCH_SAMPLER``),
    the lattice model card's ancestral sampler for lattices."""
    return WATCH_SAMPLER if kind == "molecule" else DEFAULT_SAMPLER


def sampler_names() -> list[str]:
    """Samplers :func:`reverse_trajectory` accepts."""
    from engine.sampling.samplers import SAMPLERS

    return list(SAMPLERS)


@contextmanager
def _cancellation() -> Iterator[None]:
    """The one place a sampler's ``SamplingCancelled`` (raised by a step callback when
    ``should_stop`` says so) becomes :class:`engine.errors.Cancelled` (``api.Cancelled``)."""
    from engine.sampling.samplers import SamplingCancelled

    try:
        yield
    except SamplingCancelled as err:
        raise Cancelled("cancelled") from err


class _ReverseRecorder:
    """Frames of a reverse run as they stream in: ``add(frame)`` with a
    :class:`~engine.sampling.frames.StageFrame` whose coordinates are in the structure's
    frame (Å or field units, shifted by ``center``); the mode energies come from model
    units. The caller's ``callback(index, t, coords, Ŝ₀)`` and ``on_frame(frame)`` see
    every frame."""

    def __init__(self, process, center, scale: float, callback, on_frame=None):
        self.process, self.center, self.scale = process, center, scale
        self.callback, self.on_frame = callback, on_frame
        self.frames: list = []
        self.s0_hats: list = []
        self.energies: list = []
        self.times: list = []
        self.stages: list = []
        self.labels: list = []

    def clear(self):
        for items in (self.frames, self.s0_hats, self.energies, self.times, self.stages, self.labels):
            items.clear()

    def add(self, frame):
        import torch

        self.frames.append(frame.coords)
        self.s0_hats.append(frame.s0_hat if frame.s0_hat is not None else frame.coords)
        self.energies.append(_mode_energies(self.process,
                                            torch.as_tensor((frame.coords - self.center) / self.scale)))
        self.times.append(float(frame.t))
        self.stages.append(frame.stage)
        self.labels.append(frame.label)
        if self.callback is not None:
            self.callback(len(self.frames) - 1, float(frame.t), frame.coords, frame.s0_hat)
        if self.on_frame is not None:
            self.on_frame(frame)

    def trajectory(self, structure, model, seed: int, meta: dict) -> Trajectory:
        return Trajectory(kind="reverse", frames=np.stack(self.frames), times=np.asarray(self.times),
                          mode_energies=np.stack(self.energies),
                          eigenvalues=_eigenvalues(self.process, structure.n),
                          s0_hat=np.stack(self.s0_hats), model_name=model.name, seed=int(seed),
                          meta=meta, stages=list(self.stages), labels=list(self.labels))


def reverse_trajectory(structure: Structure, model: ModelHandle | None = None, *,
                       steps: int | None = None, sampler: str | None = None, seed: int = 0,
                       guidance: Guidance | None = None,
                       fixed: Sequence[int] | None = None,
                       params: ProcessParams | None = None,
                       settings=None,
                       callback: StepCallback | None = None,
                       on_frame: Callable | None = None,
                       should_stop: Callable[[], bool] | None = None) -> Trajectory:
    """Reverse diffusion from a prior draw at t = 1 down to t = 0 in ``steps`` steps with
    an ``engine.sampling`` sampler (``sampler_names()``); ``steps`` and ``sampler``
    default to ``default_steps(structure.kind)`` and ``default_sampler(structure.kind)``
    (the ancestral sampler for a model without a network: the exact harmonic prior).

    ``guidance``: regulariser guidance on Ŝ_0 (``engine.sampling.guidance``).
    ``fixed``: node indices held at the input coordinates (their Ŝ_0 rows are replaced at
    every step, so the output holds them exactly).
    ``callback(k, t_k, S_k (N,3), Ŝ_0 (N,3))`` streams every frame (frame 0 is the prior
    draw); ``on_frame(StageFrame)`` streams them with their stage and label (a frame with
    ``stage == "diffusion"`` and ``step == 0`` after others starts a resampled run afresh).
    A molecule with a trained network runs the whole pipeline of ``sample`` with the
    app's Denoise settings (``engine.sampling.settings.WATCH_SETTINGS``, or
    ``settings``; steps, sampler, seed and the guidance weights given here win), and its
    frames include the chemistry stages (``Trajectory.stages`` / ``.labels``).
    """
    import torch

    if steps is None:
        steps = default_steps(structure.kind)
    model = model or harmonic_prior_model()
    if sampler is None:      # the watched run's sampler for a molecule network, else the exact ancestral one
        sampler = default_sampler(structure.kind) if model.denoiser is not None else DEFAULT_SAMPLER
    if steps < 1 or steps > 5000:
        raise InputError(f"steps must be in [1, 5000], got {steps}")
    from engine.sampling.frames import StageFrame
    from engine.sampling.samplers import get_sampler

    get_sampler(sampler)            # InputError naming the samplers for an unknown name
    why = model.unsuitable(structure)
    if why is not None:
        raise InputError(f"cannot sample {structure.name}: {why} (engine.api.model_for "
                         f"picks a suitable model)")
    guidance = guidance or default_guidance(structure.kind)
    if structure.is_molecule and model.denoiser is not None and params is None:
        traj = _reverse_molecule(structure, model, run_settings(steps, sampler, seed, guidance, settings),
                                 fixed=_fixed_indices(fixed, structure.n), callback=callback,
                                 on_frame=on_frame, should_stop=should_stop)
        traj.meta["guidance"] = guidance
        return traj
    process = make_process(structure, params or model.params, phi_floor=SAMPLING_PHI_FLOOR)
    gen = torch.Generator().manual_seed(int(seed))
    center = _centroid(structure)
    scale = float(model.coord_scale)
    ref = torch.as_tensor((structure.positions - center) / scale, dtype=torch.float64)
    fixed_idx = _fixed_indices(fixed, structure.n)
    from engine.sampling.guidance import FixedAtoms, RegularizerGuidance, compose
    from engine.sampling.samplers import SamplingCancelled, get_sampler, time_grid

    grid = time_grid(int(steps))
    eps0 = torch.randn((structure.n, 3), generator=gen, dtype=torch.float64)
    if structure.is_molecule:
        eps0 = eps0 - eps0.mean(0, keepdim=True)
    x_T = process.apply_sigma_sqrt(eps0, 1.0)
    hooks = []
    if guidance.active:
        hooks.append(_regularizer_guidance(structure, ref, guidance, RegularizerGuidance))
    if len(fixed_idx):
        hooks.append(FixedAtoms(torch.as_tensor(fixed_idx), ref[fixed_idx]))
    record = _ReverseRecorder(process, center, scale, callback, on_frame)

    def emit(k, t, S_t, S0, stage="diffusion"):
        record.add(StageFrame(stage, k, int(steps), float(t), S_t.detach().cpu().numpy() * scale + center,
                              s0_hat=None if S0 is None else S0.detach().cpu().numpy() * scale + center))

    def step_callback(k, t, S_t, S0):
        if should_stop is not None and should_stop():
            raise SamplingCancelled("cancelled")
        emit(k, t, S_t, S0)

    emit(0, 1.0, x_T, None)
    eps_model = lambda S_t, t: model.eps_fn(structure, process, S_t, float(t))  # noqa: E731
    with _cancellation():
        final = get_sampler(sampler)(eps_model, x_T, process, grid, callback=step_callback,
                                     generator=gen, transform_s0=compose(*hooks) if hooks else None)
    if len(record.frames) == 1 or not np.allclose(record.frames[-1],
                                                  final.detach().cpu().numpy() * scale + center):
        emit(len(record.frames), 0.0, final, final, stage="result")
    return record.trajectory(structure, model, seed, {"sampler": sampler, "steps": steps,
                                                      "fixed": fixed_idx.tolist(),
                                                      "guidance": guidance})


def run_settings(steps: int, sampler: str, seed: int, guidance: Guidance, base=None):
    """The ``SamplingSettings`` of a molecule's reverse run: the app's Denoise settings
    (``WATCH_SETTINGS``, or ``base``) with its steps, sampler, seed and the guidance
    weights: ``guidance = λ_E · scale`` (the chemical energy), ``alignment = λ_A · scale``,
    ``smoothness = λ_G · scale``. ``settings.flags()`` are the ``sample`` flags that give
    the same conformer."""
    from engine.sampling.settings import WATCH_SETTINGS

    s = float(guidance.scale)
    return (base or WATCH_SETTINGS).replace(steps=int(steps), sampler=sampler, seed=int(seed),
                                            guidance=float(guidance.lambda_E) * s,
                                            alignment=float(guidance.lambda_A) * s,
                                            smoothness=float(guidance.lambda_G) * s).check()


def _reverse_molecule(structure: Structure, model: ModelHandle, settings, *, fixed: np.ndarray,
                      callback, on_frame, should_stop):
    """A molecule with a trained network: the one sampling path of ``python -m engine
    sample`` (``engine.sampling.generate.generate_conformers`` with one conformer, input
    index 0 and ``settings``), so the app, the command line and this API give the same
    coordinates for the same molecule, seed and settings. Every stage's frames are
    recorded: the diffusion's steps, then the polish and MMFF94 iterations (and an amide
    turned or a centre flipped back), and the written conformer last when it differs.
    Frames are shifted by the input's centroid (the sample sits where the input was);
    ``frames[-1] - centroid`` is exactly what ``sample`` writes (to the SDF's 4 decimals).
    """
    from engine.sampling.frames import StageFrame
    from engine.sampling.generate import generate_conformers
    from engine.sampling.samplers import SamplingCancelled

    process = make_process(structure, model.params)      # for the mode energies shown
    center = _centroid(structure)
    scale = float(model.coord_scale)
    fixed_arg = (fixed, structure.positions[fixed] - center) if len(fixed) else None
    record = _ReverseRecorder(process, center, scale, callback, on_frame)

    def recorded(frame):
        if should_stop is not None and should_stop():
            raise SamplingCancelled("cancelled")
        if frame.stage == "diffusion" and frame.step == 0:    # a new round (a stereo violation
            record.clear()                                     # was resampled): start afresh
        record.add(replace(frame, coords=frame.coords + center, jobs=(),
                           s0_hat=None if frame.s0_hat is None else frame.s0_hat + center))

    assert model.denoiser is not None       # reverse_trajectory sends only networks here
    with _cancellation():
        (out,) = generate_conformers([structure.mol], 1, model.denoiser, settings, fixed=fixed_arg,
                                     on_frame=recorded)
    if isinstance(out, Exception):
        raise out
    final = out.GetConformer().GetPositions() + center
    taken = sum(stage == "diffusion" for stage in record.stages) - 1   # frame 0 is the prior draw
    polished = record.stages[-1] != "diffusion"
    if not np.allclose(record.frames[-1], final):     # the written conformer (e.g. reflected back)
        record.add(StageFrame("result", 1, 1, 0.0, final, done=True))
    return record.trajectory(structure, model, settings.seed,
                             {"sampler": settings.sampler, "steps": settings.steps, "fixed": fixed.tolist(),
                              "steps_taken": taken,
                              "polished": bool(polished), "relax": settings.relax, "settings": settings,
                              "command": settings.command()})


def _regularizer_guidance(structure, ref, g: Guidance, cls):
    """``engine.sampling.guidance.RegularizerGuidance`` for one structure (model units)."""
    import torch

    from engine.process.regularizers import RegularizerContext, reference_directions

    edges = torch.as_tensor(structure.edges, dtype=torch.long)
    ctx = RegularizerContext(S_ref=ref, masses=_masses(structure, ref), edges=edges,
                             ref_dirs=reference_directions(ref, edges) if len(edges) else None)
    return cls(ctx, lambda_E=g.lambda_E, lambda_G=g.lambda_G, lambda_A=g.lambda_A,
               scale=g.scale, laplacian=structure.laplacian)


def _fixed_indices(fixed, n: int) -> np.ndarray:
    if fixed is None:
        return np.zeros(0, dtype=np.int64)
    idx = np.unique(np.asarray(list(fixed), dtype=np.int64))
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise InputError(f"fixed atom indices must lie in [0, {n}), got {idx.tolist()}")
    if idx.size >= n:
        raise InputError("every atom is fixed: nothing left to generate")
    return idx


def _masses(structure, like):
    import torch

    if structure.is_molecule:
        from rdkit import Chem

        table = Chem.GetPeriodicTable()
        m = [table.GetAtomicWeight(int(z)) for z in structure.atomic_numbers]
        return torch.tensor(m, dtype=like.dtype) / 12.011
    return torch.ones(structure.n, dtype=like.dtype)
