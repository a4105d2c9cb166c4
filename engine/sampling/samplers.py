"""Reverse-diffusion samplers: plain functions with one signature and a per-step callback.

Every sampler is called as::

    x_0 = sampler(eps_model, x_T, process, timesteps, *, callback=None, generator=None,
                  transform_s0=None, **options)

- ``eps_model(S_t, t) -> eps_hat``: the network (or any ε-predictor), ``t`` a float.
- ``x_T``: the start, normally ``process.prior_sample(...)``; any layout the process takes
  (``(N, 3)``, ``(B, N, 3)``, or concatenated molecules for ``GraphBatchDiffusion``).
- ``process``: ``GraphDiffusion`` or ``GraphBatchDiffusion`` (anything with their methods).
- ``timesteps``: a decreasing grid ``1 = t_0 > ... > t_K = 0`` (see ``time_grid``); the
  adaptive solver uses only its ends.
- ``callback(step, t, S_t, S0_hat)`` after every step (``step`` counts from 1); raise
  ``SamplingCancelled`` in it to stop.
- ``transform_s0(S0_hat, S_t, t) -> S0_hat``: a hook on the clean estimate, used for
  regulariser guidance and fixed atoms (``guidance.compose`` chains several); the sampler
  keeps ``eps_hat`` consistent with the transformed ``S0_hat``.

All updates are exact in the linear part: each mode ``z_i`` is advanced with its own
``phi_i``, ``sigma_i`` (``y = z/phi`` against ``rho = sigma/phi`` is the probability-flow
ODE's natural coordinate, where DDIM is Euler's method and ``heun`` is Heun's), so stiff
modes of large graphs never destabilise a step.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

from engine.defaults import SAMPLING_PHI_FLOOR  # noqa: F401  (in __all__: samplers' users import it here)
from engine.errors import EngineError, InputError
from engine.rng import randn  # per-structure streams when given a PerGraphGenerator

__all__ = ["SAMPLERS", "DEFAULT_SAMPLER", "DEFAULT_STEPS", "SAMPLING_PHI_FLOOR", "SamplingCancelled", "time_grid",
           "get_sampler", "sample_ancestral", "sample_ddim", "sample_pc", "sample_heun", "sample_adaptive",
           "probability_flow_drift"]




class SamplingCancelled(EngineError):
    """Raised (by a callback or a cancel flag) to stop a sampler between steps."""


def time_grid(steps: int, kind: str = "uniform", t_max: float = 1.0, t_min: float = 0.0,
              dtype=torch.float64, schedule=None) -> torch.Tensor:
    """A decreasing grid of ``steps + 1`` times from ``t_max`` to ``t_min``.

    ``uniform`` is even in t; ``quadratic`` puts more steps near t = 0 where structures
    form (``t = t_min + (t_max - t_min) u^2``); ``sigma`` is even in ``√B(t)`` of
    ``schedule`` (needed), the noise's standard deviation in a mode with ``a B(t) ≪ 1``
    (EDM's σ with ρ = 1): even steps in the noise level, so a run's structure grows
    smoothly from the prior (a uniform grid in t takes its largest step first, where the
    cosine schedule's ``B`` changes fastest).
    """
    if not isinstance(steps, int) or steps < 1:
        raise InputError(f"steps must be a positive integer, got {steps!r}")
    u = torch.linspace(1.0, 0.0, steps + 1, dtype=dtype)
    if kind == "uniform":
        pass
    elif kind == "quadratic":
        u = u * u
    elif kind == "sigma":
        if schedule is None:
            raise InputError("the 'sigma' time grid needs the process's schedule")
        lo, hi = math.sqrt(float(schedule.integral(t_min))), math.sqrt(float(schedule.integral(t_max)))
        levels = torch.linspace(hi, lo, steps + 1, dtype=torch.float64) ** 2
        ts = [t_max] + [_time_at(schedule, float(b), t_min, t_max) for b in levels[1:-1]] + [t_min]
        return torch.tensor(ts, dtype=dtype)
    else:
        raise InputError(f"unknown time grid {kind!r}; choose 'uniform', 'quadratic' or 'sigma'")
    return t_min + (t_max - t_min) * u


def _time_at(schedule, level: float, t_min: float, t_max: float) -> float:
    """The t in ``[t_min, t_max]`` with ``schedule.integral(t) == level`` (bisection: ``B``
    increases; 60 halvings reach float64 precision)."""
    lo, hi = t_min, t_max
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if float(schedule.integral(mid)) < level:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _clean_estimate(eps_model, process, x, t: float, transform_s0):
    """``(eps_hat, S0_hat)`` at ``(x, t)``, with the hook applied and the pair consistent:
    ``Phi(t) S0_hat + Sigma(t)^{1/2} eps_hat == x`` always.

    Consistency matters because ``S0_hat`` is guarded (``phi_floor``): in modes whose
    ``phi(t)`` is below the floor, ``S0_hat`` is shrunk, and the network's own eps would
    then no longer reproduce ``x``: every DDIM/Heun step would contract those modes a
    little more (samples shrank as the step count grew) and the adaptive solver could not
    shrink its error with the step. eps is therefore re-derived from the guarded S0_hat.
    """
    eps = eps_model(x, t)
    if not bool(torch.isfinite(eps).all()):
        raise EngineError(f"the model returned NaN or infinite eps at t={t:.4g}")
    x0 = process.s0_from_eps(x, t, eps)
    if transform_s0 is not None:
        x0 = transform_s0(x0, x, t)
    eps = process.eps_from_s0(x, t, x0)
    return eps, x0


def _to_time(process, x0, eps, s: float):
    """The DDIM map: ``Phi(s) S0_hat + Sigma(s)^{1/2} eps_hat`` (``S0_hat`` at s = 0)."""
    if s <= 0:
        return x0
    return process.apply_phi(x0, s) + process.apply_sigma_sqrt(eps, s)


def _grid(timesteps) -> list[float]:
    ts = [float(t) for t in torch.as_tensor(timesteps).reshape(-1)]
    if len(ts) < 2 or any(b >= a for a, b in zip(ts, ts[1:])) or ts[0] > 1 or ts[-1] < 0:
        raise InputError("timesteps must be a decreasing grid inside [0, 1] with at least 2 points")
    return ts


def _emit(callback, step, t, x, x0):
    if callback is not None:
        callback(step, t, x, x0)


def sample_ancestral(eps_model, x_T, process, timesteps, *, callback=None, generator=None,
                     transform_s0=None):
    """Ancestral sampling: ``S_s ~ q(S_s | S_t, S_0 := S0_hat)``, the exact Gaussian posterior."""
    ts = _grid(timesteps)
    x = x_T
    for k in range(len(ts) - 1):
        t, s = ts[k], ts[k + 1]
        eps, x0 = _clean_estimate(eps_model, process, x, t, transform_s0)
        x = process.posterior(x, x0, t, s, generator=generator)[1] if s > 0 else x0
        _emit(callback, k + 1, s, x, x0)
    return x


def sample_ddim(eps_model, x_T, process, timesteps, *, callback=None, generator=None,
                transform_s0=None):
    """Deterministic DDIM: ``S_s = Phi(s) S0_hat + Sigma(s)^{1/2} eps_hat``."""
    ts = _grid(timesteps)
    x = x_T
    for k in range(len(ts) - 1):
        t, s = ts[k], ts[k + 1]
        eps, x0 = _clean_estimate(eps_model, process, x, t, transform_s0)
        x = _to_time(process, x0, eps, s)
        _emit(callback, k + 1, s, x, x0)
    return x


def _centered_randn(process, like, generator):
    z = randn(like.shape, generator, dtype=like.dtype, device=like.device)
    return process._centered(z) if hasattr(process, "_centered") else z


def sample_pc(eps_model, x_T, process, timesteps, *, callback=None, generator=None,
              transform_s0=None, corrector_steps: int = 1, snr: float = 0.1):
    """Predictor–corrector: an ancestral predictor, then ``corrector_steps`` Langevin steps.

    The corrector is Langevin dynamics on ``p_s`` preconditioned by ``Sigma(s)``:
    ``S <- S - delta Sigma^{1/2} eps_hat + sqrt(2 delta) Sigma^{1/2} z`` (score
    ``= -Sigma^{-1/2} eps_hat``), with ``delta = 2 (snr ||z|| / ||eps_hat||)^2`` as in
    Song et al.'s signal-to-noise rule. No corrector at ``s = 0``.
    """
    ts = _grid(timesteps)
    x = x_T
    for k in range(len(ts) - 1):
        t, s = ts[k], ts[k + 1]
        eps, x0 = _clean_estimate(eps_model, process, x, t, transform_s0)
        if s <= 0:
            x = x0
        else:
            x = process.posterior(x, x0, t, s, generator=generator)[1]
            for _ in range(corrector_steps):
                eps_c, _ = _clean_estimate(eps_model, process, x, s, transform_s0)
                z = _centered_randn(process, x, generator)
                delta = 2.0 * (snr * float(z.norm()) / max(float(eps_c.norm()), 1e-12)) ** 2
                x = x + process.apply_sigma_sqrt(-delta * eps_c + math.sqrt(2.0 * delta) * z, s)
        _emit(callback, k + 1, s, x, x0)
    return x


def _heun_step(eps_model, process, x, t, s, transform_s0):
    """One Heun step of the probability-flow ODE from t to s (Euler/DDIM at s = 0).

    Returns ``(x_s, S0_hat_t, x_s_euler, nfe)``; the Euler result is the embedded
    first-order solution (for error control).
    """
    eps_t, x0_t = _clean_estimate(eps_model, process, x, t, transform_s0)
    x_euler = _to_time(process, x0_t, eps_t, s)
    if s <= 0:
        return x_euler, x0_t, x_euler, 1
    eps_s, _ = _clean_estimate(eps_model, process, x_euler, s, transform_s0)
    eps_avg = 0.5 * (eps_t + eps_s)
    x0_avg = process.s0_from_eps(x, t, eps_avg)
    eps_avg = process.eps_from_s0(x, t, x0_avg)      # consistent pair (see _clean_estimate)
    return _to_time(process, x0_avg, eps_avg, s), x0_t, x_euler, 2


def sample_heun(eps_model, x_T, process, timesteps, *, callback=None, generator=None,
                transform_s0=None):
    """Probability-flow ODE, Heun's second-order method (2 evaluations a step, 1 at the end)."""
    ts = _grid(timesteps)
    x = x_T
    for k in range(len(ts) - 1):
        t, s = ts[k], ts[k + 1]
        x, x0, _, _ = _heun_step(eps_model, process, x, t, s, transform_s0)
        _emit(callback, k + 1, s, x, x0)
    return x


def sample_adaptive(eps_model, x_T, process, timesteps, *, callback=None, generator=None,
                    transform_s0=None, rtol: float = 1e-2, atol: float = 1e-3,
                    initial_step: float = 0.05, t_end: float = 1e-3, max_steps: int = 2000,
                    stats: dict | None = None):
    """Probability-flow ODE with an adaptive step: Heun with an embedded Euler (DDIM)
    error estimate, steps accepted when ``rms((x_heun - x_euler)/(atol + rtol |x|)) <= 1``.

    Integrates from ``timesteps[0]`` to ``t_end``, then takes one DDIM step to
    ``timesteps[-1]``. ``stats`` (a dict) receives ``nfe``, ``accepted``, ``rejected``.
    """
    ts = _grid(timesteps)
    t, t_final = ts[0], ts[-1]
    t_end = max(t_end, t_final)
    h = min(initial_step, t - t_end) if t > t_end else 0.0
    x = x_T
    nfe = accepted = rejected = 0
    step = 0
    while t > t_end + 1e-12:
        if accepted + rejected >= max_steps:
            raise EngineError(f"adaptive solver needed more than {max_steps} steps (rtol={rtol}, atol={atol})")
        s = max(t - h, t_end)
        x_new, x0, x_euler, n = _heun_step(eps_model, process, x, t, s, transform_s0)
        nfe += n
        scale = atol + rtol * torch.maximum(x.abs(), x_new.abs())
        err = float(torch.sqrt(torch.mean(((x_new - x_euler) / scale) ** 2)))
        if err <= 1.0 or h <= 1e-6:
            x, t = x_new, s
            accepted += 1
            step += 1
            _emit(callback, step, t, x, x0)
        else:
            rejected += 1
        h = h * min(5.0, max(0.2, 0.9 * (max(err, 1e-10)) ** -0.5))
        h = min(h, t - t_end) if t > t_end else h
    if t_final < t:
        eps, x0 = _clean_estimate(eps_model, process, x, t, transform_s0)
        nfe += 1
        x = _to_time(process, x0, eps, t_final)
        step += 1
        _emit(callback, step, t_final, x, x0)
    if stats is not None:
        stats.update(nfe=nfe, accepted=accepted, rejected=rejected)
    return x


def probability_flow_drift(eps_model, process, x, t: float):
    """``dS/dt = -1/2 beta(t) (A S + s_theta(S, t))`` with ``s_theta = -Sigma^{-1/2} eps_hat``."""
    eps = eps_model(x, t)
    score = process.score_from_eps(eps, t)
    drift = process.apply_mode_function(x, lambda a: a)  # A S
    return -0.5 * float(process.schedule.beta(t)) * (drift + score)


SAMPLERS: dict[str, Callable] = {
    "ddim": sample_ddim,
    "ancestral": sample_ancestral,
    "pc": sample_pc,
    "heun": sample_heun,
    "adaptive": sample_adaptive,
}
"""Every sampler by name (``ddim``, ``ancestral``, ``pc``, ``heun``, ``adaptive``), each called
as the module docstring says: ``SAMPLERS["heun"](eps_model, x_T, process, time_grid(20))``."""

# The default of `engine sample`, generate_conformers, the API and the app (engine.defaults).
from engine.defaults import DEFAULT_SAMPLER, DEFAULT_STEPS  # noqa: E402


def get_sampler(name: str) -> Callable:
    """The sampler called ``name``: the one check of a sampler's name (``sample``, the API
    and ``generate_conformers`` all come here); InputError naming the choices otherwise."""
    try:
        return SAMPLERS[name]
    except KeyError:
        raise InputError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}") from None
