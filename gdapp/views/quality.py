"""Quality panel: checks of the structure currently shown (computed in a worker)."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

TITLE_NAME_PX = 260     # a structure name (a long SMILES) is elided to this width in the title


class QualityPanel(QWidget):
    refreshRequested = Signal(bool)      # with PoseBusters?

    def __init__(self, state=None, parent=None):
        super().__init__(parent)
        self.title = QLabel("structure shown: —")
        self.title.setWordWrap(True)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["check", "value"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.posebusters = QCheckBox("PoseBusters")
        self.posebusters.setChecked(True)
        self.refresh_btn = QPushButton("Check current frame")
        row = QHBoxLayout()
        row.addWidget(self.posebusters)
        row.addWidget(self.refresh_btn)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        self.lattice = LatticeQualitySection(self)   # per-frame lattice metrics (hidden for molecules)
        layout.addWidget(self.lattice, 3)
        if state is not None:
            self.lattice.attach_state(state)
        self.refresh_btn.clicked.connect(
            lambda: self.refreshRequested.emit(self.posebusters.isChecked()))
        self.rows = []
        self.busy = False
        self.set_lattice(False)

    def title_text(self, name: str, frame: str = "", note: str = "") -> str:
        """"structure shown: NAME (frame) — note", the name elided in the middle to
        ``TITLE_NAME_PX`` (a long SMILES has no space to wrap at and widened the panel past
        its dock); the full name is the title's tooltip."""
        short = self.title.fontMetrics().elidedText(name, Qt.ElideMiddle, TITLE_NAME_PX)
        self.title.setToolTip(name if short != name else "")
        text = f"structure shown: {short}" + (f" {frame}" if frame else "")
        return text + (f" — {note}" if note else "")

    def set_lattice(self, lattice: bool):
        """PoseBusters checks molecules only."""
        self.posebusters.setEnabled(not lattice)
        self.posebusters.setToolTip("PoseBusters checks molecules; lattices have no chemistry"
                                    if lattice else "PoseBusters' validity checks (\"mol\" config) "
                                    "in a separate process: the quick ones first, then the "
                                    "internal energy against an ETKDG ensemble of the molecule "
                                    "(seconds the first time, kept for later frames); Esc stops it")

    def set_busy(self, text: str):
        self.busy = True
        self.title.setText(text)
        self.refresh_btn.setEnabled(False)

    def set_rows(self, title: str, rows, busy: bool = False):
        """Show ``rows``; ``busy``: some of them are still being checked."""
        self.rows = list(rows)
        self.busy = bool(busy)
        self.title.setText(title)
        self.refresh_btn.setEnabled(not busy)
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            name = QTableWidgetItem(row.name)
            value = QTableWidgetItem(row.value)
            value.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            if row.ok is not None:
                value.setForeground(QColor(40, 160, 60) if row.ok else QColor(210, 50, 50))
            note = getattr(row, "note", "")
            if note:
                name.setToolTip(note)
                value.setToolTip(note)
            self.table.setItem(r, 0, name)
            self.table.setItem(r, 1, value)

    def set_stopped(self, title: str):
        """The check was stopped (Esc): the rows finished so far stay, the others go."""
        from engine.api import QUALITY_PENDING

        self.set_rows(title, [r for r in self.rows if r.value != QUALITY_PENDING])

    def set_failed(self, message: str):
        self.busy = False
        self.refresh_btn.setEnabled(True)
        self.title.setText(f"checks failed: {message}")


# ----------------------------------------------------------------------------- lattices
LATTICE_COLUMNS = [("frame", "#"), ("t", "t"), ("mse", "MSE"),
                   ("smoothness", "‖LS‖²"), ("energy", "energy"), ("alignment", "align"),
                   ("norm_error", "|‖v‖−1|")]
LATTICE_TIPS = {"mse": "mean squared error to the input field, ‖S − S₀‖² / 3N",
                "smoothness": "graph smoothness ‖L S‖² (the seed's smoothness term)",
                "energy": "energy term ½ ‖S − S₀‖² (unit masses)",
                "alignment": "alignment term Σ over lattice edges of 1 − cos∠(S_i, S_j)",
                "norm_error": "mean |‖v‖ − 1| over sites (spin systems: unit vectors)"}


