"""Reliability tests: fuzzed loaders, training faults, size limits, app failures, sampling
robustness. Big variants are behind environment variables (see docs/reliability.md);
``RELIABILITY_STATS=FILE`` makes the session write the measured numbers to FILE (JSON)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

# the app tests share tests/gdapp's window helper
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gdapp"))

import reliability_support

torch.set_num_threads(1)


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("RELIABILITY_STATS")
    if path:
        reliability_support.write_stats(path)
