"""Capture RDKit's log messages so that they can be put into our error messages.

RDKit reports *why* a parse failed only through its log (``rdApp.warning`` /
``rdApp.error``), which by default goes straight to the C++ ``stderr``. Inside
:func:`capture_rdkit_log` the messages that the *current thread* produces are collected
(and not printed); messages from other threads pass through unchanged.

RDKit logging is routed to the Python logger ``"rdkit"`` (``rdBase.LogToPythonLogger``) the
first time a capture is opened; outside a capture that logger prints to stderr as before.
"""
from __future__ import annotations

import logging
import re
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
