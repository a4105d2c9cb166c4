"""The main window's status bar: messages that fit, and the permanent labels beside them.

From the left: the frame shown (its stage and where in it; a message covers it while
shown), the message (cut with "…" when longer than the room the labels leave, the whole
text in the bar's tooltip), then the permanent labels: the jobs running with a trajectory
run's percentage and Cancel, what the last reverse run did, the model in use and the
engine's device.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QStatusBar

from engine import api
from gdapp.job_slots import JobSlot

STATUS_NAME_PX = 240       # a structure's name in a status message is elided to this width
RUN_STATUS_FRACTION = 0.35  # the last run's description takes at most this share of the window


class AppStatusBar(QStatusBar):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.job_label = QLabel("")
        # a label, not a QProgressBar: the bar repaints synchronously (~15 ms on a
        # software GL desktop) on every change
        self.job_progress = QLabel("")
        self.job_progress.setMinimumWidth(60)
        self.job_progress.setVisible(False)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setVisible(False)
        self.model_status = QLabel()
        self.run_status = QLabel("")       # what the last reverse run actually did
        self.frame_status = QLabel("")     # what the frame shown is: "polish 40/70", …
        self.frame_status.setToolTip("the frame shown: its stage of the run (diffusion, polish, MMFF94) "
                                     "and where in that stage")
        self.device_label = QLabel(f"engine: {api.device_info()}")
        # the frame's label sits at the left, where a message covers it while shown (a
        # permanent widget would take the messages' room)
        self.frame_status.setMinimumWidth(self.frame_status.fontMetrics().horizontalAdvance(
            "MMFF94 converged, 1234.5 kcal/mol") + 8)
        self.addWidget(self.frame_status)
        self.permanent = (self.job_label, self.job_progress, self.cancel_btn, self.run_status,
                          self.model_status, self.device_label)
        for w in self.permanent:
            self.addPermanentWidget(w)
        self._run_status_text = ""

    def show_text(self, text: str, ms: int = 5000) -> None:
        """A message. One longer than the room the permanent labels leave is cut with "…"
        at its end (it was cut off mid-word); the full text is the bar's tooltip. Messages
        naming a structure elide the name first (:meth:`short_name`)."""
        room = self.width() - sum(w.width() + 6 for w in self.permanent if w.isVisible()) - 24
        shown = self.fontMetrics().elidedText(text, Qt.ElideRight, max(80, room))
        self.setToolTip(text if shown != text else "")
        self.showMessage(shown, ms)

    def short_name(self, name: str) -> str:
        """A structure's name for a message: a long one (a SMILES) elided in the middle."""
        return self.fontMetrics().elidedText(name, Qt.ElideMiddle, STATUS_NAME_PX)

    def set_run_status(self, text: str) -> None:
        """What the last reverse run did, at most ``RUN_STATUS_FRACTION`` of the window
        wide (elided; the whole text in its tooltip), so the messages keep their room."""
        self._run_status_text = text
        width = int(RUN_STATUS_FRACTION * max(self.window().width(), 600))
        shown = self.run_status.fontMetrics().elidedText(text, Qt.ElideRight, width)
        self.run_status.setText(shown)
        self.run_status.setToolTip(text if shown != text else "")

    def refit(self) -> None:
        """The window was resized: the last run's description takes its share anew."""
        if self._run_status_text:
            self.set_run_status(self._run_status_text)

    def show_jobs(self, active) -> None:
        """The jobs running (training has its own panel), a percentage for trajectory runs
        only (a quality check showed the last run's "100 %" beside its name), and Cancel."""
        busy = [j for j in active if j.name != "train"]
        self.job_progress.setVisible(any(j.name in JobSlot.TRAJECTORIES for j in busy))
        self.cancel_btn.setVisible(bool(busy))
        self.job_label.setText(", ".join(sorted({j.name for j in busy})))

    def set_progress(self, done: int, total: int) -> None:
        """A trajectory run's progress, per percent (a reverse run's polished conformer is
        one frame more than its steps + 1: the screenshot showed "133 %" after Denoise; a
        run never shows more than 100 %)."""
        percent = max(0, min(100, int(100 * done / max(1, total))))
        text = f"{percent} %"
        if text != self.job_progress.text():
            self.job_progress.setText(text)

    def set_model(self, model: api.ModelHandle) -> None:
        self.model_status.setText(f"model: {model.name}")
        self.model_status.setToolTip(model.path or "exact ε-predictor of the harmonic prior; "
                                     "no trained network applies to this structure")
