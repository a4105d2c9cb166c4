"""The Quality table follows the frame shown: it describes that frame, or says it does not.

:class:`QualityFollow` listens to the :class:`gdapp.state.AppState` (a new structure, the
frame shown) and to the :class:`gdapp.controllers.AnalysisController`'s quality rows. A
frame checked before shows its kept rows at once; another frame empties the table ("not
checked yet") and, while the Quality dock is visible and the player is not playing, is
checked after ``QUALITY_DEBOUNCE_MS``. Rows that arrive for a frame no longer shown are
kept, not shown.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer

from gdapp.controllers import AnalysisController
from gdapp.state import AppState

QUALITY_DEBOUNCE_MS = 600


class QualityFollow(QObject):
    """Keeps ``panel`` (a :class:`gdapp.views.quality.QualityPanel` in ``dock``) on the frame
    the ``viewer`` shows; ``player`` says which frame that is and whether it plays."""

    def __init__(self, state: AppState, analysis: AnalysisController, panel, dock, player, viewer,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.state, self.analysis, self.panel, self.dock = state, analysis, panel, dock
        self.player, self.viewer = player, viewer
        self.coords: np.ndarray | None = None       # the coordinates the table describes
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(QUALITY_DEBOUNCE_MS)
        self.timer.timeout.connect(self._auto_check)
        state.structureChanged.connect(self._on_structure)
        state.frameShown.connect(lambda kind, index: self.follow())
        dock.visibilityChanged.connect(self._on_visible)
        panel.refreshRequested.connect(self.run)
        analysis.qualityPartial.connect(self._partial)
        analysis.qualityReady.connect(self._done)
        analysis.qualityFailed.connect(panel.set_failed)
        analysis.qualityCancelled.connect(self._cancelled)

    def frame_label(self) -> str:
        """Which frame is shown: "input", or "reverse frame 12, diffusion 11/50, t=0.780"."""
        if not self.player.count():
            return "input"
        buf = self.player.buffer()
        i = min(self.player.index, len(buf) - 1)
        return f"{self.player.kind} frame {i + 1}, {buf.label(i)}"

    def run(self, posebusters: bool = True):
        """Check the frame shown; the rows go to the panel: the cheap checks first
        (:meth:`_partial`), all of them at the end (:meth:`_done`). A frame checked before
        shows its kept rows at once."""
        structure = self.state.structure
        coords = self.viewer.coords
        if structure is None or coords is None:
            return None
        self.timer.stop()
        label = self.frame_label()
        self.panel.set_busy(self.panel.title_text(structure.name, f"({label})", "checking …"))
        return self.analysis.check_quality(coords, label, posebusters)

    def _on_structure(self, structure) -> None:
        self.timer.stop()
        self.coords = None
        self.panel.set_rows(self.panel.title_text(structure.name), [])
        self.panel.set_lattice(not structure.is_molecule)

    def follow(self) -> None:
        """A frame is shown: its kept rows, or an empty table and (debounced) a check."""
        coords = self.viewer.coords
        if coords is None or self.state.structure is None:
            return
        if self.coords is not None and np.array_equal(coords, self.coords):
            return
        cached = self.analysis.cached_quality(coords, self.panel.posebusters.isChecked())
        if cached is not None:              # checked before: its rows, without a new check
            self.timer.stop()
            self.coords = coords
            self.panel.set_rows(self.panel.title_text(self.state.structure.name,
                                                      f"({self.frame_label()})"), cached)
            return
        if self.coords is not None or self.panel.rows:
            self.coords = None
            self.panel.set_rows(self.panel.title_text(
                self.state.structure.name, f"({self.frame_label()})",
                "not checked yet: press “Check current frame”"), [])
        if self._visible() and not self.player.is_playing():
            self.timer.start()

    def _on_visible(self, visible: bool) -> None:
        if visible:
            QTimer.singleShot(0, self.follow)

    def _visible(self) -> bool:
        return self.dock.isVisible() and not self.dock.visibleRegion().isEmpty()

    def _auto_check(self) -> None:
        if self._visible() and not self.player.is_playing():
            self.run(self.panel.posebusters.isChecked())

    # ------------------------------------------------------------------ rows (AnalysisController)
    def _shows(self, structure, coords) -> bool:
        shown = self.viewer.coords
        return structure is self.state.structure and shown is not None and np.array_equal(shown, coords)

    def _partial(self, structure, coords, label, rows) -> None:
        """The rows so far (PoseBusters still running), if they describe the frame shown."""
        if not self._shows(structure, coords):
            return
        self.coords = coords
        self.panel.set_rows(self.panel.title_text(structure.name, f"({label})",
                                                  "checking … (Esc stops)"), rows, busy=True)

    def _done(self, structure, coords, label, rows) -> None:
        """Show the rows only if they describe what is on screen now."""
        if not self._shows(structure, coords):
            self.coords = coords
            self.follow()
            return
        self.coords = coords
        self.panel.set_rows(self.panel.title_text(structure.name, f"({label})"), rows)

    def _cancelled(self, structure, coords, label) -> None:
        if not self._shows(structure, coords):
            return
        self.coords = None
        self.panel.set_stopped(self.panel.title_text(
            structure.name, f"({label})", "check stopped: the rows still checking were not "
            "finished; “Check current frame” runs it again"))
