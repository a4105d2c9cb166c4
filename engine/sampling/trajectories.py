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
    DEFAULT_RELAX_STEPS,
    DEFAULT_SAMPLER,
    DEFAULT_STEPS,
    SAMPLING_PHI_FLOOR,
)
from engine.errors import Cancelled, InputError, check_stop
from engine.process.params import ProcessParams, make_process
from engine.sampling.models import ModelHandle, harmonic_prior_model
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

    @property
    def final(self) -> np.ndarray:
        return self.frames[-1]


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
    """The reverse steps a structure kind gets by default: few for molecules (the chemical
    energy's polish relaxes what few steps leave; ``sample``'s default as well), more for
    lattices (engine/defaults.py gives the measurements)."""
    return DEFAULT_STEPS if kind == "molecule" else DEFAULT_LATTICE_STEPS


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
    """Frames of a reverse run as they stream in: ``add(k, t, frame, s0_hat)`` with
    coordinates in the structure's frame (Å or field units, shifted by ``center``), the
    mode energies from model units, and the caller's ``callback``."""

    def __init__(self, process, center, scale: float, callback):
        self.process, self.center, self.scale, self.callback = process, center, scale, callback
        self.frames: list = []
        self.s0_hats: list = []
        self.energies: list = []
        self.times: list = []

    def clear(self):
        for items in (self.frames, self.s0_hats, self.energies, self.times):
            items.clear()

    def add(self, k, t, frame: np.ndarray, s0_hat: np.ndarray | None):
        import torch

        self.frames.append(frame)
        self.s0_hats.append(s0_hat if s0_hat is not None else frame)
        self.energies.append(_mode_energies(self.process,
                                            torch.as_tensor((frame - self.center) / self.scale)))
        self.times.append(float(t))
        if self.callback is not None:
            self.callback(k, float(t), frame, s0_hat)

    def trajectory(self, structure, model, seed: int, meta: dict) -> Trajectory:
        return Trajectory(kind="reverse", frames=np.stack(self.frames), times=np.asarray(self.times),
                          mode_energies=np.stack(self.energies),
                          eigenvalues=_eigenvalues(self.process, structure.n),
                          s0_hat=np.stack(self.s0_hats), model_name=model.name, seed=int(seed),
                          meta=meta)


def reverse_trajectory(structure: Structure, model: ModelHandle | None = None, *,
                       steps: int | None = None, sampler: str = DEFAULT_SAMPLER, seed: int = 0,
                       guidance: Guidance | None = None,
                       fixed: Sequence[int] | None = None,
                       params: ProcessParams | None = None,
                       callback: StepCallback | None = None,
                       should_stop: Callable[[], bool] | None = None) -> Trajectory:
    """Reverse diffusion from a prior draw at t = 1 down to t = 0 in ``steps`` steps with
    an ``engine.sampling`` sampler (``sampler_names()``); ``steps`` defaults to
    ``default_steps(structure.kind)``.

    ``guidance``: regulariser guidance on Ŝ_0 (``engine.sampling.guidance``).
    ``fixed``: node indices held at the input coordinates (their Ŝ_0 rows are replaced at
    every step, so the output holds them exactly).
    ``callback(k, t_k, S_k (N,3), Ŝ_0 (N,3))`` streams every step (frame 0 is the prior draw).
    """
    import torch

    if steps is None:
        steps = default_steps(structure.kind)
    if steps < 1 or steps > 5000:
        raise InputError(f"steps must be in [1, 5000], got {steps}")
    from engine.sampling.samplers import get_sampler

    get_sampler(sampler)            # InputError naming the samplers for an unknown name
    model = model or harmonic_prior_model()
    why = model.unsuitable(structure)
    if why is not None:
        raise InputError(f"cannot sample {structure.name}: {why} (engine.api.model_for "
                         f"picks a suitable model)")
    guidance = guidance or default_guidance(structure.kind)
    if structure.is_molecule and model.generation is not None and params is None:
        return _reverse_molecule(structure, model, steps=int(steps), sampler=sampler,
                                 seed=int(seed), guidance=guidance,
                                 fixed=_fixed_indices(fixed, structure.n), callback=callback,
                                 should_stop=should_stop)
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
    record = _ReverseRecorder(process, center, scale, callback)

    def emit(k, t, S_t, S0):
        record.add(k, t, S_t.detach().cpu().numpy() * scale + center,
                   None if S0 is None else S0.detach().cpu().numpy() * scale + center)

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
        emit(len(record.frames), 0.0, final, final)
    return record.trajectory(structure, model, seed, {"sampler": sampler, "steps": steps,
                                                      "fixed": fixed_idx.tolist(),
                                                      "guidance": guidance})


