"""Noise schedules: ``beta(t) > 0`` on ``[0, 1]`` and its closed-form integral ``B(t)``.

A schedule is a small object with ``beta(t)`` and ``integral(t)``; both accept a Python
float or a tensor and return the same kind.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["LinearSchedule", "CosineSchedule", "make_schedule", "schedule_from_config"]


def _lib(t):
    return torch if isinstance(t, torch.Tensor) else math


@dataclass(frozen=True)
class LinearSchedule:
    """``beta(t) = beta_min + t (beta_max - beta_min)``, ``B(t) = beta_min t + t^2/2 (beta_max - beta_min)``."""

    beta_min: float = 0.1
    beta_max: float = 20.0

    def __post_init__(self):
        if not (self.beta_min > 0 and self.beta_max > 0):
            raise ValueError(f"beta_min and beta_max must be > 0, got {self.beta_min}, {self.beta_max}")
        if not (math.isfinite(self.beta_min) and math.isfinite(self.beta_max)):
            raise ValueError("beta_min and beta_max must be finite")

    def beta(self, t):
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def integral(self, t):
        return self.beta_min * t + 0.5 * t * t * (self.beta_max - self.beta_min)


@dataclass(frozen=True)
class CosineSchedule:
    """Cosine-type schedule (Nichol & Dhariwal's ``alpha_bar``, stretched to a chosen end).

    ``theta(t) = theta0 + t (theta1 - theta0)`` with ``theta0 = pi/2 * s/(1+s)``;
    ``B(t) = 2 log(cos theta0 / cos theta(t))`` so that a unit mode keeps
    ``exp(-B) = (cos theta / cos theta0)^2`` of its signal, and ``theta1`` is chosen so
    that ``B(1) = integral_end`` (finite, unlike the original which diverges at t = 1).
    ``beta(t) = dB/dt = 2 (theta1 - theta0) tan theta(t)``.
    """

    s: float = 0.008
    integral_end: float = 10.0

    def __post_init__(self):
        if not self.s >= 0 or not self.integral_end > 0 or not math.isfinite(self.integral_end):
            raise ValueError(f"CosineSchedule needs s >= 0 and a finite integral_end > 0, got {self}")

    @property
    def theta0(self) -> float:
        return 0.5 * math.pi * self.s / (1.0 + self.s)

    @property
    def theta1(self) -> float:
        return math.acos(math.cos(self.theta0) * math.exp(-0.5 * self.integral_end))

    def _theta(self, t):
        return self.theta0 + t * (self.theta1 - self.theta0)

    def beta(self, t):
        return 2.0 * (self.theta1 - self.theta0) * _lib(t).tan(self._theta(t))

    def integral(self, t):
        lib = _lib(t)
        return 2.0 * (math.log(math.cos(self.theta0)) - lib.log(lib.cos(self._theta(t))))


def make_schedule(name: str = "linear", **kwargs):
    """Schedule by name: ``linear`` (beta_min, beta_max) or ``cosine`` (s, integral_end)."""
    name = name.lower()
    if name == "linear":
        return LinearSchedule(**kwargs)
    if name == "cosine":
        return CosineSchedule(**kwargs)
    raise ValueError(f"unknown schedule {name!r}; choose 'linear' or 'cosine'")


def schedule_from_config(process) -> LinearSchedule | CosineSchedule:
    """The schedule a process configuration names (a ``ProcessConfig``, a dict such as a
    checkpoint's ``config["process"]``, or an API ``ProcessParams``).

    Keys: ``schedule`` (``linear``/``cosine``), ``beta_min``/``beta_max`` (linear),
    ``cosine_s``/``cosine_end`` (cosine: offset and ``B(1)``); missing keys take the
    defaults of the schedule classes. The one place trainer, sampler and app read it.
    """
    def get(key, default):
        if isinstance(process, dict):
            value = process.get(key, default)
        else:
            value = getattr(process, key, default)
        return default if value is None else value

    name = str(get("schedule", "linear")).lower()
    if name == "linear":
        return LinearSchedule(beta_min=float(get("beta_min", 0.1)), beta_max=float(get("beta_max", 20.0)))
    if name == "cosine":
        return CosineSchedule(s=float(get("cosine_s", 0.008)), integral_end=float(get("cosine_end", 10.0)))
    raise ValueError(f"unknown schedule {name!r}; choose 'linear' or 'cosine'")
