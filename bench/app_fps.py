"""Frame rate of the 3D view while playing trajectories (run under Xvfb).

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python bench/app_fps.py

Plays (1) the reverse trajectory of a 50-atom molecule in each style, with dynamic
bonds, and (2) the forward trajectory of a 10^4-site lattice as points and as arrows.
A frame = the player's per-frame work (new coordinates into the scene, bonds recomputed)
plus one full render and the Qt event processing. Goal: ≥ 30 fps (molecule), ≥ 10 fps
(lattice). "fps" forces one repaint per frame; "player" plays with the app's own player
(loop, speed set to 120 fps) and counts the renders VTK completed per second. Prints a table and,
with --json PATH, writes the numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch  # noqa: F401  (before Qt)

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")

MOLECULE_50 = "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)NCCc1ccc(O)c(OC)c1"   # 50 atoms with H


def play(app, window, kind: str, seconds: float) -> tuple[float, int]:
    """Step through the trajectory frames as fast as possible for ``seconds``."""
    buf = window.state.trajectory(kind)
    viewer = window.viewer
    frames = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        window.player.seek(frames % len(buf))     # schedules exactly one repaint
        viewer.plotter.repaint()                  # paint now: one render of the scene
        app.processEvents()
        frames += 1
    return frames / (time.perf_counter() - t0), frames


def play_with_player(app, window, kind: str, seconds: float) -> tuple[float, int]:
    """Play with the app's own player (loop, speed 120 fps) and count the renders VTK
    actually completed: the rate a user sees, with every timer and repaint as in use."""
    ren_win = window.viewer.plotter.ren_win
    rendered = [0]
    tag = ren_win.AddObserver("EndEvent", lambda *_: rendered.__setitem__(0, rendered[0] + 1))
    player = window.player
    player.select(kind)
    player.set_mode("loop")
    player.set_fps(120)
    player.play()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        app.processEvents()
        time.sleep(0.0005)
    elapsed = time.perf_counter() - t0
    player.pause()
    ren_win.RemoveObserver(tag)
    return rendered[0] / elapsed, rendered[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--json", help="write results here")
    args = ap.parse_args(argv)

    from app_window import open_window

    from engine import api

    app, win = open_window("/tmp/gdapp-bench-settings.ini")

    def wait_traj(kind):
        done = []
        win.state.trajectoryFinished.connect(lambda k: done.append(k))
        while kind not in done:
            app.processEvents()
            time.sleep(0.005)

    results = []
    mol = api.structure_from_smiles(MOLECULE_50, seed=1)
    win.set_structure(mol)
    wait_traj("forward")
    win.state.set_params(steps=100)
    win.run_reverse(play=False)         # the frames are measured below, not the play-through
    wait_traj("reverse")
    win.player.select("reverse")
    size = win.viewer.plotter.ren_win.GetSize()
    for style in ("ball-and-stick", "licorice", "space-filling"):
        win.set_style(style)
        fps, n = play(app, win, "reverse", args.seconds)
        played, m = play_with_player(app, win, "reverse", args.seconds)
        results.append({"system": f"molecule, {mol.n} atoms, reverse trajectory",
                        "mode": f"{style}, dynamic bonds", "fps": fps, "frames": n,
                        "player_fps": played, "player_frames": m,
                        "view_px": list(size), "goal_fps": 30})
    lattice = api.build_lattice((22, 22, 21), "random")
    win.set_structure(lattice)
    wait_traj("forward")
    win.player.select("forward")
    for mode in ("points", "arrows"):
        win.viewer.set_lattice_mode(mode)
        fps, n = play(app, win, "forward", args.seconds)
        played, m = play_with_player(app, win, "forward", args.seconds)
        results.append({"system": f"lattice, {lattice.n} sites, forward trajectory",
                        "mode": mode, "fps": fps, "frames": n, "player_fps": played,
                        "player_frames": m, "view_px": list(size),
                        "goal_fps": 10})
    win.close()
    print(f"{'system':46s} {'mode':32s} {'fps':>7s} {'player':>7s} {'goal':>5s}")
    for r in results:
        print(f"{r['system']:46s} {r['mode']:32s} {r['fps']:7.1f} {r['player_fps']:7.1f} {r['goal_fps']:5d}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"results": results, "load_average": os.getloadavg(),
                       "cpus": os.cpu_count()}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
