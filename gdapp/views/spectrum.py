"""Energy per Laplacian mode over t: how structured noise works, in one picture.

Top: a heat map of ``log10`` energy (colour bar at its side), mode index (ascending
eigenvalue, smooth → rough) against t (a forward run) or against the frames of a reverse
run in the order they were made: the diffusion from t = 1 to 0, then the chemistry
stages (polish, MMFF94), each stage's first frame marked; a cursor at the player's
frame. Bottom: the energy of each mode in the current frame (the spectrum). In the
forward process the rough (high) modes lose their signal first and the smooth ones last.
Attached to the :class:`gdapp.state.AppState` (:meth:`SpectrumView.attach_state`) the plots
clear for a new structure and follow the frame shown (at most every ``FRAME_INTERVAL_MS``).
"""
from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from engine import api
from gdapp.state import AppState


def _guard_pyqtgraph_auto_add():
    """pyqtgraph's ``WidgetGroup.autoAdd`` walks ``obj.children()`` of a new plot's menus.
    Under PySide6 a child at a recycled address can come back as a stale wrapper of another
    type (seen: a ``QSurface``, which has no ``children``) after many windows were created
    and destroyed (the test suite), and the plot's constructor raised. Skip such objects."""
    import importlib

    module = importlib.import_module("pyqtgraph.WidgetGroup")   # the module, not the class
    original = module.WidgetGroup.autoAdd
    if getattr(original, "_gdapp_guarded", False):
        return

    def auto_add(self, obj):
        if not hasattr(obj, "children"):
            return
        original(self, obj)

    auto_add._gdapp_guarded = True
    module.WidgetGroup.autoAdd = auto_add


_guard_pyqtgraph_auto_add()

MAX_CURVE_POINTS = 512
MAX_IMAGE_ROWS = 512
# A long run (3,000 steps) as 3,001 heat-map columns in a plot ~300 px wide: drawing them
# stalled the event loop 60-100 ms when the run finished (2-core machine, Xvfb); binned to
# this many columns it does not (tests/gdapp/test_responsiveness.py)
MAX_IMAGE_COLUMNS = 512
FRAME_INTERVAL_MS = 100   # cursor and spectrum follow the player at most 10 times a second


def _bin_means(img: np.ndarray, limit: int, axis: int) -> np.ndarray:
    """``img`` with at most ``limit`` entries along ``axis``: means of neighbouring ones."""
    n = img.shape[axis]
    if n <= limit:
        return img
    bins = np.array_split(np.arange(n), limit)
    return np.stack([np.take(img, b, axis=axis).mean(axis) for b in bins], axis=axis)


