"""Child processes of a process, read from ``/proc`` (Linux): the tests that check that a
check's or a build's worker processes are gone use these (importable from every test folder:
``tests/`` is on the path through its ``conftest.py``)."""
from __future__ import annotations

import os
from pathlib import Path


def live_children(pid: int | None = None) -> set[int]:
    """Live (not zombie) child processes of ``pid`` (default: this process)."""
    pid = os.getpid() if pid is None else pid
    out: set[int] = set()
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            pass
    return {p for p in out if alive(p)}


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
