"""What decides a run's conformers, in one place: :class:`SamplingSettings`.

``python -m engine sample`` builds one from its flags, the app from its sliders, and
:func:`engine.sampling.generate.generate_conformers` runs the pipeline with it; every field
is written as ``gdapp_<field>`` on every record ``sample`` writes. Two presets:

* ``SamplingSettings()``: ``sample``'s default, tuned for throughput and the held-out
  conformer targets (2 ancestral steps, the expansion of the network's estimates);
* :data:`WATCH_SETTINGS`: the app's Denoise, a run a person watches and steers: 50
  deterministic (DDIM) steps on a grid even in the noise level, no expansion, so every
  frame is a state of the run and the size grows smoothly (docs/app.md gives the figures).

:meth:`SamplingSettings.flags` gives the ``sample`` flags that reproduce a setting, so the
app can say which command writes the conformer it shows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from engine.defaults import (
    DEFAULT_ENERGY_GUIDANCE,
    DEFAULT_EXPANSION,
    DEFAULT_GUIDANCE_START,
    DEFAULT_MIRROR_IMAGES,
    DEFAULT_POLISH_STEPS,
    DEFAULT_RELAX_STEPS,
    DEFAULT_SAMPLER,
    DEFAULT_STEPS,
    DEFAULT_TIME_GRID,
    WATCH_SAMPLER,
    WATCH_STEPS,
    WATCH_TIME_GRID,
)
from engine.errors import InputError

__all__ = ["SamplingSettings", "WATCH_SETTINGS", "STEREO_MODES", "TIME_GRIDS"]

STEREO_MODES = ("fix", "reject", "ignore")
TIME_GRIDS = ("uniform", "quadratic", "sigma")


@dataclass(frozen=True)
class SamplingSettings:
    """Every setting of the sampling pipeline (docs/conformers.md):

    ``sampler``/``steps``/``time_grid``: the reverse diffusion (``engine.sampling.samplers``;
    ``time_grid``: ``uniform`` in t, ``quadratic``, or ``sigma``: even in ``√B(t)``);
    ``seed``; ``guidance``: weight of the chemical energy on the network's estimate at
    ``t <= guidance_start``; ``alignment``: weight of the input's bond directions (λ_A,
    molecules with a 3D input); ``smoothness``: weight of the graph smoothness on the
    three-bond graph (λ_G); ``polish``: L-BFGS iterations on the chemical energy;
    ``expansion``: factor on the network's estimates over the run (1 = off);
    ``mirror_images``; ``stereo``: ``fix`` | ``reject`` | ``ignore``; ``relax``: MMFF94
    iterations (0 = off).
    """

    sampler: str = DEFAULT_SAMPLER
    steps: int = DEFAULT_STEPS
    seed: int = 0
    guidance: float = DEFAULT_ENERGY_GUIDANCE
    guidance_start: float = DEFAULT_GUIDANCE_START
    polish: int = DEFAULT_POLISH_STEPS
    expansion: float = DEFAULT_EXPANSION
    mirror_images: bool = DEFAULT_MIRROR_IMAGES
    stereo: str = "fix"
    relax: int = DEFAULT_RELAX_STEPS
    time_grid: str = DEFAULT_TIME_GRID
    alignment: float = 0.0
    smoothness: float = 0.0

    def check(self, as_flags: bool = False) -> SamplingSettings:
        """``self`` if every value is usable, else :class:`InputError` naming the setting
        (as its ``sample`` flag with ``as_flags``: ``--expansion must be …``)."""
        from engine.sampling.samplers import get_sampler

        def name(field: str) -> str:
            return "--" + field.replace("_", "-") if as_flags else field.replace("_", " ")

        get_sampler(self.sampler)                 # names the samplers for an unknown one
        if not isinstance(self.steps, int) or self.steps < 1:
            raise InputError(f"{name('steps')} must be an integer >= 1, got {self.steps!r}")
        if self.time_grid not in TIME_GRIDS:
            raise InputError(f"{name('time_grid')} must be one of {', '.join(TIME_GRIDS)}, got {self.time_grid!r}")
        for field in ("guidance", "alignment", "smoothness"):
            value = getattr(self, field)
            if not (math.isfinite(value) and value >= 0):
                raise InputError(f"{name(field)} must be a finite number >= 0, got {value}")
        if not 0 <= self.guidance_start <= 1:
            raise InputError(f"{name('guidance_start')} must lie in [0, 1], got {self.guidance_start}")
        if not (math.isfinite(self.expansion) and self.expansion > 0):
            raise InputError(f"{name('expansion')} must be a finite number > 0, got {self.expansion}")
        for field in ("polish", "relax"):
            if getattr(self, field) < 0:
                raise InputError(f"{name(field)} must be >= 0, got {getattr(self, field)}")
        if self.stereo not in STEREO_MODES:
            raise InputError(f"{name('stereo')} must be one of {', '.join(STEREO_MODES)}, got {self.stereo!r}")
        return self

    def replace(self, **changes) -> SamplingSettings:
        return replace(self, **changes)

    def flags(self) -> list[str]:
        """The ``python -m engine sample`` flags that give these settings (only those that
        differ from ``sample``'s defaults)."""
        default = SamplingSettings()
        out: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value == getattr(default, f.name):
                continue
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                out.append(flag if value else "--no-" + f.name.replace("_", "-"))
            else:
                out += [flag, format(value, "g") if isinstance(value, float) else str(value)]
        return out

    def command(self, source: str = "INPUT.sdf", out: str = "OUT.sdf", num_confs: int = 1) -> str:
        """The whole ``sample`` command line, e.g. for the app's About box."""
        return " ".join(["python -m engine sample", source, "--out", out, "--num-confs",
                         str(num_confs), *self.flags()])


#: The app's Denoise: a run to watch (engine/defaults.py has the measurements).
WATCH_SETTINGS = SamplingSettings(sampler=WATCH_SAMPLER, steps=WATCH_STEPS, time_grid=WATCH_TIME_GRID,
                                  expansion=1.0)
