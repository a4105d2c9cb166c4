"""Frames of a sampling run, stage by stage: what the app plays and exports.

The pipeline (:mod:`engine.sampling.generate`) is a sequence of named stages; each can
report its intermediate coordinates as :class:`StageFrame` objects through one callback,
``on_frame(frame)``. Stages and their steps:

==============  ===========================================  ==========================
stage           ``step`` / ``total``                          ``t``
==============  ===========================================  ==========================
``diffusion``   sampler step (0: the prior draw) / steps      the sampler's time
``polish``      L-BFGS iteration / iterations                 0
``MMFF94``      force-field iteration / the cap (``UFF`` too)  0
``amide``       a cis amide turned trans and minimised again  0
``stereo``      centres MMFF94 inverted, flipped back         0
``result``      the conformer written (when it differs)       0
==============  ===========================================  ==========================
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["StageFrame", "FrameCallback", "STAGES", "frame_label", "frame_stride"]

STAGES = ("diffusion", "polish", "MMFF94", "UFF", "amide", "stereo", "result")


def frame_stride(iterations: int) -> int:
    """Iterations between two recorded frames of a chemistry stage: at most
    ``STAGE_FRAMES`` frames per minimisation (and its last iteration)."""
    from engine.defaults import STAGE_FRAMES

    return max(1, -(-int(iterations) // STAGE_FRAMES))


@dataclass(frozen=True)
class StageFrame:
    """One recorded state of a run: ``coords (R, 3)`` in Å (centred, as the pipeline
    holds them) of the conformers ``jobs`` (``(molecule index, slot)`` pairs, their rows
    concatenated in that order); ``s0_hat`` the network's (steered) clean estimate for a
    diffusion frame; ``energy`` (kcal/mol) for a force-field frame."""

    stage: str
    step: int
    total: int
    t: float
    coords: np.ndarray
    jobs: tuple = ()
    s0_hat: np.ndarray | None = None
    energy: float | None = None
    done: bool = False          # the stage's last frame (MMFF94: converged or at its cap)

    @property
    def label(self) -> str:
        return frame_label(self.stage, self.step, self.total, self.t, self.energy, self.done)


FrameCallback = Callable[[StageFrame], None]


def frame_label(stage: str, step: int, total: int, t: float, energy: float | None = None,
                done: bool = False) -> str:
    """``diffusion 12/50, t=0.420``, ``polish 40/70``, ``MMFF94 120/500, 63.6 kcal/mol``,
    ``MMFF94 converged, 63.5 kcal/mol``: what a frame is, distinct within a run."""
    if stage == "diffusion":
        return f"diffusion {step}/{total}, t={t:.3f}" if step else f"prior draw, t={t:.3f}"
    if stage in ("MMFF94", "UFF"):
        where = ("converged" if step < total else f"{total}/{total}") if done else f"{step}/{total}"
        return f"{stage} {where}" + (f", {energy:.1f} kcal/mol" if energy is not None else "")
    if stage == "polish":
        return f"polish {step}/{total}"
    return {"amide": "cis amide turned trans", "stereo": "stereo repaired", "result": "result"}.get(stage, stage)
