"""The analyses the app runs on the structure shown, as jobs, without widgets.

:class:`AnalysisController` runs the ETKDG comparison (a reference conformer aligned to
the generated one, or to the input, and the heavy-atom RMSD of both to it) and the
quality checks of a frame on the :class:`gdapp.workers.JobRunner`, and emits what they
give. The main window lays out the panels and wires them to these signals; tests drive the
controller with an :class:`gdapp.state.AppState` alone.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine import api
from gdapp.jobs import JobSlot
from gdapp.state import AppState
from gdapp.workers import Job, JobRunner

NO_RMSD = "—"


class AnalysisController(QObject):
    """ETKDG comparison and quality checks of ``state.structure``.

    The ETKDG reference goes to ``state.set_reference`` (so the viewer's overlay follows
    it); the RMSD text and the quality rows are emitted."""

    compareFailed = Signal(str, str)                    # message, traceback
    rmsdChanged = Signal(str)                           # text for the steering panel
    qualityReady = Signal(object, object, str, object)  # structure, coords (N, 3), label, rows
    qualityFailed = Signal(str)                         # message

    def __init__(self, state: AppState, runner: JobRunner | None = None, parent=None):
        super().__init__(parent)
        self.state = state
        self.runner = runner if runner is not None else JobRunner(self)
        self.comparing = False          # the ETKDG comparison is on
        # a new structure starts with the comparison off (the window unticks its box)
        state.structureChanged.connect(self._on_structure)

    def _on_structure(self, structure):
        self.comparing = False

    # ------------------------------------------------------------------ ETKDG comparison
    def set_compare(self, on: bool) -> Job | None:
        """Turn the comparison on (an ETKDG conformer of the molecule, then the RMSDs) or
        off (no reference). Lattices have none. Returns the ETKDG job, if one started."""
        self.comparing = bool(on)
        structure = self.state.structure
        if not on or structure is None or not structure.is_molecule:
            self.state.set_reference(None)
            self.rmsdChanged.emit(NO_RMSD)
            return None
        align_to = self.generated_or_input()
        seed = self.state.params.seed

        def work(job):
            return api.etkdg_conformer(structure, seed=seed, align_to=align_to)

        return self.runner.start(JobSlot.COMPARE, work,
                                 succeeded=lambda coords: self._reference_ready(structure, coords),
                                 failed=self.compareFailed.emit)

    def generated_or_input(self) -> np.ndarray:
        """The last generated conformer if a reverse run finished, else the input's."""
        buf = self.state.trajectory("reverse")
        if buf is not None and buf.complete:
            return buf.trajectory.final
        return self.state.structure.positions

    def _reference_ready(self, structure, coords):
        if structure is not self.state.structure or not self.comparing:
            return
        self.state.set_reference(coords)
        self.update_rmsd()

    def update_rmsd(self) -> Job:
        """Heavy-atom RMSD of the generated (or input) conformer and of the input to the
        ETKDG reference (e.g. again when a reverse run finishes)."""
        structure, ref = self.state.structure, self.state.reference
        generated = self.generated_or_input()
        buf = self.state.trajectory("reverse")
        what = "generated" if buf is not None and buf.complete else "input"

        def work(job):
            return (api.heavy_atom_rmsd(structure, generated, ref),
                    api.heavy_atom_rmsd(structure, structure.positions, ref))

        return self.runner.start(JobSlot.RMSD, work,
                                 succeeded=lambda r: self.rmsdChanged.emit(
                                     f"heavy-atom RMSD ({what} ↔ ETKDG): {r[0]:.2f} Å\n"
                                     f"input ↔ ETKDG: {r[1]:.2f} Å"),
                                 failed=lambda msg, tb: self.rmsdChanged.emit(f"RMSD failed: {msg}"))

    # ------------------------------------------------------------------ quality
    def check_quality(self, coords, label: str = "", posebusters: bool = True) -> Job | None:
        """The quality rows of ``coords`` (a frame of the structure; PoseBusters only for
        molecules); ``label`` says which frame and comes back with the rows."""
        structure = self.state.structure
        if structure is None or coords is None:
            return None
        coords = np.array(coords)
        posebusters = posebusters and structure.is_molecule

        def work(job):
            return api.quality_report(structure, coords, posebusters=posebusters)

        return self.runner.start(JobSlot.QUALITY, work,
                                 succeeded=lambda rows: self.qualityReady.emit(structure, coords, label,
                                                                               list(rows)),
                                 failed=lambda msg, tb: self.qualityFailed.emit(msg))
