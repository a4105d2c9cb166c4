"""Time and peak memory of one ``noise()`` call per backend, N from 1e2 to 1e6.

Each case runs in a fresh subprocess. The peak is the process's high-water resident set
(``VmHWM``), reset just before the call (``/proc/self/clear_refs``), minus the resident
set before the call: the extra memory the call itself needed. Times are the best of
``--repeat`` calls after one warm-up call (the warm-up includes any cache fill; the
molecule row reports the cached path, as in training).

    .venv/bin/python bench/process_scaling.py [--quick] [--repeat 3]

The reference is the dense backend where it is feasible; the ratio column is
dense time / this time at the same N.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CASES = [
    # (backend, kind, size parameter, label)
    ("dense", "rgg", 100, "random geometric"),
    ("dense", "rgg", 1_000, "random geometric"),
    ("dense", "rgg", 3_000, "random geometric"),
    ("chebyshev", "rgg", 100, "random geometric"),
    ("chebyshev", "rgg", 1_000, "random geometric"),
    ("chebyshev", "rgg", 3_000, "random geometric"),
    ("chebyshev", "rgg", 10_000, "random geometric"),
    ("chebyshev", "rgg", 100_000, "random geometric"),
    ("chebyshev", "rgg", 1_000_000, "random geometric"),
    ("dense", "grid", 10, "lattice 10^3"),
    ("dct", "grid", 5, "lattice 5^3"),
    ("dct", "grid", 10, "lattice 10^3"),
    ("dct", "grid", 22, "lattice 22^3"),
    ("dct", "grid", 46, "lattice 46^3"),
    ("dct", "grid", 100, "lattice 100^3"),
    ("batch", "molecules", 256, "256 molecules x 50 atoms"),
]
QUICK = {("dense", 100), ("dense", 1_000), ("chebyshev", 1_000), ("chebyshev", 100_000),
         ("dct", 10), ("dct", 100), ("batch", 256), ("dense", 10)}


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def run_case(backend: str, kind: str, size: int, repeat: int, t: float) -> dict:
    import numpy as np
    import torch

    from engine.graphs import grid_laplacian, laplacian_from_edges
    from engine.process import GraphBatchDiffusion, GraphDiffusion

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    if kind == "molecules":
        laps = [laplacian_from_edges(50, [(i, int(rng.integers(max(0, i - 3), i))) for i in range(1, 50)])
                for _ in range(size)]
        proc = GraphBatchDiffusion(laps, dtype=torch.float32)
        S0 = torch.randn(proc.n, 3)
        tt = torch.rand(size)
        n = proc.n
    else:
        if kind == "grid":
            L = grid_laplacian((size, size, size))
        else:
            from scipy.spatial import cKDTree

            pts = rng.random((size, 3))
            radius = (10.0 / (4.0 / 3.0 * np.pi * size)) ** (1.0 / 3.0)  # mean degree ~10
            pairs = cKDTree(pts).query_pairs(radius, output_type="ndarray")
            L = laplacian_from_edges(size, pairs)
        proc = GraphDiffusion(L, gamma=1.0, lam=0.1, backend=backend, dtype=torch.float64)
        n = L.shape[0]
        S0 = torch.randn(n, 3, dtype=torch.float64)
        tt = t
    proc.noise(S0, tt)  # warm-up (and cache fill)
    before = _rss_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        proc.noise(S0, tt)
        times.append(time.perf_counter() - start)
    peak = _rss_kib("VmHWM")
    out = dict(backend=backend if kind != "molecules" else "dense (batched)", n=n,
               seconds=min(times), extra_peak_mb=max(0, peak - before) / 1024, total_peak_mb=peak / 1024)
    if backend == "chebyshev":
        out["degree"] = proc.backend.last_degree
        out["error_bound"] = proc.backend.last_error_bound
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a subset that runs in about a minute")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--t", type=float, default=0.5, help="diffusion time of the noise() call")
    ap.add_argument("--case", nargs=3, metavar=("BACKEND", "KIND", "SIZE"), help=argparse.SUPPRESS)
    ap.add_argument("--json", help="also write the rows as JSON")
    args = ap.parse_args()
    if args.case:
        b, k, s = args.case
        print(json.dumps(run_case(b, k, int(s), args.repeat, args.t)))
        return
    rows = []
    for backend, kind, size, label in CASES:
        if args.quick and (backend, size) not in QUICK:
            continue
        cmd = [sys.executable, __file__, "--case", backend, kind, str(size), "--repeat", str(args.repeat),
               "--t", str(args.t)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            print(f"{backend} {label}: failed\n{res.stderr[-2000:]}", file=sys.stderr)
            continue
        row = json.loads(res.stdout.strip().splitlines()[-1])
        row["graph"] = label
        rows.append(row)
        print(f"  done {row['backend']:>16} {label:>26} N={row['n']:>9,}  {row['seconds']*1e3:9.2f} ms",
              file=sys.stderr, flush=True)
    dense_time = {(r["graph"], r["n"]): r["seconds"] for r in rows if r["backend"] == "dense"}
    print(f"\nnoise() at t={args.t}: best of {args.repeat}, float64 (molecules float32)\n")
    print("| backend | graph | N | time (ms) | vs dense | extra peak (MB) | process peak (MB) "
          "| Chebyshev degree / bound |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        ratio = dense_time.get((r["graph"], r["n"]))
        ratio = f"{ratio / r['seconds']:.1f}x" if ratio and r["backend"] != "dense" else "—"
        cheb = f"{r['degree']} / {r['error_bound']:.1e}" if "degree" in r else ""
        print(f"| {r['backend']} | {r['graph']} | {r['n']:,} | {r['seconds']*1e3:.2f} | {ratio} | "
              f"{r['extra_peak_mb']:.0f} | {r['total_peak_mb']:.0f} | {cheb} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