class SpectrumView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        pg.setConfigOptions(antialias=False, imageAxisOrder="row-major")
        self.title = QLabel("energy per Laplacian mode (log10)")
        self.title.setWordWrap(True)
        self.map_plot = pg.PlotWidget()
        self.map_plot.setLabel("bottom", "t")
        self.map_plot.setLabel("left", "mode (smooth → rough)")
        self.image = pg.ImageItem()
        self.map_plot.addItem(self.image)
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("y", width=2))
        self.map_plot.addItem(self.cursor)
        self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=pg.colormap.get("viridis"),
                                        label="log10 energy", interactive=False, width=12)
        self.colorbar.setImageItem(self.image, insert_in=self.map_plot.getPlotItem())
        self.stage_marks: list = []         # (frame, stage name) of every stage after the first
        self.line_plot = pg.PlotWidget()
        self.line_plot.setLabel("bottom", "mode (ascending eigenvalue)")
        self.line_plot.setLabel("left", "log10 energy")
        self.curve = self.line_plot.plot(pen=pg.mkPen((90, 200, 255), width=2))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.map_plot, 3)
        layout.addWidget(self.line_plot, 2)
        self.trajectory: api.Trajectory | None = None
        self._staged = False              # the shown run is drawn frame by frame (x = index)
        self._log = None
        self.frame_index = 0          # the frame the plots show (after throttling)
        self._pending: int | None = None
        self._last_update = -1e9
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.flush)

    def attach_state(self, state: AppState) -> None:
        """Clear for a new structure of ``state``; follow the frame shown (``frameShown``)
        when it is a frame of the trajectory drawn."""
        state.structureChanged.connect(lambda _structure: self.clear())
        state.frameShown.connect(self._on_frame_shown)

    def _on_frame_shown(self, kind: str, index: int) -> None:
        if self.trajectory is not None and self.trajectory.kind == kind:
            self.set_frame(index)

    def clear(self):
        self.trajectory = None
        self._staged = False
        self._log = None
        self._set_stage_marks([])
        self._pending = None
        self._timer.stop()
        self.image.clear()
        self.curve.setData([], [])
        self.map_plot.setXRange(0.0, 1.0, padding=0)
        self.map_plot.setYRange(0.0, 1.0, padding=0)
        self.title.setText("energy per Laplacian mode (log10)")

    def set_trajectory(self, traj: api.Trajectory | None, centered: bool = False):
        """Show a finished trajectory's ``mode_energies`` ``(K, N)``. ``centered``: the
        structure is diffused with its centre of mass removed (molecules), so its first
        mode (ascending eigenvalue: the constant vector) is not one of its modes."""
        if traj is None:
            self.clear()
            return
        E = np.asarray(traj.mode_energies, dtype=np.float64)
        if E.size == 0 or not np.any(E):
            # the engine returns zeros when it has no eigenmodes: the Chebyshev backend of
            # large graphs never diagonalises L (say so instead of plotting a flat -12)
            self.clear()
            self.title.setText(f"energy per Laplacian mode: not available for {E.shape[-1]:,} "
                               "nodes (large graphs use the Chebyshev backend, no eigenmodes)")
            return
        self.trajectory = traj
        ev = np.asarray(traj.eigenvalues, dtype=np.float64)
        keep = ev > 1e-9 * max(1.0, float(ev.max(initial=0.0)))   # hide the null (centre-of-mass) mode
        # and modes centring removes (with λ > 0 the centre-of-mass mode is not null, but its
        # energy is rounding noise, ~1e-30 of the others)
        keep &= E.max(axis=0) > 1e-12 * max(float(E.max(initial=0.0)), 1e-300)
        if centered and len(keep) > 1:
            # the centre-of-mass mode: fixed atoms or guidance move the centre a little, so
            # its energy is no longer rounding noise, but it is still not a mode of the
            # molecule (N atoms have N - 1 internal modes); its near-zero values also
            # stretched the colour scale until every other cell was at its top (all yellow)
            keep[np.argmin(ev)] = False
        if keep.sum() == 0:
            keep[:] = True
        E = E[:, keep]
        log = np.log10(np.maximum(E, 1e-12))
        # rows = modes, columns = time in ascending t
        order = np.argsort(traj.times)
        times = np.asarray(traj.times)[order]
        self._log = log
        n = log.shape[1]
        if n > MAX_CURVE_POINTS:   # large lattices: bin means keep the plot cheap (once)
            starts = np.linspace(0, n, MAX_CURVE_POINTS + 1).astype(np.int64)[:-1]
            counts = np.diff(np.append(starts, n))
            self._curve_x = starts + (counts - 1) / 2.0
            self._curve_y = np.add.reduceat(log, starts, axis=1) / counts
        else:
            self._curve_x, self._curve_y = np.arange(n, dtype=np.float64), log
        staged = self._staged = self._by_frame(traj)
        if staged:       # frames in the order the run made them: x is the frame index
            order = np.arange(len(times))
            x0, x1 = -0.5, len(times) - 0.5
            self.map_plot.setLabel("bottom", "frame (t = 1 → 0, then chemistry)")
        else:
            times = times[order]
            x0, x1 = float(times[0]), float(times[-1])
            self.map_plot.setLabel("bottom", "t")
        img = log[order].T
        img = _bin_means(img, MAX_IMAGE_ROWS, axis=0)        # modes
        img = _bin_means(img, MAX_IMAGE_COLUMNS, axis=1)     # frames (the image spans x0..x1 evenly)
        levels = self._levels(img)
        self.image.setImage(img, autoLevels=False, levels=levels)
        self.colorbar.setLevels(levels)
        self.image.setRect(x0, 0.0, max(x1 - x0, 1e-6), float(log.shape[1]))
        self.map_plot.setXRange(x0, x1, padding=0)
        self._set_stage_marks(traj.stage_starts()[1:] if staged else [])
        self.map_plot.setYRange(0, log.shape[1], padding=0)
        self.title.setText(f"energy per Laplacian mode (log10) — {traj.kind} trajectory, "
                           f"{E.shape[1]} modes")
        self._last_update = -1e9
        self.set_frame(0)

    @staticmethod
    def _by_frame(traj) -> bool:
        """A run with stages after its diffusion (their frames all sit at t = 0) is drawn
        frame by frame, in the order it was made."""
        stages = getattr(traj, "stages", None) or []
        return any(stage != stages[0] for stage in stages)

    def _set_stage_marks(self, starts):
        for line in self.stage_marks:
            self.map_plot.removeItem(line[2])
        self.stage_marks = []
        total = max((self.trajectory.frames.shape[0] if self.trajectory is not None else 1), 1)
        for k, (frame, name) in enumerate(starts):
            # labels alternate in height (a short stage's label would cover the next one's)
            # and sit left of a mark in the right quarter (else the plot's edge cuts them)
            side = 1 if frame > 0.75 * total else 0
            line = pg.InfiniteLine(pos=frame - 0.5, angle=90, movable=False,
                                   pen=pg.mkPen((255, 255, 255, 200), width=1, style=Qt.DashLine),
                                   label=name, labelOpts={"position": 0.94 - 0.12 * (k % 2),
                                                          "color": (255, 255, 255), "fill": (0, 0, 0, 140),
                                                          "anchors": [(side, 0), (side, 0)]})
            self.map_plot.addItem(line)
            self.stage_marks.append((frame, name, line))

    def x_of(self, index: int) -> float:
        """Where frame ``index`` sits on the heat map's x axis."""
        if self.trajectory is None:
            return 0.0
        return float(index) if self._staged else float(self.trajectory.times[index])

    @staticmethod
    def _levels(img: np.ndarray) -> tuple[float, float]:
        """Colour range from the cells that carry energy (the 1e-12 floor of empty cells,
        e.g. held atoms' modes at t = 0, would otherwise set the bottom of the scale)."""
        real = img[img > -11.5]
        real = real if real.size else img.ravel()
        lo, hi = float(np.percentile(real, 2)), float(np.percentile(real, 99.5))
        return (lo, hi if hi > lo else lo + 1.0)

    def mode_count(self) -> int:
        """How many modes the heat map and the spectrum show."""
        return 0 if self._log is None else int(self._log.shape[1])

    def set_frame(self, index: int):
        """Show frame ``index``: at once if the last update is older than
        ``FRAME_INTERVAL_MS``, else when that interval has passed (only the newest index
        is drawn), so playing at 30+ fps does not repaint two plots per frame."""
        if self.trajectory is None or self._log is None:
            return
        self._pending = int(index)
        wait_ms = FRAME_INTERVAL_MS - (time.monotonic() - self._last_update) * 1000.0
        if wait_ms <= 0:
            self.flush()
        elif not self._timer.isActive():
            self._timer.start(max(1, int(wait_ms)))

    def flush(self):
        """Draw the pending frame now (if any)."""
        self._timer.stop()
        if self._pending is None or self._log is None:
            return
        index = max(0, min(self._pending, len(self._log) - 1))
        self._pending = None
        self._last_update = time.monotonic()
        self.frame_index = index
        self.cursor.setValue(self.x_of(index))
        self.curve.setData(self._curve_x, self._curve_y[index])
