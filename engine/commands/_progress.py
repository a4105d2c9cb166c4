"""Progress of ``sample``, ``baseline`` and ``evaluate`` on stderr.

On a terminal: a tqdm bar (molecules done of the total, conformers/s, ETA). Otherwise
(a log file, a pipe, a batch job): a plain line every ``GDAPP_PROGRESS_INTERVAL`` seconds
(default 10), e.g. ``sample: 120/1000 molecules (12%), 600 conformers, 41.2 conformers/s,
ETA 0:03:33``. ``--quiet`` turns both off (errors and the summary line stay).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

DEFAULT_INTERVAL = 10.0


def add_quiet_argument(parser) -> None:
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="no progress bar or progress lines on stderr (errors and the summary stay)")


def count_inputs(path) -> int | None:
    """Records in a .smi / .sdf file (the progress total), or ``None`` when unknown."""
    p = Path(path)
    try:
        suffix = p.suffix.lower()
        if suffix == ".smi":
            n, first = 0, True
            with open(p, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    s = line.strip()
                    if not s or s.startswith("#"):
                        continue
                    if first and s.split(None, 1)[0].lower() == "smiles":
                        first = False
                        continue
                    first = False
                    n += 1
            return n
        if suffix in (".sdf", ".sd"):
            with open(p, "rb") as fh:
                return sum(1 for line in fh if line.rstrip(b"\r\n") == b"$$$$")
    except OSError:
        return None
    return None


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get("GDAPP_PROGRESS_INTERVAL", DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """``update(molecules, conformers)`` after each piece of work; ``close()`` at the end."""

    def __init__(self, label: str, total: int | None = None, *, quiet: bool = False,
                 unit: str = "molecules", stream=None, tty: bool | None = None):
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.done = self.conformers = 0
        self.start = self.last = time.perf_counter()
        self.interval = _interval()
        self.bar = None
        if quiet:
            return
        if tty is None:
            tty = bool(getattr(self.stream, "isatty", lambda: False)())
        if tty:
            try:
                from tqdm import tqdm
            except ImportError:  # tqdm is a dependency; plain lines if it is missing anyway
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, desc=label, unit=" mol", file=self.stream,
                                dynamic_ncols=True, leave=False)

    def rate(self) -> float:
        dt = time.perf_counter() - self.start
        return self.conformers / dt if dt > 0 else 0.0

    def line(self) -> str:
        dt = time.perf_counter() - self.start
        done = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        text = f"{self.label}: {done} {self.unit}{pct}"
        if self.conformers:
            text += f", {self.conformers} conformers, {self.rate():.1f} conformers/s"
        if self.total and self.done and self.done < self.total:
            text += f", ETA {_clock(dt / self.done * (self.total - self.done))}"
        return text

    def update(self, molecules: int = 1, conformers: int = 0) -> None:
        self.done += molecules
        self.conformers += conformers
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.update(molecules)
            if self.conformers:
                self.bar.set_postfix_str(f"{self.rate():.1f} conformers/s", refresh=False)
            return
        now = time.perf_counter()
        if now - self.last >= self.interval:
            self.last = now
            print(self.line(), file=self.stream, flush=True)

    def write(self, text: str) -> None:
        """A message on the stream without breaking the bar."""
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
