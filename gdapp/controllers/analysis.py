"""The ETKDG comparison and the quality checks of the structure shown.

:class:`AnalysisController` computes a reference conformer aligned to the generated one (or
to the input) and the heavy-atom RMSD of both to it, and the quality rows of a frame
(the cheap checks first, PoseBusters' in a child process), and emits what they give.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine import api
from gdapp.job_slots import JobSlot
from gdapp.state import AppState
from gdapp.workers import Job, JobRunner

NO_RMSD = "—"
QUALITY_CACHE_SIZE = 256   # checked frames kept per structure (a few kB each)
QUALITY_NICE = 5           # PoseBusters' process yields the cores to the event loop


def _cache_key(coords, posebusters: bool) -> tuple[str, bool]:
    """The kept rows' key: the coordinates' digest and whether PoseBusters ran."""
    return (hashlib.sha1(np.ascontiguousarray(coords, dtype=np.float64).tobytes()).hexdigest(),
            bool(posebusters))


class AnalysisController(QObject):
    """ETKDG comparison and quality checks of ``state.structure``.

    The ETKDG reference goes to ``state.set_reference`` (so the viewer's overlay follows
    it); the RMSD text and the quality rows are emitted."""

    compareFailed = Signal(str, str)                    # message, traceback
    rmsdChanged = Signal(str)                           # text for the steering panel
    qualityPartial = Signal(object, object, str, object)  # the rows so far (some still running)
    qualityReady = Signal(object, object, str, object)  # structure, coords (N, 3), label, rows
    qualityFailed = Signal(str)                         # message
    qualityCancelled = Signal(object, object, str)      # structure, coords, label

    def __init__(self, state: AppState, runner: JobRunner | None = None, parent=None):
        super().__init__(parent)
        self.state = state
        self.runner = runner if runner is not None else JobRunner(self)
        self.comparing = False          # the ETKDG comparison is on
        self._cache: OrderedDict = OrderedDict()    # (coords digest, PoseBusters) -> rows
        self._cache_structure: api.Structure | None = None    # the structure they describe
        # a new structure starts with the comparison off (the window unticks its box)
        state.structureChanged.connect(self._on_structure)

    def _on_structure(self, structure):
        self.comparing = False
        self._cache.clear()             # the rows kept describe the structure shown only
        self._cache_structure = structure

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
        if buf is not None and buf.complete and buf.trajectory is not None:
            return buf.trajectory.final
        structure = self.state.structure
        assert structure is not None, "no structure shown"
        return structure.positions

    def _reference_ready(self, structure, coords):
        if structure is not self.state.structure or not self.comparing:
            return
        self.state.set_reference(coords)
        self.update_rmsd()

    def update_rmsd(self) -> Job:
        """Heavy-atom RMSD of the generated (or input) conformer and of the input to the
        ETKDG reference (e.g. again when a reverse run finishes)."""
        structure, ref = self.state.structure, self.state.reference
        assert structure is not None, "no structure shown"
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
        molecules); ``label`` says which frame and comes back with the rows.

        The cheap checks arrive first (``qualityPartial``, rows still running say so), then
        PoseBusters' (in a child process that Cancel and closing end at once), then
        ``qualityReady`` with every row. The rows of each (structure, coordinates,
        PoseBusters or not) are kept while the structure is shown: checking the same
        coordinates again computes nothing."""
        structure = self.state.structure
        if structure is None or coords is None:
            return None
        coords = np.array(coords)
        posebusters = posebusters and structure.is_molecule
        key = _cache_key(coords, posebusters)
        if self._cache_structure is not structure:
            self._cache_structure = structure
            self._cache.clear()
        cached = self._cache.get(key)

        def work(job):
            if cached is not None:
                return cached
            return api.quality_report(structure, coords, posebusters=posebusters,
                                      on_rows=lambda rows: job.report_step(rows),
                                      should_stop=job.should_stop, nice=QUALITY_NICE)

        job = self.runner.create(JobSlot.QUALITY, work, name="quality")

        def current():      # a check replaced by a newer one says nothing more
            return self.runner.slots.get(JobSlot.QUALITY) is job

        def partial(items):
            if current():
                self.qualityPartial.emit(structure, coords, label, list(items[-1]))

        def cancelled():
            if current():
                self.qualityCancelled.emit(structure, coords, label)

        job.steps.connect(partial)
        job.succeeded.connect(lambda rows: self._quality_done(structure, key, coords, label, rows))
        job.failed.connect(lambda msg, tb: self.qualityFailed.emit(msg))
        job.cancelled.connect(cancelled)
        job.cached = cached is not None
        return self.runner.launch(job)

    def _quality_done(self, structure, key, coords, label, rows):
        rows = list(rows)
        if structure is self._cache_structure:
            self._cache[key] = rows
            self._cache.move_to_end(key)
            while len(self._cache) > QUALITY_CACHE_SIZE:
                self._cache.popitem(last=False)
        self.qualityReady.emit(structure, coords, label, rows)

    def cached_quality(self, coords, posebusters: bool = True):
        """The kept rows of ``coords`` of the structure shown, or None."""
        structure = self.state.structure
        if structure is None or structure is not self._cache_structure:
            return None
        return self._cache.get(_cache_key(coords, posebusters and structure.is_molecule))
