"""Training runs, corpus builds and the plan of what Start will do, without widgets.

:class:`TrainingController` runs ``engine.api.train`` and ``engine.api.build_training_corpus``
in the :data:`gdapp.job_slots.JobSlot.TRAIN` slot and ``engine.api.training_plan`` in
:data:`gdapp.job_slots.JobSlot.TRAIN_PLAN`. It keeps what the run has reported (its phase, the
loss history, the newest checkpoint, the corpus build's last report) and its mode, emits
every report and how the run ended, and makes a checkpoint the active model of the
:class:`gdapp.state.AppState`. The training panel (:mod:`gdapp.views.training`) shows what it
emits and asks it to start, pause and stop.

*Pause* stops the run after the trainer has written a checkpoint and *Resume* continues from
it; a run paused before its training steps began (building the corpus, setting up) has
nothing to resume from and counts as stopped. *Stop* ends a corpus build within a fraction
of a second, worker processes included, and keeps the finished shards.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from engine import api
from gdapp.job_slots import JobSlot
from gdapp.state import AppState
from gdapp.workers import Job, JobRunner

ACTIVE_MODES = ("running", "pausing", "stopping")   # a run is in flight
END_TEXTS = {"finished": "finished", "paused": "paused — Resume continues", "stopped": "stopped",
             "failed": "failed"}


def describe_end(how: str, before_training: bool, corpus: dict | None, job_name: str) -> str:
    """What the panel says when a run ended ``how`` (finished, paused, stopped, failed)."""
    if how == "stopped" and before_training and corpus and corpus.get("phase") == "conformers":
        return (f"stopped during the corpus build — {corpus.get('shards_done', 0)} of "
                f"{corpus.get('shards_total', 0)} shards kept; Start resumes the build")
    if how == "finished" and job_name == "build corpus":
        return "corpus built — Start trains on it"
    return END_TEXTS[how]


class TrainingController(QObject):
    """One training run or corpus build at a time, and the plan of the next one.

    ``mode`` is ``idle``, ``running``, ``pausing``, ``stopping`` or ``paused``; ``phase`` the
    running job's stage (``""`` before its first report, ``corpus``, ``setup``, ``train``)."""

    planProgress = Signal(dict)      # the plan's own progress (filtering the corpus sources)
    planReady = Signal(object)       # api.TrainingPlan of the newest plan job
    planFailed = Signal(str)         # message
    runStarted = Signal(str)         # the job's name: "train" | "build corpus"
    progressed = Signal(dict)        # every report of the run (training steps, corpus build, set-up)
    runEnded = Signal(str)           # "finished" | "paused" | "stopped" | "failed" (end_text: in words)
    failed = Signal(str, str)        # message, traceback: a run failed, a checkpoint is unusable
    statusMessage = Signal(str)

    def __init__(self, state: AppState, runner: JobRunner | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.runner = runner if runner is not None else JobRunner(self)
        self.job: Job | None = None
        self.mode = "idle"
        self.phase = ""
        self.plan: api.TrainingPlan | None = None
        self.plan_job: Job | None = None
        self.last_checkpoint: str | None = None
        self.last_corpus: dict | None = None       # the corpus build's last report
        self.history: list[dict] = []              # {"step", "loss"} and {"step", "val_loss"}
        self.end_text = ""

    def is_running(self) -> bool:
        return self.job is not None and not self.job.is_done()

    def is_active(self) -> bool:
        """A run is in flight (running, pausing or stopping)."""
        return self.mode in ACTIVE_MODES

    # ------------------------------------------------------------------ what Start will do
    def refresh_plan(self, config: str, data: str | None = None) -> Job | None:
        """Work out on a worker what Start will do with ``config`` and ``data``
        (``planReady`` or ``planFailed``); a newer plan supersedes this one."""
        if self.is_running():
            return None

        def work(job: Job) -> api.TrainingPlan:
            return api.training_plan(config, data, on_progress=job.report_step,
                                     should_stop=job.should_stop)

        job = self.runner.create(JobSlot.TRAIN_PLAN, work, name="training plan")
        job.step.connect(self.planProgress.emit)
        job.succeeded.connect(lambda plan, j=job: self._plan_ready(j, plan))
        job.failed.connect(lambda msg, tb: self._plan_failed(msg))
        self.plan_job = job
        return self.runner.launch(job)

    def _plan_ready(self, job: Job, plan: api.TrainingPlan) -> None:
        if job is not self.plan_job:
            return
        self.plan = plan
        self.planReady.emit(plan)

    def _plan_failed(self, msg: str) -> None:
        self.plan = None
        self.planFailed.emit(msg)

    def cancel_plan(self) -> None:
        job = self.runner.running(JobSlot.TRAIN_PLAN)
        if job is not None:
            job.cancel()

    # ------------------------------------------------------------------ starting
    def start(self, config: str, out: str, data: str | None = None, resume: bool = False,
              overrides: dict | None = None) -> Job | None:
        """Train ``config`` into ``out`` (building its corpus first when needed); ``resume``
        continues from the checkpoint in ``out``."""
        if self.is_running():
            return None
        if not resume:
            self.history = []

        def work(job: Job) -> Any:
            return api.train(config, out, data=data, resume=resume, overrides=overrides,
                             on_progress=job.report_step, should_stop=job.should_stop)

        job = self._launch(work, "train")
        self.statusMessage.emit(f"training {'resumed' if resume else 'started'}: {config}")
        return job

    def build_corpus(self, config: str) -> Job | None:
        """Build (or resume) the corpus of ``config`` without training."""
        if self.is_running():
            return None

        def work(job: Job) -> Any:
            return api.build_training_corpus(config, on_progress=job.report_step,
                                             should_stop=job.should_stop)

        job = self._launch(work, "build corpus")
        self.statusMessage.emit(f"building the corpus of {config}")
        return job

    def _launch(self, work, name: str) -> Job:
        self.cancel_plan()
        self.phase = ""
        self.last_corpus = None
        job = self.runner.create(JobSlot.TRAIN, work, name=name)
        job.step.connect(self._on_report)
        job.succeeded.connect(self._on_succeeded)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        self.job = job
        self.mode = "running"
        self.runStarted.emit(name)
        return self.runner.launch(job)

    # ------------------------------------------------------------------ stopping
    def pause(self) -> bool:
        """Stop after a checkpoint (Resume continues); False when nothing runs."""
        return self._stop("pausing")

    def stop(self) -> bool:
        """End the run (a corpus build keeps its finished shards); False when nothing runs."""
        return self._stop("stopping")

    def _stop(self, mode: str) -> bool:
        if self.job is None or not self.is_running():
            return False
        self.mode = mode
        self.job.cancel()
        return True

    def shutdown(self, timeout_s: float = 15.0) -> bool:
        """Stop a running training or corpus build and wait for its worker (the window
        closing); a build ends within a fraction of a second, worker processes included."""
        self.cancel_plan()
        if self.job is not None and self.is_running():
            self.mode = "stopping"
            self.job.cancel()
            return self.job.wait(timeout_s)
        return True

    # ------------------------------------------------------------------ reports (GUI thread)
    def _on_report(self, info: dict) -> None:
        event = info.get("event")
        if event == "corpus":
            self.phase = "corpus"
            self.last_corpus = info
        elif event == "setup":
            self.phase = "setup"
        else:
            if "step" in info:
                self.phase = "train"
            if info.get("checkpoint"):
                self.last_checkpoint = str(info["checkpoint"])
            if info.get("loss") is not None:
                self.history.append({"step": info["step"], "loss": info["loss"]})
            if event == "val" and info.get("val_loss") is not None:
                self.history.append({"step": info["step"], "val_loss": info["val_loss"]})
        self.progressed.emit(dict(info))

    def _on_succeeded(self, result: Any) -> None:
        ckpt = getattr(result, "checkpoint", None) or (result.get("checkpoint") if isinstance(result, dict) else None)
        if ckpt:
            self.last_checkpoint = str(ckpt)
        self._end("finished")

    def _on_cancelled(self) -> None:
        self._end("paused" if self.mode == "pausing" else "stopped")

    def _on_failed(self, msg: str, tb: str) -> None:
        self._end("failed")
        self.failed.emit(msg, tb)

    def _end(self, how: str) -> None:
        before_training = self.phase in ("", "corpus", "setup")
        if how == "paused" and before_training:
            how = "stopped"                   # nothing to resume from but the corpus shards
        self.mode = "paused" if how == "paused" else "idle"
        self.end_text = describe_end(how, before_training, self.last_corpus,
                                     self.job.name if self.job is not None else "")
        self.phase = ""
        self.statusMessage.emit(f"training {how}")
        self.runEnded.emit(how)

    # ------------------------------------------------------------------ the model
    def use_checkpoint(self, path: str | None = None) -> api.ModelHandle | None:
        """Make the checkpoint at ``path`` (default: the newest) the active model of its kinds."""
        path = path or self.last_checkpoint
        if not path:
            return None
        try:
            model = api.load_model(path)
        except Exception as err:  # noqa: BLE001 -- shown to the user
            self.failed.emit(f"cannot use checkpoint {path}: {err}", "")
            return None
        self.state.set_model(model)
        self.statusMessage.emit(f"active model: {model.name}")
        return model
