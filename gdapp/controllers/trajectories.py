"""Forward (noising) and reverse (denoising) trajectories of the structure shown.

:class:`TrajectoryController` starts the job, streams its frames into the
:class:`gdapp.state.AppState`, finishes or abandons the trajectory there, and emits progress
and the outcome; :func:`describe_run` says what a reverse run did.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from engine import api
from gdapp.job_slots import JobSlot
from gdapp.state import AppState
from gdapp.workers import Job, JobRunner

FORWARD_FRAMES = 60        # frames of a forward (noising) trajectory


def describe_run(info: dict) -> str:
    """'adaptive: 37 steps taken (…), seed 0, model …' from a reverse run's info."""
    taken, asked = info.get("steps_taken"), info.get("steps")
    if info.get("sampler") == "adaptive" and taken is not None:
        steps = f"{taken} steps taken (error-controlled; the steps setting, {asked}, is not used)"
    elif taken is None or taken == asked:
        steps = f"{asked} steps"
    else:
        steps = f"{taken} steps taken ({asked} asked)"
    if info.get("polished"):
        steps += " + energy polish" + (" + MMFF94" if info.get("relaxed") else "")
    lam = [f"{k}={info[k]:.3g}" for k in ("lambda_E", "lambda_G", "lambda_A") if info.get(k)]
    fixed = info.get("fixed_atoms") or []
    extra = (", " + " ".join(lam) if lam else "") + \
            (f", {len(fixed)} {'atom' if len(fixed) == 1 else 'atoms'} fixed" if fixed else "")
    text = (f"{info.get('sampler', '?')}: {steps}, seed {info.get('seed', '?')}{extra}, "
            f"model {info.get('model', '?')}")
    if info.get("sample_flags") is not None and not fixed:
        text += f" = python -m engine sample {info['sample_flags']}".rstrip()
    return text


