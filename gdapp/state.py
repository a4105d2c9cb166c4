"""The app's model: current structure, trajectories, sampling parameters (no widgets).

Views read from :class:`AppState` and listen to its signals; the controllers feed it (on
the GUI thread, from their jobs' queued messages). Frames are numpy arrays ``(N, 3)``. The
player says which frame is shown (:meth:`AppState.show_frame`); the views that draw it
(viewer, mode-energy plots, quality table) follow ``frameShown``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine import api


@dataclass(frozen=True)
class SamplingParams:
    """What the steering panel controls."""

    lambda_E: float = api.DEFAULT_ENERGY_GUIDANCE   # molecules: chemical energy; lattices: pull to input
    lambda_G: float = 0.0
    lambda_A: float = 0.0
    scale: float = 1.0                              # engine.api.Guidance.scale
    steps: int = api.default_steps("molecule")      # the app's Denoise (engine.api.WATCH_SETTINGS)
    sampler: str = api.default_sampler("molecule")
    seed: int = 0

    def guidance(self) -> api.Guidance:
        return api.Guidance(self.lambda_E, self.lambda_G, self.lambda_A, self.scale)


@dataclass
class TrajectoryBuffer:
    """A trajectory as it streams in: frames ``(N, 3)`` and times grow step by step."""

    kind: str                               # "forward" | "reverse"
    frames: list = field(default_factory=list)
    times: list = field(default_factory=list)
    labels: list = field(default_factory=list)  # what each frame is ("polish 40/70", …)
    stages: list = field(default_factory=list)  # its stage ("diffusion", "polish", "MMFF94", …)
    complete: bool = False
    trajectory: api.Trajectory | None = None
    info: dict = field(default_factory=dict)   # what the app ran it with (sampler, steps, …)

    def __len__(self):
        return len(self.frames)

    def label(self, index: int) -> str:
        """What frame ``index`` is (``diffusion 12/50, t=0.420``, ``MMFF94 120/500, …``)."""
        if index < len(self.labels):
            return self.labels[index]
        return f"t={self.times[index]:.3f}"

    def stage(self, index: int) -> str:
        return self.stages[index] if index < len(self.stages) else self.kind

    @classmethod
    def from_trajectory(cls, traj: api.Trajectory, info: dict | None = None) -> TrajectoryBuffer:
        return cls(kind=traj.kind, frames=list(traj.frames), times=list(traj.times),
                   labels=[traj.label(i) for i in range(len(traj.frames))],
                   stages=[traj.stage(i) for i in range(len(traj.frames))],
                   complete=True, trajectory=traj, info=dict(info or {}))


class AppState(QObject):
    """Signals carry the new value; getters give the current one."""

    structureChanged = Signal(object)          # api.Structure
    trajectoryStarted = Signal(str)            # kind
    trajectoryStep = Signal(str, int)          # kind, index of the frame just appended
    trajectoryFinished = Signal(str)           # kind (buffer.complete is True)
    frameShown = Signal(str, int)              # kind, index: the frame the views show now
    fixedChanged = Signal(object)              # sorted list[int]
    paramsChanged = Signal(object)             # SamplingParams
    modelChanged = Signal(object)              # api.ModelHandle
    referenceChanged = Signal(object)          # ETKDG coords (N, 3) or None

    def __init__(self, parent=None):
        super().__init__(parent)
        self.structure: api.Structure | None = None
        self.trajectories: dict[str, TrajectoryBuffer] = {}
        self.fixed: list[int] = []
        self.params = SamplingParams()
        self.models: dict[str, api.ModelHandle] = {}   # active network per structure kind
        self.reference: np.ndarray | None = None
        self.generated: list[np.ndarray] = []   # final frames of reverse runs, (N, 3) each
        self.generated_info: list[dict] = []    # how each was made (sampler, steps, seed, …)
        self._kept: dict[str, TrajectoryBuffer] = {}   # last finished run while one streams in

    # structure ------------------------------------------------------------------
    def set_structure(self, structure: api.Structure):
        previous_kind = self.structure.kind if self.structure is not None else "molecule"
        self.structure = structure
        self.trajectories = {}
        self.fixed = []
        self.reference = None
        self.generated = []
        self.generated_info = []
        self._kept = {}
        # the guidance starts afresh for every structure: lambda_E means the chemical energy
        # for molecules (on by default, as in `sample`) and a pull towards the input for
        # lattices (off by default), and a λ_A tuned to one input's pose means nothing for
        # the next; the steps and the sampler follow the kind only when it changes (a
        # user's choice stays from molecule to molecule)
        g = api.default_guidance(structure.kind)
        changes: dict[str, Any] = {"lambda_E": g.lambda_E, "lambda_G": g.lambda_G, "lambda_A": g.lambda_A,
                                   "scale": g.scale}
        if previous_kind != structure.kind:
            changes["steps"] = api.default_steps(structure.kind)
            changes["sampler"] = api.default_sampler(structure.kind)
        self.set_params(**changes)
        self.structureChanged.emit(structure)
        self.fixedChanged.emit([])
        self.referenceChanged.emit(None)

    # trajectories ---------------------------------------------------------------
    def begin_trajectory(self, kind: str, info: dict | None = None):
        previous = self.trajectories.get(kind)
        if previous is not None and previous.complete:
            self._kept[kind] = previous        # back on screen if this run is cancelled
        self.trajectories[kind] = TrajectoryBuffer(kind, info=dict(info or {}))
        self.trajectoryStarted.emit(kind)

    def append_frames(self, kind: str, items):
        """Append several frames, then signal once (the newest index). An item is
        ``(t, frame, label, stage, restart)``; a frame that starts a new run's prior draw
        (``restart``) starts the buffer afresh (a stereo violation resampled)."""
        buf = self.trajectories.get(kind)
        if buf is None or buf.complete or not items:
            return
        for t, frame, label, stage, restart in items:
            if restart and len(buf.frames):
                for column in (buf.frames, buf.times, buf.labels, buf.stages):
                    column.clear()
            buf.frames.append(np.asarray(frame))
            buf.times.append(float(t))
            buf.labels.append(label)
            buf.stages.append(stage)
        self.trajectoryStep.emit(kind, len(buf.frames) - 1)

    def finish_trajectory(self, traj: api.Trajectory, info: dict | None = None):
        if info is None:
            running = self.trajectories.get(traj.kind)
            info = running.info if running is not None else {}
        self.trajectories[traj.kind] = TrajectoryBuffer.from_trajectory(traj, info)
        self._kept.pop(traj.kind, None)
        if traj.kind == "reverse":
            final = np.array(traj.final)
            # the same settings and seed give the same conformer: keep it once
            if not any(np.array_equal(final, g) for g in self.generated):
                self.generated.append(final)
                self.generated_info.append(dict(info))
        self.trajectoryFinished.emit(traj.kind)

    def abandon_trajectory(self, kind: str):
        """A run was cancelled or failed: drop its partial frames and show the last
        finished run of that kind again (if there was one)."""
        buf = self.trajectories.get(kind)
        if buf is not None and not buf.complete:
            kept = self._kept.pop(kind, None)
            if kept is not None:
                self.trajectories[kind] = kept
            else:
                del self.trajectories[kind]
            self.trajectoryFinished.emit(kind)

    def trajectory(self, kind: str) -> TrajectoryBuffer | None:
        return self.trajectories.get(kind)

    def show_frame(self, kind: str, index: int) -> None:
        """Show frame ``index`` of the trajectory of ``kind`` (the player calls this): the
        views that draw the frame follow ``frameShown``. A frame that does not exist is not
        shown."""
        buf = self.trajectories.get(kind)
        if buf is None or not 0 <= index < len(buf):
            return
        self.frameShown.emit(kind, int(index))

    # parameters, selection, model -------------------------------------------------
    def set_params(self, **changes):
        new = replace(self.params, **changes)
        if new != self.params:
            self.params = new
            self.paramsChanged.emit(new)

    def set_fixed(self, indices):
        n = self.structure.n if self.structure is not None else 0
        clean = sorted({int(i) for i in indices if 0 <= int(i) < n})
        if clean != self.fixed:
            self.fixed = clean
            self.fixedChanged.emit(list(clean))

    def toggle_fixed(self, index: int):
        fixed = set(self.fixed)
        fixed.symmetric_difference_update({int(index)})
        self.set_fixed(fixed)

    @property
    def model(self) -> api.ModelHandle:
        """The model sampling uses for the current structure: the active network of its
        kind if it suits the structure, else the harmonic prior (named with the reason)."""
        if self.structure is None:
            return self.models.get("molecule") or api.harmonic_prior_model()
        return api.model_for(self.structure, self.models)

    def set_model(self, model: api.ModelHandle):
        """Make ``model`` the active network for every structure kind it serves."""
        for kind in model.kinds:
            self.models[kind] = model
        self.modelChanged.emit(self.model)

    def set_models(self, models: dict):
        """Replace the active networks (``{kind: ModelHandle}``)."""
        self.models = {k: m for k, m in models.items() if m is not None}
        self.modelChanged.emit(self.model)

    def set_reference(self, coords: np.ndarray | None):
        self.reference = None if coords is None else np.asarray(coords)
        self.referenceChanged.emit(self.reference)
