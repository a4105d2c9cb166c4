"""Background jobs around ``engine.api`` calls: progress, per-step results, cancel, errors.

A :class:`Job` runs its function on a plain Python thread that never touches Qt: it
appends messages to a locked queue, and the :class:`JobRunner` drains every queue from a
QTimer on the GUI thread (every ``POLL_MS``) and emits the job's signals there. So every
slot, lambdas included, runs on the GUI thread, a fast producer can never flood the event
loop (one batch per tick), and no Qt object is used across threads. (Emitting PySide6
signals from worker threads corrupts reference counts under load in PySide6 6.8–6.12,
PYSIDE-3124; this design does not depend on that.)

The job function is called as ``fn(job)`` and may use ``job.report_step(payload)`` (a
progress report or a frame: the callers' own payloads) and ``job.should_stop()``; it returns the
result or raises (``engine.api.Cancelled`` counts as a cancellation, an
``engine.errors.EngineError`` (user error) as a failure with its message only, anything
else as a failure with its type and traceback).
"""
from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from engine.api import Cancelled, EngineError

POLL_MS = 15


class Job(QObject):
    step = Signal(object)               # per-step payload
    steps = Signal(list)                # the payloads of one GUI tick, batched
    succeeded = Signal(object)          # result
    failed = Signal(str, str)           # message, traceback
    cancelled = Signal()
    finished = Signal()                 # always last, after one of the three above

    def __init__(self, name: str, fn: Callable[[Job], Any], parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self.fn = fn
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._messages: list[tuple[str, Any]] = []
        self._delivered = False
        # the Python thread that runs ``fn`` (not ``thread()``: QObject's own, the GUI thread)
        self.worker_thread: threading.Thread | None = None
        self.result: Any = None
        self.error: str | None = None
        self.cached = False             # the result was kept from before (AnalysisController)

    # called on the worker thread ---------------------------------------------------
    def should_stop(self) -> bool:
        return self._stop.is_set()

    def _post(self, message: tuple[str, Any]) -> None:
        with self._lock:
            self._messages.append(message)

    def report_step(self, payload: Any) -> None:
        """Deliver a per-step result (also after cancel: e.g. a final checkpoint)."""
        self._post(("step", payload))

    def _execute(self) -> None:
        end: tuple[str, Any]
        try:
            result = self.fn(self)
            if self._stop.is_set():
                raise Cancelled("cancelled")
        except Cancelled:
            end = ("cancelled", None)
        except EngineError as err:
            # a user error (bad SMILES, file, shape): its message says what and where; a
            # Python traceback in the dialog's Details would only hide that
            self.error = str(err)
            end = ("failed", (self.error, ""))
        except BaseException as err:  # noqa: BLE001 -- shown to the user, never re-raised
            self.error = f"{type(err).__name__}: {err}"
            end = ("failed", (self.error, traceback.format_exc()))
        else:
            self.result = result
            end = ("ok", result)
        self._post(("end", end))
        self._done.set()

    # called on the GUI thread ------------------------------------------------------
    def deliver(self) -> bool:
        """Emit the signals for every queued message; True once the job has ended."""
        with self._lock:
            messages, self._messages = self._messages, []
        steps: list[Any] = []
        ended: tuple[str, Any] | None = None
        for kind, payload in messages:
            if kind == "step":
                steps.append(payload)
            else:
                ended = payload
        if steps:
            self.steps.emit(steps)
            for item in steps:
                self.step.emit(item)
        if ended is not None and not self._delivered:
            self._delivered = True
            kind, payload = ended
            if kind == "ok":
                self.succeeded.emit(payload)
            elif kind == "failed":
                self.failed.emit(*payload)
            else:
                self.cancelled.emit()
            self.finished.emit()
        return self._delivered

    def cancel(self) -> None:
        self._stop.set()

    def is_done(self) -> bool:
        """The worker function has returned (its final signals may still be queued)."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)


class JobRunner(QObject):
    """Runs jobs on worker threads; one named slot (:class:`gdapp.job_slots.JobSlot`) holds at most
    one job: starting a new one cancels the previous job of that slot."""

    jobStarted = Signal(object)
    jobFinished = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.slots: dict[str, Job] = {}
        self._all: list[Job] = []
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)

    def create(self, slot: str, fn: Callable[[Job], Any], name: str | None = None) -> Job:
        """A job in ``slot`` (the previous one there is cancelled), not started yet:
        connect its signals, then :meth:`launch` it."""
        previous = self.slots.get(slot)
        if previous is not None and not previous.is_done():
            previous.cancel()
        job = Job(name or slot, fn)
        self.slots[slot] = job
        return job

    def launch(self, job: Job) -> Job:
        self._all.append(job)
        job.worker_thread = threading.Thread(target=job._execute, name=f"gdapp-{job.name}", daemon=True)
        self.jobStarted.emit(job)
        job.worker_thread.start()
        if not self.timer.isActive():
            self.timer.start()
        return job

    def start(self, slot: str, fn: Callable[[Job], Any], name: str | None = None,
              **handlers: Callable) -> Job:
        """create + connect ``handlers`` (signal name → slot) + launch."""
        job = self.create(slot, fn, name)
        for signal_name, handler in handlers.items():
            getattr(job, signal_name).connect(handler)
        return self.launch(job)

    def poll(self) -> None:
        """Deliver queued messages of every job (GUI thread, from the timer)."""
        for job in list(self._all):
            if job.deliver():
                self._all.remove(job)
                for slot, current in list(self.slots.items()):
                    if current is job:
                        del self.slots[slot]
                self.jobFinished.emit(job)
        if not self._all:
            self.timer.stop()

    def running(self, slot: str) -> Job | None:
        job = self.slots.get(slot)
        return job if job is not None and not job.is_done() else None

    def active(self) -> list[Job]:
        return [j for j in self._all if not j.is_done()]

    def busy(self) -> bool:
        return bool(self.active())

    def cancel(self, slot: str | None = None) -> None:
        jobs = [self.slots.get(slot)] if slot else list(self._all)
        for job in jobs:
            if job is not None:
                job.cancel()

    def shutdown(self, timeout_s: float = 15.0) -> bool:
        """Cancel every job and wait for its thread; True when all stopped in time."""
        self.cancel()
        ok = True
        for job in list(self._all):
            if job.worker_thread is not None:
                job.worker_thread.join(timeout_s)
                ok = ok and not job.worker_thread.is_alive()
        self.poll()
        return ok