class TrajectoryController(QObject):
    """Forward and reverse trajectories of ``state.structure``, one job per kind
    (:data:`gdapp.job_slots.JobSlot.TRAJECTORIES`; a new run of a kind cancels the one before).

    Frames stream into ``state`` (``begin_trajectory`` / ``append_frames``); a finished run
    goes to ``state.finish_trajectory`` and a failed or cancelled one to
    ``state.abandon_trajectory`` (the last finished run of that kind comes back). Results
    of a run that was superseded, or of a structure no longer shown, are dropped."""

    framesAdded = Signal(str, int)          # kind, frames streamed in so far
    progress = Signal(str, int, int)        # kind, done, total
    runFinished = Signal(str, object)       # kind, info (what ran; the trajectory is in state)
    runFailed = Signal(str, str, str)       # kind, message, traceback
    runCancelled = Signal(str)              # kind: the run in flight was stopped
    statusMessage = Signal(str)             # e.g. "open a structure first"

    def __init__(self, state: AppState, runner: JobRunner | None = None, parent=None):
        super().__init__(parent)
        self.state = state
        self.runner = runner if runner is not None else JobRunner(self)

    # ------------------------------------------------------------------ starting
    def run_forward(self) -> Job | None:
        """The forward (noising) path, ``FORWARD_FRAMES`` frames, from the parameters' seed."""
        seed = int(self.state.params.seed)

        def fn(structure, job):
            def callback(k, t, frame, s0_hat):
                job.report_step((t, frame, f"t={t:.3f}", "forward", False))
            return api.forward_trajectory(structure, num_frames=FORWARD_FRAMES, seed=seed,
                                          callback=callback, should_stop=job.should_stop)
        return self._start(JobSlot.FORWARD, fn, {"seed": seed})

    def run_reverse(self) -> Job | None:
        """Reverse sampling with the parameters, model and fixed atoms of ``state``."""
        p = self.state.params
        model = self.state.model
        fixed = list(self.state.fixed)
        info = {"sampler": p.sampler, "steps": int(p.steps), "seed": int(p.seed),
                "lambda_E": p.lambda_E, "lambda_G": p.lambda_G, "lambda_A": p.lambda_A,
                "guidance_scale": p.scale, "model": model.name, "fixed_atoms": fixed}

        def fn(structure, job):
            def on_frame(frame):
                job.report_step((frame.t, frame.coords, frame.label, frame.stage,
                                 frame.stage == "diffusion" and frame.step == 0))
            return api.reverse_trajectory(structure, model, steps=p.steps, sampler=p.sampler,
                                          seed=p.seed, guidance=p.guidance(), fixed=fixed,
                                          on_frame=on_frame, should_stop=job.should_stop)
        return self._start(JobSlot.REVERSE, fn, info)

    def expected_frames(self, kind: str) -> int:
        """About how many frames a run of ``kind`` streams (progress): a reverse run of a
        molecule adds the polish and MMFF94 frames (at most ``STAGE_FRAMES`` each)."""
        if kind == JobSlot.FORWARD:
            return FORWARD_FRAMES
        p, structure = self.state.params, self.state.structure
        frames = p.steps + 1
        if structure is not None and structure.is_molecule and self.state.model.is_network:
            settings = api.WATCH_SETTINGS
            frames += min(settings.polish, api.STAGE_FRAMES) + 1 + (api.STAGE_FRAMES if settings.relax else 0)
        return frames

    def _start(self, kind: str, fn, info=None) -> Job | None:
        structure = self.state.structure
        if structure is None:
            self.statusMessage.emit("open a structure first")
            return None
        self.runner.cancel(kind)
        self.state.begin_trajectory(kind, info)

        def work(job):
            return fn(structure, job)

        job = self.runner.create(kind, work, name=kind)
        job.steps.connect(lambda items, j=job: self._on_steps(j, kind, structure, items))
        job.succeeded.connect(lambda traj, j=job: self._on_done(j, kind, structure, traj))
        job.failed.connect(lambda msg, tb: self._on_failed(kind, msg, tb))
        job.cancelled.connect(lambda j=job: self._on_cancelled(kind, j))
        return self.runner.launch(job)

    # ------------------------------------------------------------------ stopping
    def cancel(self, kind: str | None = None):
        """Stop the run of ``kind`` (forward or reverse), or both."""
        for slot in (kind,) if kind else JobSlot.TRAJECTORIES:
            self.runner.cancel(slot)

    def running(self, kind: str) -> Job | None:
        return self.runner.running(kind)

    # ------------------------------------------------------------------ results (GUI thread)
    def _current(self, kind, job) -> bool:
        return self.runner.slots.get(kind) is job

    def _on_steps(self, job, kind, structure, items):
        if not self._current(kind, job) or structure is not self.state.structure:
            return
        self.state.append_frames(kind, items)
        buf = self.state.trajectory(kind)
        count = len(buf) if buf is not None else 0
        self.framesAdded.emit(kind, count)
        self.progress.emit(kind, count, self.expected_frames(kind))

    def _on_done(self, job, kind, structure, traj):
        if not self._current(kind, job) or structure is not self.state.structure:
            return
        running = self.state.trajectory(kind)
        info = dict(running.info) if running is not None else {}
        if kind == JobSlot.REVERSE:
            # what actually ran: adaptive samplers take as many steps as they need
            info["steps_taken"] = traj.meta.get("steps_taken", len(traj.frames) - 1)
            info["polished"] = bool(traj.meta.get("polished"))
            info["relaxed"] = bool(traj.meta.get("relax"))
            if traj.meta.get("settings") is not None:       # what `sample` runs to give this conformer
                info["settings"] = traj.meta["settings"]
                info["sample_flags"] = " ".join(traj.meta["settings"].flags())
        self.state.finish_trajectory(traj, info)
        self.runFinished.emit(kind, info)

    def _on_failed(self, kind, msg, tb):
        self.state.abandon_trajectory(kind)
        self.runFailed.emit(kind, msg, tb)

    def _on_cancelled(self, kind, job):
        if self._current(kind, job):
            self.state.abandon_trajectory(kind)
            self.runCancelled.emit(kind)
