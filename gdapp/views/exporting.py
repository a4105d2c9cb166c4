"""File ▸ Export …: the save dialogs and their guards around :mod:`gdapp.export`.

Each export asks for a path (starting in the folder used last) unless it is given one,
writes with :mod:`gdapp.export`, says in the status bar what it wrote, and shows an error
dialog instead of raising (the app stays usable). What is written is the frame shown
(titled and with SDF properties that say what it is), the conformers generated, or the
trajectory the player plays.
"""
from __future__ import annotations

import traceback
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from gdapp import export

CONFORMER_FILTERS = "SDF (*.sdf);;XYZ (*.xyz);;PDB (*.pdb)"


class Exporter(QObject):
    """The window's exports; ``window`` gives the state, player, viewer, settings, the
    status bar and the error dialog."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window

    # ------------------------------------------------------------------ dialogs and guards
    def _save_name(self, title: str, default: str, filters: str) -> str:
        w = self.window
        start = str(Path(w.settings.last_folder or Path.home()) / default)
        path, _ = QFileDialog.getSaveFileName(w, title, start, filters)
        if path:
            w.settings.last_folder = str(Path(path).parent)
        return path

    def _guard(self, title: str, fn, *args):
        try:
            out = fn(*args)
        except Exception as err:  # noqa: BLE001 -- shown, app stays usable
            self.window.show_error(title, str(err), traceback.format_exc())
            return None
        self.window.status(f"wrote {out}")
        return out

    def _trajectory(self, what: str):
        """The trajectory the player plays, or None (and an error dialog) if it is empty."""
        buf = self.window.state.trajectory(self.window.player.kind)
        if buf is None or not len(buf):
            self.window.show_error("Nothing to export", f"no trajectory to {what}")
            return None
        return buf

    # ------------------------------------------------------------------ exports
    def export_current(self, path=None):
        """The frame shown as one conformer (SDF, XYZ or PDB)."""
        w = self.window
        if w.state.structure is None:
            return None
        name, props = self.current_record()
        path = path or self._save_name("Export conformer", "conformer.sdf", CONFORMER_FILTERS)
        if not path:
            return None
        out = self._guard("Export failed", export.export_conformers, path,
                          w.state.structure, [w.viewer.coords], [name], [props])
        if out is not None and props.get("gdapp_frame") in ("noised", "denoising intermediate"):
            # said after the write: not a chemically valid structure
            w.status(f"wrote {out} — a {props['gdapp_frame']} frame at t = "
                     f"{float(props['gdapp_t']):.2f}, not a finished conformer (named "
                     f"“{name}”)", 10000)
        return out

    def current_record(self) -> tuple[str, dict]:
        """Title and SDF properties of the frame shown (says if it is an intermediate)."""
        w = self.window
        structure, player = w.state.structure, w.player
        buf = player.buffer()
        if not player.count() or buf is None:
            return structure.name, {}
        i = min(player.index, len(buf) - 1)
        if not np.array_equal(buf.frames[i], w.viewer.coords):
            return structure.name, {}
        return export.frame_record(structure, player.kind, i, buf.times[i], len(buf), buf.info,
                                   buf.label(i) if player.kind == "reverse" else "")

    def export_generated(self, path=None):
        """Every conformer the reverse runs generated, each saying how it was made."""
        state = self.window.state
        if state.structure is None:
            return None
        if not state.generated:
            self.window.show_error("Nothing to export", "no generated conformers yet: run Reverse sample (F6)")
            return None
        path = path or self._save_name("Export generated conformers", "generated.sdf", CONFORMER_FILTERS)
        if path:
            return self._guard("Export failed", export.export_generated, path,
                               state.structure, state.generated, state.generated_info)
        return None

    def export_trajectory(self, path=None):
        """Every frame of the trajectory the player plays (multi-frame XYZ or PDB)."""
        buf = self._trajectory("export")
        if buf is None:
            return None
        path = path or self._save_name("Export trajectory", f"{self.window.player.kind}.xyz",
                                       "XYZ (*.xyz);;PDB (*.pdb)")
        if path:
            return self._guard("Export failed", export.export_trajectory, path,
                               self.window.state.structure, buf)
        return None

    def export_png(self, path=None):
        """The 3D view as a PNG."""
        path = path or self._save_name("Save image", "view.png", "PNG (*.png)")
        if path:
            return self._guard("Screenshot failed", export.export_png, path, self.window.viewer)
        return None

    def export_animation(self, path=None):
        """The trajectory the player plays as a GIF or MP4, at the player's speed."""
        buf = self._trajectory("animate")
        if buf is None:
            return None
        w = self.window
        path = path or self._save_name("Export animation", f"{w.player.kind}.gif",
                                       "GIF (*.gif);;MP4 (*.mp4)")
        if path:
            return self._guard("Animation export failed", export.export_animation, path,
                               w.viewer, buf, w.player.speed.value())
        return None