def _fmt_metric(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return str(value)
    size = abs(value)
    if size < 1e-9:
        return "0"
    if size >= 1000:
        return f"{value:.0f}"
    return f"{value:.3g}" if size >= 1e-3 else f"{value:.2e}"


class LatticeQualitySection(QWidget):
    """Per-frame metrics of the last finished lattice trajectory (forward or reverse):
    MSE to the input, smoothness ‖LS‖², the energy and alignment terms and, for spin
    systems, mean |‖v‖ − 1| (``api.lattice_frame_quality``). Computed in a thread that
    never calls Qt; a GUI timer picks the result up."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.title = QLabel("lattice metrics per frame: run Noise or Generate")
        self.title.setWordWrap(True)
        self.table = QTableWidget(0, len(LATTICE_COLUMNS))
        self.table.setHorizontalHeaderLabels([label for _, label in LATTICE_COLUMNS])
        for c, (key, _) in enumerate(LATTICE_COLUMNS):
            if key in LATTICE_TIPS:
                self.table.horizontalHeaderItem(c).setToolTip(LATTICE_TIPS[key])
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Stretch)
        header.setMinimumSectionSize(24)
        for c in (0, 1):                 # frame number and t: as narrow as they can be
            header.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.table, 1)
        self.rows: list = []
        self.state = None
        self._result = None          # (token, kind, rows or error) from the worker thread
        self._token = 0
        from PySide6.QtCore import QTimer

        self._poll = QTimer(self)
        self._poll.setInterval(30)
        self._poll.timeout.connect(self._pick_up)
        self.setVisible(False)

    def attach_state(self, state) -> None:
        self.state = state
        state.structureChanged.connect(self.on_structure)
        state.trajectoryFinished.connect(self.on_trajectory_finished)

    def on_structure(self, structure) -> None:
        self._token += 1
        self.rows = []
        self.table.setRowCount(0)
        lattice = structure is not None and not structure.is_molecule
        self.setVisible(lattice)
        self.title.setText("lattice metrics per frame: run Noise or Generate")

    def on_trajectory_finished(self, kind: str) -> None:
        state = self.state
        structure = state.structure if state is not None else None
        buf = state.trajectories.get(kind) if state is not None else None
        if structure is None or structure.is_molecule or buf is None or not buf.frames:
            return
        self.compute(structure, kind, list(buf.frames), list(buf.times))

    def compute(self, structure, kind: str, frames, times) -> None:
        import threading

        from engine import api

        self._token += 1
        token = self._token
        self.title.setText(f"lattice metrics: {kind} trajectory, {len(frames)} frames …")

        def work():
            try:
                result = api.lattice_frame_quality(structure, frames, times)
            except Exception as err:  # noqa: BLE001 -- shown in the title, not a crash
                result = err
            if token == self._token:     # a stale run must not overwrite a newer result
                self._result = (token, kind, result)

        threading.Thread(target=work, name="lattice-quality", daemon=True).start()
        self._poll.start()

    def _pick_up(self) -> None:
        if self._result is None:
            return
        token, kind, result = self._result
        self._result = None
        if token != self._token:
            return                       # a newer run replaced it: keep polling for that one
        self._poll.stop()
        if isinstance(result, Exception):
            self.title.setText(f"lattice metrics failed: {result}")
            return
        self.set_frames(kind, result)

    def set_frames(self, kind: str, rows) -> None:
        self.rows = list(rows)
        spin = any(r.get("norm_error") is not None for r in self.rows)
        self.title.setText(f"lattice metrics per frame ({kind} trajectory, {len(self.rows)} frames"
                           f"{'' if spin else '; |‖v‖−1| for spin systems only'})")
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            for c, (key, _) in enumerate(LATTICE_COLUMNS):
                item = QTableWidgetItem(_fmt_metric(row.get(key)))
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(r, c, item)