def _reverse_molecule(structure: Structure, model: ModelHandle, *, steps: int, sampler: str,
                      seed: int, guidance: Guidance, fixed: np.ndarray, callback, should_stop):
    """A molecule with a trained network: the one sampling path of ``python -m engine
    sample`` (``engine.sampling.generate.generate_conformers`` with one conformer, input
    index 0, its defaults for polish, MMFF94 relaxation and stereo), so the app, the command line and this
    API give the same coordinates for the same molecule, seed and settings. Frames are
    shifted by the input's centroid (the sample sits where the input was);
    ``frames[-1] - centroid`` is exactly what ``sample`` writes (to the SDF's 4 decimals).

    ``guidance.lambda_E`` (times ``scale``) weighs the chemical energy
    (``engine.chem.energy``); ``lambda_G``/``lambda_A`` steer Ŝ₀ as for lattices.
    """
    import torch

    from engine.sampling.generate import generate_conformers
    from engine.sampling.guidance import RegularizerGuidance
    from engine.sampling.samplers import SamplingCancelled

    process = make_process(structure, model.params)      # for the mode energies shown
    center = _centroid(structure)
    scale = float(model.coord_scale)
    transform = None
    steering = replace(guidance, lambda_E=0.0)      # lambda_E weighs the chemical energy instead
    if steering.active:
        ref = torch.as_tensor((structure.positions - center) / scale, dtype=torch.float32)
        transform = _regularizer_guidance(structure, ref, steering, RegularizerGuidance)
    fixed_arg = (fixed, structure.positions[fixed] - center) if len(fixed) else None
    record = _ReverseRecorder(process, center, scale, callback)

    def step_callback(k, t, S_t, S0):
        if should_stop is not None and should_stop():
            raise SamplingCancelled("cancelled")
        if k == 0:          # a new round (a stereo violation was resampled): start afresh
            record.clear()
        record.add(k, t, S_t.detach().cpu().numpy().astype(np.float64) + center,
                   None if S0 is None else S0.detach().cpu().numpy().astype(np.float64) + center)

    with _cancellation():
        (out,) = generate_conformers([structure.mol], 1, model.generation, sampler=sampler,
                                     steps=steps, seed=seed,
                                     guidance=float(guidance.lambda_E) * float(guidance.scale),
                                     fixed=fixed_arg, transform=transform,
                                     step_callback=step_callback)
    if isinstance(out, Exception):
        raise out
    final = out.GetConformer().GetPositions() + center
    taken = len(record.frames) - 1          # sampler steps (frame 0 is the prior draw)
    polished = not np.allclose(record.frames[-1], final)
    if polished:                            # the polished (and stereo-checked) conformer
        record.add(len(record.frames), 0.0, final, final)
    return record.trajectory(structure, model, seed, {"sampler": sampler, "steps": steps,
                                                      "fixed": fixed.tolist(), "guidance": guidance,
                                                      "steps_taken": taken, "polished": bool(polished),
                                                      "relax": DEFAULT_RELAX_STEPS})


def _regularizer_guidance(structure, ref, g: Guidance, cls):
    """``engine.sampling.guidance.RegularizerGuidance`` for one structure (model units)."""
    import torch

    from engine.training.regularizers import RegularizerContext, reference_directions

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
