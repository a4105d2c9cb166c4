"""Loading structures: a file (every record of it), a SMILES, a lattice."""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from engine import api
from gdapp.job_slots import JobSlot
from gdapp.workers import Job, JobRunner


class StructureController(QObject):
    """Loads structures in the :data:`gdapp.job_slots.JobSlot.LOAD` slot (a new load cancels the
    one before): a file (every record of it), a SMILES, a lattice.

    ``loaded`` carries every structure loaded (the first is the one to show), the file's
    path (None for a SMILES or a lattice) and whether the window should remember it in its
    recent files; ``failed`` what was asked for (the path, ``SMILES '…'``, ``lattice``),
    the message and the traceback (empty for a user error such as a bad SMILES). The state
    shown is not touched: the window decides what to show."""

    loaded = Signal(object, object, bool)       # structures, path or None, remember
    failed = Signal(str, str, str)              # what, message, traceback

    def __init__(self, runner: JobRunner | None = None, parent=None):
        super().__init__(parent)
        self.runner = runner if runner is not None else JobRunner(self)
        self.records: list = []     # every structure of the load that succeeded last

    def open_path(self, path, remember: bool = True) -> Job:
        """Every structure of the file at ``path``."""
        path = str(path)

        def work(job):
            return api.load_structures(path)
        return self._start(work, path, remember, path)

    def open_smiles(self, smiles: str) -> Job:
        """One molecule with 3D coordinates from ``smiles``."""
        def work(job):
            return [api.structure_from_smiles(smiles)]
        return self._start(work, None, False, f"SMILES {smiles!r}")

    def build_lattice(self, shape, system: str = "spin", seed: int = 0) -> Job:
        """A lattice of ``shape`` sites of ``system``."""
        def work(job):
            return [api.build_lattice(shape, system, seed=seed)]
        return self._start(work, None, False, "lattice")

    def _start(self, work, path, remember, what) -> Job:
        return self.runner.start(JobSlot.LOAD, work,
                                 succeeded=lambda structures: self._loaded(structures, path, remember),
                                 failed=lambda msg, tb: self.failed.emit(what, msg, tb))

    def _loaded(self, structures, path, remember):
        self.records = list(structures)
        self.loaded.emit(self.records, path, remember)
