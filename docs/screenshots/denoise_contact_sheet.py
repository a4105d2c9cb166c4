"""A default Denoise of the bundled demo in the real window, as a contact sheet of 8 frames
across the run (the 3D view as the player shows each frame, captioned with the player's
label): the prior draw, the diffusion at a few noise levels, its last frame, the polish,
MMFF94 and the result. Writes denoise_contact_sheet.png and denoise_window.png (the whole
window at the end of the run) and prints the frames' labels (run under Xvfb):

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python docs/screenshots/denoise_contact_sheet.py
"""
from __future__ import annotations

import sys

import numpy as np
from app_session import OUT, AppSession


def pick_frames(stages: list[str], count: int = 8) -> list[int]:
    """``count`` frame indices across a run: the prior draw, diffusion frames evenly
    spaced up to its last, the middle of every later stage, the last frame."""
    last_diffusion = max(i for i, s in enumerate(stages) if s == "diffusion")
    later = []
    for stage in dict.fromkeys(s for s in stages[last_diffusion + 1:]):
        idx = [i for i, s in enumerate(stages) if s == stage]
        later.append(idx[len(idx) // 2])
    later.append(len(stages) - 1)
    later = sorted(set(later))
    room = max(2, count - len(later))
    diffusion = np.linspace(0, last_diffusion, room).round().astype(int).tolist()
    return sorted(set(diffusion + later))[:count]


def main() -> int:
    from gdapp.export import caption

    session = AppSession("/tmp/gdapp-denoise-sheet.ini")
    win = session.win
    win.open_demo()
    session.wait("forward")
    win.run_reverse()                       # Denoise ▶ with the defaults
    session.wait("reverse")
    while win.player.is_playing():
        session.pump(0.1)
    session.shot("denoise_window.png", settle=0.5)
    buf = win.state.trajectory("reverse")
    tiles = []
    for index in pick_frames(list(buf.stages)):
        win.player.seek(index)
        session.pump(0.4)
        print(f"frame {index + 1}/{len(buf)}: {buf.label(index)}")
        img = np.ascontiguousarray(win.viewer.image()[:, :, :3])
        tiles.append(caption(img, f"{index + 1}/{len(buf)}  {buf.label(index)}"))
    rows = [np.concatenate(tiles[i:i + 4], axis=1) for i in range(0, len(tiles), 4)]
    sheet = np.concatenate(rows, axis=0)
    from PIL import Image

    image = Image.fromarray(sheet)
    image.thumbnail((1600, 1600))
    image.save(OUT / "denoise_contact_sheet.png")
    print("wrote", OUT / "denoise_contact_sheet.png")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
