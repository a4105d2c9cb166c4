"""The jobs the app runs on the structure shown, without widgets.

:class:`StructureController` loads structures (a file, a SMILES, a lattice) in a job and
emits what it loaded or why it could not.
:class:`TrajectoryController` runs the forward (noising) and reverse (denoising)
trajectories: it starts the job, streams its frames into the :class:`gdapp.state.AppState`,
finishes or abandons the trajectory there, and emits progress and the outcome.
:class:`AnalysisController` runs the ETKDG comparison (a reference conformer aligned to
the generated one, or to the input, and the heavy-atom RMSD of both to it) and the
quality checks of a frame, and emits what they give. Both run on the
:class:`gdapp.workers.JobRunner`; the main window lays out the panels and wires them to
these signals, and tests drive the controllers with an ``AppState`` alone.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine import api
from gdapp.jobs import JobSlot
from gdapp.state import AppState
from gdapp.workers import Job, JobRunner

NO_RMSD = "—"
FORWARD_FRAMES = 60        # frames of a forward (noising) trajectory
QUALITY_CACHE_SIZE = 256   # checked frames kept per structure (a few kB each)
QUALITY_NICE = 5           # PoseBusters' process yields the cores to the event loop


def describe_run(info: dict) -> str:
    """'adaptive: 37 steps taken (…), seed 0, model …' from a reverse run's info."""
    taken, asked = info.get("steps_taken"), info.get("steps")
    if info.get("sampler") == "adaptive" and taken is not None:
        steps = f"{taken} steps taken (error-controlled; the steps setting, {asked}, is not used)"
    elif taken is None or taken == asked:
        steps = f"{asked} steps"
    else:
        steps = f"{taken} steps taken ({asked} asked)"
    if info.get("polished"):
        steps += " + energy polish" + (" + MMFF94" if info.get("relaxed") else "")
    lam = [f"{k}={info[k]:.3g}" for k in ("lambda_E", "lambda_G", "lambda_A") if info.get(k)]
    fixed = info.get("fixed_atoms") or []
    extra = (", " + " ".join(lam) if lam else "") + \
            (f", {len(fixed)} {'atom' if len(fixed) == 1 else 'atoms'} fixed" if fixed else "")
    text = (f"{info.get('sampler', '?')}: {steps}, seed {info.get('seed', '?')}{extra}, "
            f"model {info.get('model', '?')}")
    if info.get("sample_flags") is not None and not fixed:
        text += f" = python -m engine sample {info['sample_flags']}".rstrip()
    return text


