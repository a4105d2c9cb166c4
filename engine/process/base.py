"""Operations shared by every process: all of them are per-mode functions of ``A``.

Subclasses provide the layout (one graph with a batch axis, or many graphs concatenated)
through three hooks:

- ``_prepare(coords, times)``: validate arrays and times, return them in the internal
  layout plus the integrals ``B(t)`` shaped to broadcast against the eigenvalues, and a
  context for ``_finish``;
- ``_combine(terms)``: ``sum_i f_i(A) X_i`` (the backend);
- ``_finish(Y, ctx)``: back to the caller's layout.
"""
from __future__ import annotations

from typing import Any

import torch

from engine.errors import InputError
from engine.process import modes
from engine.rng import randn  # per-structure streams when given a PerGraphGenerator


class SpectralProcess:
    dtype: torch.dtype
    device: torch.device
    center: bool
    phi_floor: float
    schedule: Any    # a schedule of engine.process.schedules (beta, integral)

    # ---------------------------------------------------------------- hooks
    def _prepare(self, coords, times):  # pragma: no cover - interface
        raise NotImplementedError

    def _combine(self, terms):  # pragma: no cover - interface
        raise NotImplementedError

    def _finish(self, Y, ctx):  # pragma: no cover - interface
        raise NotImplementedError

    def _centered(self, X):  # pragma: no cover - interface
        raise NotImplementedError

    # ---------------------------------------------------------------- validation
    def _time(self, t, name: str = "t") -> torch.Tensor:
        t = torch.as_tensor(t, dtype=self.dtype, device=self.device)
        if t.dim() > 1:
            raise InputError(f"{name} must be a float or a 1-D tensor of times, got shape {tuple(t.shape)}")
        ok = torch.isfinite(t) & (t >= 0) & (t <= 1)
        if not bool(ok.all()):
            bad = t[~ok].reshape(-1)[0].item()
            raise InputError(f"{name} must lie in [0, 1], got {bad}")
        return t

    def integral(self, t) -> torch.Tensor:
        """``B(t)`` as a tensor of this process's dtype."""
        return self.schedule.integral(self._time(t))

    def _check_finite(self, X, name):
        if not bool(torch.isfinite(X).all()):
            raise InputError(f"{name} contains NaN or infinite coordinates")

    # ---------------------------------------------------------------- transitions
    def apply_mode_function(self, X, f):
        """``f(A) X`` for a per-eigenvalue function ``f(a)``."""
        (X,), _, ctx = self._prepare([("X", X)], [])
        return self._finish(self._combine([(X, f)]), ctx)

    def apply_phi(self, X, t, s=0.0):
        """``Phi(t|s) X = exp(-1/2 (B(t) - B(s)) A) X``."""
        (X,), (Bt, Bs), ctx = self._prepare([("X", X)], [("t", t), ("s", s)])
        return self._finish(self._combine([(X, lambda a: modes.phi(a, Bt - Bs))]), ctx)

    def apply_sigma_sqrt(self, X, t, s=0.0):
        """``Sigma(t|s)^{1/2} X`` (the symmetric square root)."""
        (X,), (Bt, Bs), ctx = self._prepare([("X", X)], [("t", t), ("s", s)])
        return self._finish(self._combine([(X, lambda a: modes.std(a, Bt - Bs))]), ctx)

    # ---------------------------------------------------------------- forward
    def noise(self, S0, t, generator: torch.Generator | None = None, eps=None):
        """Draw ``S_t = Phi(t) S_0 + Sigma(t)^{1/2} eps`` exactly; returns ``(S_t, eps)``.

        ``eps`` is standard normal in node space (mean-free per structure when centred);
        pass ``eps`` to reuse a draw.
        """
        (S0,), (B,), ctx = self._prepare([("S0", S0)], [("t", t)])
        if eps is None:
            eps = randn(S0.shape, generator, dtype=self.dtype, device=self.device)
        else:
            (eps,), _, _ = self._prepare([("eps", eps)], [])
            eps = eps.expand_as(S0)
        eps = self._centered(eps)
        St = self._combine([(S0, lambda a: modes.phi(a, B)), (eps, lambda a: modes.std(a, B))])
        return self._finish(St, ctx), self._finish(eps, ctx)

    def s0_from_eps(self, St, t, eps_hat, phi_floor: float | None = None):
        """``S0_hat = Phi(t)^{-1} (S_t - Sigma(t)^{1/2} eps_hat)``, per mode, guarded by
        ``phi_floor`` (default: the process's own)."""
        (St, eps_hat), (B,), ctx = self._prepare([("St", St), ("eps_hat", eps_hat)], [("t", t)])
        floor = self.phi_floor if phi_floor is None else float(phi_floor)
        out = self._combine([
            (St, lambda a: modes.inv_phi(a, B, floor)),
            (eps_hat, lambda a: -modes.inv_phi(a, B, floor) * modes.std(a, B)),
        ])
        return self._finish(out, ctx)

    def eps_from_s0(self, St, t, S0):
        """The ``eps`` that maps ``S0`` to ``S_t``: ``Sigma^{-1/2}(S_t - Phi S_0)``."""
        (St, S0), (B,), ctx = self._prepare([("St", St), ("S0", S0)], [("t", t)])
        out = self._combine([
            (St, lambda a: modes.inv_std(a, B)),
            (S0, lambda a: -modes.inv_std(a, B) * modes.phi(a, B)),
        ])
        return self._finish(out, ctx)

    # The v (preconditioned) parameterisation. Per mode with eigenvalue ``a``, the harmonic
    # prior's variance ``1/a`` taken as the data's: ``S_t`` then has variance ``1/a`` at
    # every t, and the preconditioned estimate (Karras et al.'s c_skip = phi, c_out = sigma,
    # c_in = 1 for this process) is ``S0_hat = Phi S_t + Sigma^{1/2} v_hat``. Its target
    # ``v = sigma a S_0 - phi eps`` has unit variance at every t: S_0 (scaled) at t = 1,
    # -eps at t = 0. No Phi^{-1} anywhere, hence no guard.
    def s0_from_v(self, St, t, v_hat):
        """``S0_hat = Phi(t) S_t + Sigma(t)^{1/2} v_hat`` (exact, unguarded)."""
        (St, v_hat), (B,), ctx = self._prepare([("St", St), ("v_hat", v_hat)], [("t", t)])
        out = self._combine([(St, lambda a: modes.phi(a, B)), (v_hat, lambda a: modes.std(a, B))])
        return self._finish(out, ctx)

    def eps_from_v(self, St, t, v_hat):
        """The ``eps`` of ``s0_from_v``'s estimate: ``sigma a S_t - phi v_hat`` per mode
        (``Sigma^{-1/2}(S_t - Phi S0_hat)`` without a division)."""
        return self._sigma_a_minus_phi(("St", St), ("v_hat", v_hat), t)

    def v_target(self, S0, t, eps):
        """The training target ``v = sigma a S_0 - phi eps`` of the noise ``eps`` that made
        ``S_t`` from ``S0`` (``noise`` returns both)."""
        return self._sigma_a_minus_phi(("S0", S0), ("eps", eps), t)

    def _sigma_a_minus_phi(self, x, y, t):
        """``sigma a X - phi Y`` per mode, for the named arrays ``x = (name, X)`` and ``y``:
        the map that both ``eps_from_v`` and ``v_target`` are."""
        (X, Y), (B,), ctx = self._prepare([x, y], [("t", t)])
        out = self._combine([(X, lambda a: modes.std(a, B) * a), (Y, lambda a: -modes.phi(a, B))])
        return self._finish(out, ctx)

    def score_from_eps(self, eps, t):
        """``score = -Sigma(t)^{-1/2} eps`` (the gradient of ``log p(S_t | S_0)``)."""
        (eps,), (B,), ctx = self._prepare([("eps", eps)], [("t", t)])
        return self._finish(self._combine([(eps, lambda a: -modes.inv_std(a, B))]), ctx)

    def eps_from_score(self, score, t):
        """``eps = -Sigma(t)^{1/2} score``."""
        (score,), (B,), ctx = self._prepare([("score", score)], [("t", t)])
        return self._finish(self._combine([(score, lambda a: -modes.std(a, B))]), ctx)

    def harmonic_prior_sample_like(self, X, generator: torch.Generator | None = None):
        """A draw from the stationary harmonic prior ``N(0, A^{-1})`` in the layout of ``X``.

        It is the exact marginal at t = 1 when the data follow the harmonic prior
        themselves: ``phi(1)^2 / a + sigma(1)^2 = 1 / a`` per mode. Modes with ``a = 0``
        (the centre of mass) get 0. A start for reverse sampling whose slow modes have
        the data's spread even where ``B(1) a`` is small.
        """
        (X,), _, ctx = self._prepare([("X", X)], [])
        z = self._centered(randn(X.shape, generator, dtype=self.dtype, device=self.device))

        def inv_sqrt(a):
            return torch.where(a > 0, torch.rsqrt(torch.where(a > 0, a, torch.ones_like(a))), torch.zeros_like(a))

        return self._finish(self._combine([(z, inv_sqrt)]), ctx)

    # ---------------------------------------------------------------- reverse
    def posterior(self, St, S0, t, s, generator: torch.Generator | None = None, noise=None):
        """Gaussian posterior ``q(S_s | S_t, S_0)`` for ``s < t``: returns ``(mean, sample)``.

        Mean ``C (Sigma_s^{-1} Phi_s S_0 + F^T Q^{-1} S_t)``, covariance
        ``C = (Sigma_s^{-1} + F^T Q^{-1} F)^{-1}``, ``F = Phi(t|s)``, ``Q = Sigma(t|s)``,
        applied per mode (see ``modes.posterior_coefficients``). ``noise`` (standard
        normal, the layout of ``St``) may be given instead of a generator.
        """
        if bool((torch.as_tensor(s) >= torch.as_tensor(t)).any()):
            raise InputError("posterior needs s < t")
        (St, S0), (Bt, Bs), ctx = self._prepare([("St", St), ("S0", S0)], [("t", t), ("s", s)])
        if noise is None:
            noise = randn(St.shape, generator, dtype=self.dtype, device=self.device)
        else:
            (noise,), _, _ = self._prepare([("noise", noise)], [])
            noise = noise.expand_as(St)
        coef = lambda a: modes.posterior_coefficients(a, Bs, Bt)  # noqa: E731
        mean = self._combine([(S0, lambda a: coef(a)[0]), (St, lambda a: coef(a)[1])])
        spread = self._combine([(self._centered(noise), lambda a: torch.sqrt(coef(a)[2]))])
        return self._finish(mean, ctx), self._finish(mean + spread, ctx)
