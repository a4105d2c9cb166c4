"""Denoise on the bundled demo with the app's defaults, then every check of the Quality tab
(PoseBusters included); writes denoise_quality.png and prints the table (run under Xvfb):

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python docs/screenshots/denoise_quality.py
"""
from __future__ import annotations

import sys

from app_session import AppSession


def main() -> int:
    from engine import api

    session = AppSession("/tmp/gdapp-denoise-quality.ini")
    win = session.win
    win.open_demo()
    session.wait("forward")
    win.run_reverse()                       # Denoise (F6) with the defaults
    session.wait("reverse")
    win.docks["quality"].raise_()
    job = win.run_quality(posebusters=True)
    while not job.is_done():
        session.pump(0.1)
    session.shot("denoise_quality.png", settle=0.5)
    final = win.state.trajectories["reverse"].frames[-1]
    rows = api.quality_report(win.state.structure, final)
    for r in rows:
        print(f"{r.name}: {r.value} ({'ok' if r.ok else 'FAIL' if r.ok is False else '-'})")
    win.close()
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
