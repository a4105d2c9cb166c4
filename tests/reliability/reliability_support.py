"""Shared helpers for the reliability tests (no tests here).

* :func:`record` stores measured numbers for the current test; ``conftest.py`` writes
  them to the JSON file named by ``RELIABILITY_STATS`` at the end of the session, where
  ``tools/reliability_report.py`` picks them up for ``docs/reliability.md``.
* :func:`env_int` reads the size knobs (``FUZZ_EXAMPLES``, ...) so the CI subset stays
  small and the big runs are one environment variable away.
* :func:`run_engine` / :func:`peak_rss_mib` run ``python -m engine`` or a snippet in a
  fresh interpreter (with the peak resident set size of that child).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATS: dict[str, dict] = {}


def current_test() -> str:
    """Node id of the running test (also inside hypothesis-driven tests)."""
    return os.environ.get("PYTEST_CURRENT_TEST", "unknown").rsplit(" (", 1)[0]


def record(**values) -> dict:
    """Merge ``values`` (plain JSON data) into the numbers recorded for the current test."""
    entry = STATS.setdefault(current_test(), {})
    entry.update(values)
    return entry


def write_stats(path) -> None:
    path = Path(path)
    old = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = {}
    old.update(STATS)
    path.write_text(json.dumps(old, indent=1, sort_keys=True))


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def child_env(**extra) -> dict:
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
    env.pop("RELIABILITY_STATS", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def engine_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "engine", *map(str, args)]


def run_engine(*args, timeout=300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(engine_cmd(*args), cwd=ROOT, env=child_env(), capture_output=True,
                          text=True, timeout=timeout, **kw)


RSS_SNIPPET = """
import json, resource, sys
def _peak_mib():
    # VmHWM is this process's own high-water mark; ru_maxrss would include the RSS of
    # the parent at fork time (Linux carries it across fork + exec)
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
"""


def run_snippet(code: str, timeout=300) -> dict:
    """Run ``code`` in a fresh interpreter; it must ``print(json.dumps(...))`` as its last
    line of output. ``_peak_mib()`` (peak RSS of that process so far, MiB) is predefined."""
    src = RSS_SNIPPET + textwrap.dedent(code)
    proc = subprocess.run([sys.executable, "-c", src], cwd=ROOT, env=child_env(),
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"snippet failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def training_helpers():
    """``(build_tiny_corpus, small_config)`` from tests/engine/test_training_support.py."""
    folder = str(ROOT / "tests" / "engine")
    if folder not in sys.path:
        sys.path.append(folder)
    from test_training_support import build_tiny_corpus, small_config
    return build_tiny_corpus, small_config


def read_log(path) -> list[dict]:
    import csv
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def train_losses(path) -> list[tuple[int, str]]:
    """``(step, loss string)`` of every train row of a trainer's log.csv."""
    return [(int(r["step"]), r["loss"]) for r in read_log(path) if r["kind"] == "train"]


# --------------------------------------------------------------------------- big inputs
def _pdb_line(serial: int, name: str, res: str, resseq: int, xyz, element: str) -> str:
    x, y, z = xyz
    return (f"HETATM{serial % 100000:>5} {name:<4} {res:>3} A{resseq % 10000:>4}    "
            f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00          {element:>2}")


def polyethylene_pdb(path, carbons: int = 6667) -> int:
    """Write H-(CH2)n-H as one PDB chain (``3n + 2`` atoms, one connected molecule) with
    CONECT records; carbons zigzag in rows of 100 (a serpentine 5 Å apart). Returns the
    atom count."""
    import numpy as np

    per_row = 100
    pos = []
    for i in range(carbons):
        row, col = divmod(i, per_row)
        col = col if row % 2 == 0 else per_row - 1 - col
        pos.append((1.26 * col, 5.0 * row + 0.45 * (i % 2), 0.0))
    pos = np.array(pos)
    lines, conect = [], []
    serial = 0
    c_serial = []
    for i, p in enumerate(pos):
        serial += 1
        c_serial.append(serial)
        lines.append(_pdb_line(serial, "C", "PE", i // 50 + 1, p, "C"))
    h_of = {}
    for i, p in enumerate(pos):
        hs = []
        for dz in (1.03, -1.03):
            serial += 1
            hs.append(serial)
            lines.append(_pdb_line(serial, "H", "PE", i // 50 + 1, (p[0], p[1], p[2] + dz), "H"))
        h_of[i] = hs
    for end, shift in ((0, -1.0), (carbons - 1, 1.0)):   # chain-end hydrogens
        serial += 1
        p = pos[end]
        lines.append(_pdb_line(serial, "H", "PE", 1, (p[0], p[1] - 1.03 * shift * 0 + 0.9, p[2] + 0.4), "H"))
        h_of[end].append(serial)
    for i in range(carbons):
        partners = h_of[i] + ([c_serial[i - 1]] if i > 0 else []) + ([c_serial[i + 1]] if i + 1 < carbons else [])
        conect.append("CONECT" + "".join(f"{v:>5}" for v in [c_serial[i]] + partners))
    Path(path).write_text("COMPND    POLYETHYLENE\n" + "\n".join(lines + conect) + "\nEND\n")
    return serial


def water_box_pdb(path, molecules: int = 6667) -> int:
    """Write ``molecules`` waters on a 3.1 Å cubic grid as one PDB model (one
    multi-fragment RDKit molecule, ``3 * molecules`` atoms). Returns the atom count."""
    import math

    side = math.ceil(molecules ** (1 / 3))
    lines, serial = [], 0
    for k in range(molecules):
        i, j, h = k % side, (k // side) % side, k // (side * side)
        o = (3.1 * i, 3.1 * j, 3.1 * h)
        for name, d, el in (("O", (0, 0, 0), "O"), ("H1", (0.96, 0, 0), "H"), ("H2", (-0.24, 0.93, 0), "H")):
            serial += 1
            lines.append(_pdb_line(serial, name, "HOH", k + 1, (o[0] + d[0], o[1] + d[1], o[2] + d[2]), el))
    Path(path).write_text("\n".join(lines) + "\nEND\n")
    return serial
