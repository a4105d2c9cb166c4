"""User-facing errors: one place, each message names the problem (and the file/record)."""
from __future__ import annotations


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class InputError(EngineError, ValueError):
    """Bad user input: a malformed file or record, NaN coordinates, a wrong shape.

    ``path`` and ``record`` (0-based record index or 1-based line, see ``location``) say
    where the problem is when it comes from a file.
    """

    def __init__(self, message: str, *, path=None, record=None, line=None):
        where = []
        if path is not None:
            where.append(str(path))
        if record is not None:
            where.append(f"record {record}")
        if line is not None:
            where.append(f"line {line}")
        full = f"{': '.join([', '.join(where), message]) if where else message}"
        super().__init__(full)
        self.path = path
        self.record = record
        self.line = line
        self.reason = message


class GraphError(InputError):
    """A graph that the chosen operation cannot use (empty, disconnected, too large)."""


class CheckpointError(EngineError, ValueError):
    """A checkpoint that is truncated, corrupt, foreign or incompatible."""


class ConfigError(EngineError, ValueError):
    """A configuration file or value that fails validation."""


class Cancelled(EngineError):
    """Raised inside a long call (a trajectory, a corpus build, a training set-up) when its
    ``should_stop`` predicate returned True; what was finished is kept on disk (a corpus
    build's shards)."""


def check_stop(should_stop) -> None:
    """Raise :class:`Cancelled` when ``should_stop`` (a no-argument predicate or None) says so."""
    if should_stop is not None and should_stop():
        raise Cancelled("cancelled")
