"""Denoise as a person meets it: the time from the click to a finished run in the real
window, and what the run shows (run under Xvfb).

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python bench/app_denoise.py --json docs/app_denoise.json

For each molecule (the bundled celecoxib; a 61-heavy-atom peptide, 119 atoms with
hydrogens): open it, wait for the forward run, then ``--repeats`` times click Denoise
(``MainWindow.run_reverse()``, the app's default settings) and time until the reverse
trajectory is finished in the window's state (every frame streamed, the final conformer
there), and until the player has played it through from t = 1 at its speed. Beside it, in
the same process, ``engine.api.reverse_trajectory`` alone with the same settings (the
engine's share). Reports the frames per stage and the radius-of-gyration bounds (largest
frame against the final structure; largest change between consecutive frames). The
targets (issue 24): celecoxib within 2 s, a 60-heavy-atom molecule within 5 s, on this
2-core CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch  # noqa: F401  (before Qt)
from geometry import radius_of_gyration

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")

PEPTIDE_61 = ("CC(C)(C)OC(=O)N[C@@H](Cc1ccccc1)C(=O)N[C@@H](CC(C)C)C(=O)N[C@@H](Cc1c[nH]c2ccccc12)"
              "C(=O)N1CCC[C@H]1C(=O)N[C@@H](CO)C(=O)OCc1ccccc1")
TARGETS_S = {"celecoxib": 2.0, "peptide (61 heavy atoms)": 5.0}


def size_bounds(frames) -> tuple[float, float]:
    """(largest frame / final, largest change between consecutive frames) in radius of gyration."""
    import numpy as np

    r = np.array([radius_of_gyration(f) for f in frames])
    ratio = r[1:] / r[:-1]
    return float(r.max() / r[-1]), float(np.max(np.maximum(ratio, 1.0 / ratio)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="write results here")
    args = ap.parse_args(argv)

    from app_window import open_window

    from engine import api

    app, win = open_window("/tmp/gdapp-bench-denoise.ini")
    finished: list = []
    win.state.trajectoryFinished.connect(finished.append)

    def pump_until(done, limit=300.0):
        t0 = time.perf_counter()
        while not done() and time.perf_counter() - t0 < limit:
            app.processEvents()
            time.sleep(0.001)

    molecules = [("celecoxib", api.load_structures(api.demo_molecule_path())[0]),
                 ("peptide (61 heavy atoms)", api.structure_from_smiles(PEPTIDE_61, seed=0))]
    results = []
    for name, structure in molecules:
        finished.clear()
        win.set_structure(structure)
        pump_until(lambda: "forward" in finished)
        clicks, played = [], []
        for _ in range(args.repeats):
            finished.clear()
            t0 = time.perf_counter()
            win.run_reverse()                                   # Denoise ▶
            pump_until(lambda: "reverse" in finished)
            clicks.append(time.perf_counter() - t0)
            pump_until(lambda: not win.player.is_playing())
            played.append(time.perf_counter() - t0)
        buf = win.state.trajectory("reverse")
        traj = buf.trajectory
        p = win.state.params
        t0 = time.perf_counter()
        api.reverse_trajectory(structure, win.state.model, steps=p.steps, sampler=p.sampler, seed=p.seed,
                               guidance=p.guidance())
        engine_s = time.perf_counter() - t0
        largest, step = size_bounds(traj.frames)
        stages = {stage: sum(s == stage for s in traj.stages) for _, stage in traj.stage_starts()}
        results.append({"molecule": name, "atoms": structure.n,
                        "heavy_atoms": int((structure.atomic_numbers > 1).sum()),
                        "click_to_finished_s": clicks, "click_to_played_s": played,
                        "engine_only_s": engine_s, "frames": len(traj.frames), "frames_per_stage": stages,
                        "largest_frame_over_final_rg": largest, "largest_consecutive_rg_change": step,
                        "target_s": TARGETS_S[name], "player_fps": win.player.speed.value(),
                        "command": traj.meta.get("command")})
    win.close()
    print(f"{'molecule':26s} {'atoms':>5s} {'click→finished s':>18s} {'→played s':>10s} {'engine s':>8s} "
          f"{'frames':>6s} {'max Rg':>6s} {'step':>5s} {'target':>6s}")
    for r in results:
        print(f"{r['molecule']:26s} {r['atoms']:5d} {min(r['click_to_finished_s']):8.2f}–"
              f"{max(r['click_to_finished_s']):<9.2f} {min(r['click_to_played_s']):10.2f} "
              f"{r['engine_only_s']:8.2f} {r['frames']:6d} {r['largest_frame_over_final_rg']:6.2f} "
              f"{r['largest_consecutive_rg_change']:5.2f} {r['target_s']:6.1f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"results": results, "load_average": os.getloadavg(), "cpus": os.cpu_count(),
                       "torch_threads": torch.get_num_threads()}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
