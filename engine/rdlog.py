"""Capture RDKit's log messages so that they can be put into our error messages.

RDKit reports *why* a parse failed only through its log (``rdApp.warning`` /
``rdApp.error``), which by default goes straight to the C++ ``stderr``. Inside
:func:`capture_rdkit_log` the messages that the *current thread* produces are collected
(and not printed); messages from other threads pass through unchanged.

RDKit logging is routed to the Python logger ``"rdkit"`` (``rdBase.LogToPythonLogger``) the
first time a capture is opened; outside a capture that logger prints to stderr as before.

:func:`rdkit_logs_disabled` silences RDKit's C++ logs for a block and afterwards restores
the global logging state exactly: each ``rdApp.*`` log's on/off state, and the stream of
``rdkit.log_handler`` (the ``StreamHandler`` of the ``"rdkit"`` Python logger). The stream
matters because third-party code (PoseBusters' ``CaptureLogger``) re-points that handler at
whatever ``sys.stderr`` is at that moment; under pytest's ``capsys`` that is a per-test
buffer which is closed afterwards, and every later ``setStream`` on the handler (PoseBusters
calls it before each InChI) then raises ``ValueError: I/O operation on closed file``.
"""
from __future__ import annotations

import logging
import re
import sys
import threading
from contextlib import contextmanager

from rdkit import rdBase

_RDKIT_LOGGER = logging.getLogger("rdkit")
_routed = False
_route_lock = threading.Lock()

# Boilerplate lines of RDKit invariant violations (stack traces and frames).
_NOISE = re.compile(
    r"^(\s*\d+# |\*{4}|-{4,}|Stacktrace:|Violation occurred|Failed Expression|"
    r"moving to the beginning of the next molecule)"
)
_STAMP = re.compile(r"^\[\d\d:\d\d:\d\d\]\s*")


class RDKitLog:
    """Messages collected by :func:`capture_rdkit_log` (cleaned, in order, deduplicated)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, message: str) -> None:
        for raw in str(message).splitlines():
            line = _STAMP.sub("", raw).strip()
            if line.startswith("ERROR: "):
                line = line[len("ERROR: "):]
            if not line or _NOISE.match(line) or line in self.lines:
                continue
            self.lines.append(line)

    def text(self, limit: int = 300) -> str:
        """All messages joined with ``"; "``, cut to ``limit`` characters ('' if none)."""
        out = "; ".join(self.lines)
        return out if len(out) <= limit else out[: limit - 3] + "..."


class _ThreadFilter(logging.Filter):
    def __init__(self, sink: RDKitLog) -> None:
        super().__init__()
        self.sink = sink
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread != self.thread:
            return True
        self.sink.add(record.getMessage())
        return False


def _route_to_python() -> None:
    global _routed
    with _route_lock:
        if not _routed:
            rdBase.LogToPythonLogger()
            _routed = True


@contextmanager
def capture_rdkit_log():
    """Context manager: ``with capture_rdkit_log() as log: ...; log.text()``."""
    _route_to_python()
    sink = RDKitLog()
    filt = _ThreadFilter(sink)
    _RDKIT_LOGGER.addFilter(filt)
    try:
        yield sink
    finally:
        _RDKIT_LOGGER.removeFilter(filt)


_RDAPP_LOGS = ("rdApp.debug", "rdApp.info", "rdApp.warning", "rdApp.error")


def rdkit_log_states() -> dict[str, bool]:
    """On/off state of each RDKit log, e.g. ``{"rdApp.warning": True, ...}``."""
    states = {}
    for item in rdBase.LogStatus().split():
        name, _, state = item.partition(":")
        if name in _RDAPP_LOGS:
            states[name] = state == "enabled"
    return states


def _set_rdkit_log_states(states: dict[str, bool]) -> None:
    for name, on in states.items():
        (rdBase.EnableLog if on else rdBase.DisableLog)(name)


class _CurrentStderr:
    """File-like object writing to whatever ``sys.stderr`` is at the time of the write."""

    closed = False

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _usable(stream) -> bool:
    return stream is not None and not getattr(stream, "closed", False)


@contextmanager
def rdkit_logs_disabled():
    """Context manager: all ``rdApp.*`` logs off inside; the previous global state restored after.

    Restores each log's on/off state (not blanket ``EnableLog("rdApp.*")``, which would
    switch on debug/info) and the stream of ``rdkit.log_handler``, which code inside the
    block may have re-pointed (PoseBusters sets it to the current ``sys.stderr``). A handler
    stream found already closed on entry is replaced by one that follows ``sys.stderr``.
    """
    import rdkit

    handler = getattr(rdkit, "log_handler", None)
    stream = getattr(handler, "stream", None)
    if handler is not None and not _usable(stream):
        stream = _CurrentStderr()
        handler.stream = stream          # not setStream(): that flushes the closed stream
    states = rdkit_log_states()
    rdBase.DisableLog("rdApp.*")
    try:
        yield
    finally:
        _set_rdkit_log_states(states)
        if handler is not None:
            handler.stream = stream