class TrajectoryController(QObject):
    """Forward and reverse trajectories of ``state.structure``, one job per kind
    (:data:`gdapp.jobs.JobSlot.TRAJECTORIES`; a new run of a kind cancels the one before).

    Frames stream into ``state`` (``begin_trajectory`` / ``append_frames``); a finished run
    goes to ``state.finish_trajectory`` and a failed or cancelled one to
    ``state.abandon_trajectory`` (the last finished run of that kind comes back). Results
    of a run that was superseded, or of a structure no longer shown, are dropped."""

    framesAdded = Signal(str, int)          # kind, frames streamed in so far
    progress = Signal(str, int, int)        # kind, done, total
    runFinished = Signal(str, object)       # kind, info (what ran; the trajectory is in state)
    runFailed = Signal(str, str, str)       # kind, message, traceback
    runCancelled = Signal(str)              # kind: the run in flight was stopped
    statusMessage = Signal(str)             # e.g. "open a structure first"

    def __init__(self, state: AppState, runner: JobRunner | None = None, parent=None):
        super().__init__(parent)
        self.state = state
        self.runner = runner if runner is not None else JobRunner(self)

    # ------------------------------------------------------------------ starting
    def run_forward(self) -> Job | None:
        """The forward (noising) path, ``FORWARD_FRAMES`` frames, from the parameters' seed."""
        seed = int(self.state.params.seed)

        def fn(structure, job):
            def callback(k, t, frame, s0_hat):
                job.report_step((t, frame, f"t={t:.3f}", "forward", False))
            return api.forward_trajectory(structure, num_frames=FORWARD_FRAMES, seed=seed,
                                          callback=callback, should_stop=job.should_stop)
        return self._start(JobSlot.FORWARD, fn, {"seed": seed})

    def run_reverse(self) -> Job | None:
        """Reverse sampling with the parameters, model and fixed atoms of ``state``."""
        p = self.state.params
        model = self.state.model
        fixed = list(self.state.fixed)
        info = {"sampler": p.sampler, "steps": int(p.steps), "seed": int(p.seed),
                "lambda_E": p.lambda_E, "lambda_G": p.lambda_G, "lambda_A": p.lambda_A,
                "guidance_scale": p.scale, "model": model.name, "fixed_atoms": fixed}

        def fn(structure, job):
            def on_frame(frame):
                job.report_step((frame.t, frame.coords, frame.label, frame.stage,
                                 frame.stage == "diffusion" and frame.step == 0))
            return api.reverse_trajectory(structure, model, steps=p.steps, sampler=p.sampler,
                                          seed=p.seed, guidance=p.guidance(), fixed=fixed,
                                          on_frame=on_frame, should_stop=job.should_stop)
        return self._start(JobSlot.REVERSE, fn, info)

    def expected_frames(self, kind: str) -> int:
        """About how many frames a run of ``kind`` streams (progress): a reverse run of a
        molecule adds the polish and MMFF94 frames (at most ``STAGE_FRAMES`` each)."""
        if kind == JobSlot.FORWARD:
            return FORWARD_FRAMES
        p, structure = self.state.params, self.state.structure
        frames = p.steps + 1
        if structure is not None and structure.is_molecule and self.state.model.is_network:
            settings = api.WATCH_SETTINGS
            frames += min(settings.polish, api.STAGE_FRAMES) + 1 + (api.STAGE_FRAMES if settings.relax else 0)
        return frames

    def _start(self, kind: str, fn, info=None) -> Job | None:
        structure = self.state.structure
        if structure is None:
            self.statusMessage.emit("open a structure first")
            return None
        self.runner.cancel(kind)
        self.state.begin_trajectory(kind, info)

        def work(job):
            return fn(structure, job)

        job = self.runner.create(kind, work, name=kind)
        job.steps.connect(lambda items, j=job: self._on_steps(j, kind, structure, items))
        job.succeeded.connect(lambda traj, j=job: self._on_done(j, kind, structure, traj))
        job.failed.connect(lambda msg, tb: self._on_failed(kind, msg, tb))
        job.cancelled.connect(lambda j=job: self._on_cancelled(kind, j))
        return self.runner.launch(job)

    # ------------------------------------------------------------------ stopping
    def cancel(self, kind: str | None = None):
        """Stop the run of ``kind`` (forward or reverse), or both."""
        for slot in (kind,) if kind else JobSlot.TRAJECTORIES:
            self.runner.cancel(slot)

    def running(self, kind: str) -> Job | None:
        return self.runner.running(kind)

    # ------------------------------------------------------------------ results (GUI thread)
    def _current(self, kind, job) -> bool:
        return self.runner.slots.get(kind) is job

    def _on_steps(self, job, kind, structure, items):
        if not self._current(kind, job) or structure is not self.state.structure:
            return
        self.state.append_frames(kind, items)
        buf = self.state.trajectory(kind)
        count = len(buf) if buf is not None else 0
        self.framesAdded.emit(kind, count)
        self.progress.emit(kind, count, self.expected_frames(kind))

    def _on_done(self, job, kind, structure, traj):
        if not self._current(kind, job) or structure is not self.state.structure:
            return
        running = self.state.trajectory(kind)
        info = dict(running.info) if running is not None else {}
        if kind == JobSlot.REVERSE:
            # what actually ran: adaptive samplers take as many steps as they need
            info["steps_taken"] = traj.meta.get("steps_taken", len(traj.frames) - 1)
            info["polished"] = bool(traj.meta.get("polished"))
            info["relaxed"] = bool(traj.meta.get("relax"))
            if traj.meta.get("settings") is not None:       # what `sample` runs to give this conformer
                info["settings"] = traj.meta["settings"]
                info["sample_flags"] = " ".join(traj.meta["settings"].flags())
        self.state.finish_trajectory(traj, info)
        self.runFinished.emit(kind, info)

    def _on_failed(self, kind, msg, tb):
        self.state.abandon_trajectory(kind)
        self.runFailed.emit(kind, msg, tb)

    def _on_cancelled(self, kind, job):
        if self._current(kind, job):
            self.state.abandon_trajectory(kind)
            self.runCancelled.emit(kind)


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
        self._cache_structure = None                # the structure they describe
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
        key = (hashlib.sha1(np.ascontiguousarray(coords, dtype=np.float64).tobytes()).hexdigest(),
               bool(posebusters))
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

        job.steps.connect(lambda items: current() and self.qualityPartial.emit(
            structure, coords, label, list(items[-1])))
        job.succeeded.connect(lambda rows: self._quality_done(structure, key, coords, label, rows))
        job.failed.connect(lambda msg, tb: self.qualityFailed.emit(msg))
        job.cancelled.connect(lambda: current() and self.qualityCancelled.emit(structure, coords, label))
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
        posebusters = posebusters and structure.is_molecule
        key = (hashlib.sha1(np.ascontiguousarray(coords, dtype=np.float64).tobytes()).hexdigest(),
               bool(posebusters))
        return self._cache.get(key)


class StructureController(QObject):
    """Loads structures in the :data:`gdapp.jobs.JobSlot.LOAD` slot (a new load cancels the
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
