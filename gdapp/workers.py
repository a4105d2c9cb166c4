"""Background jobs around ``engine.api`` calls: progress, per-step results, cancel, errors.

A :class:`Job` is a QObject that lives on the GUI thread; its function runs on a worker
thread of a :class:`JobRunner`'s pool and reports through the job's signals, which Qt
delivers to GUI-thread receivers as queued calls. Nothing here touches a widget.

The job function is called as ``fn(job)`` and may use ``job.report_step(payload)``,
``job.report_progress(done, total, text)`` and ``job.should_stop()``; it returns the
result or raises (``engine.api.Cancelled`` counts as a cancellation, anything else as a
failure with its traceback).
"""
from __future__ import annotations

import threading
import traceback
from typing import Callable

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal

from engine.api import Cancelled


class Job(QObject):
    """Public signals are emitted on the GUI thread only (relayed from the worker through
    queued private signals), so any slot, lambdas included, runs on the GUI thread."""

    step = Signal(object)               # per-step payload
    progress = Signal(int, int, str)    # done, total, text
    succeeded = Signal(object)          # result
    failed = Signal(str, str)           # message, traceback
    cancelled = Signal()
    finished = Signal()                 # always last, after one of the three above

    _q_step = Signal(object)
    _q_progress = Signal(int, int, str)
    _q_end = Signal(str, object)        # "ok" | "failed" | "cancelled", payload

    def __init__(self, name: str, fn: Callable, parent=None):
        super().__init__(parent)
        self.name = name
        self.fn = fn
        self._stop = threading.Event()
        self._done = threading.Event()
        self.result = None
        self.error: str | None = None
        self._q_step.connect(self._relay_step, Qt.QueuedConnection)
        self._q_progress.connect(self.progress, Qt.QueuedConnection)
        self._q_end.connect(self._relay_end, Qt.QueuedConnection)

    def _relay_step(self, payload):
        if not self._stop.is_set():
            self.step.emit(payload)

    def _relay_end(self, kind, payload):
        if kind == "ok":
            self.succeeded.emit(payload)
        elif kind == "failed":
            self.failed.emit(*payload)
        else:
            self.cancelled.emit()
        self.finished.emit()

    # called on the worker thread ---------------------------------------------------
    def should_stop(self) -> bool:
        return self._stop.is_set()

    def report_step(self, payload):
        if not self._stop.is_set():
            self._q_step.emit(payload)

    def report_progress(self, done: int, total: int, text: str = ""):
        self._q_progress.emit(int(done), int(total), text)

    def _execute(self):
        try:
            result = self.fn(self)
            if self._stop.is_set():
                raise Cancelled("cancelled")
        except Cancelled:
            end = ("cancelled", None)
        except BaseException as err:  # noqa: BLE001 -- shown to the user, never re-raised
            self.error = f"{type(err).__name__}: {err}"
            end = ("failed", (self.error, traceback.format_exc()))
        else:
            self.result = result
            end = ("ok", result)
        self._done.set()
        self._q_end.emit(*end)

    # called on the GUI thread ------------------------------------------------------
    def cancel(self):
        self._stop.set()

    def is_done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)


class _Runnable(QRunnable):
    def __init__(self, job: Job):
        super().__init__()
        self.job = job
        self.setAutoDelete(True)

    def run(self):
        self.job._execute()


class JobRunner(QObject):
    """Runs jobs on its own thread pool; one named slot ("sample", "train", ...) holds at
    most one job: starting a new one cancels the previous job of that slot."""

    jobStarted = Signal(object)
    jobFinished = Signal(object)

    def __init__(self, parent=None, max_threads: int = 4):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self.slots: dict[str, Job] = {}
        self._all: set[Job] = set()

    def create(self, slot: str, fn: Callable, name: str | None = None) -> Job:
        """A job in ``slot`` (the previous one there is cancelled), not started yet:
        connect its signals, then :meth:`launch` it."""
        previous = self.slots.get(slot)
        if previous is not None and not previous.is_done():
            previous.cancel()
        job = Job(name or slot, fn)
        self.slots[slot] = job
        self._all.add(job)
        job.finished.connect(lambda j=job: self._on_finished(j))
        return job

    def launch(self, job: Job) -> Job:
        self.jobStarted.emit(job)
        self.pool.start(_Runnable(job))
        return job

    def start(self, slot: str, fn: Callable, name: str | None = None, **handlers) -> Job:
        """create + connect ``handlers`` (signal name → slot) + launch."""
        job = self.create(slot, fn, name)
        for signal_name, handler in handlers.items():
            getattr(job, signal_name).connect(handler)
        return self.launch(job)

    def _on_finished(self, job: Job):
        self._all.discard(job)
        for slot, current in list(self.slots.items()):
            if current is job:
                del self.slots[slot]
        self.jobFinished.emit(job)

    def running(self, slot: str) -> Job | None:
        job = self.slots.get(slot)
        return job if job is not None and not job.is_done() else None

    def busy(self) -> bool:
        return any(not j.is_done() for j in list(self._all))

    def cancel(self, slot: str | None = None):
        jobs = [self.slots.get(slot)] if slot else list(self._all)
        for job in jobs:
            if job is not None:
                job.cancel()

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Cancel every job and wait for the threads; True when all stopped in time."""
        self.cancel()
        return self.pool.waitForDone(timeout_ms)
