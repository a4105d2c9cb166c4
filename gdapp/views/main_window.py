"""The main window: 3D view in the centre, docks for player, spectrum, steering, training
and quality, menus and a status bar. It makes the parts and wires them together.

Loading, trajectory runs, analyses and training are run by the controllers of
:mod:`gdapp.controllers`; the views follow the :class:`gdapp.state.AppState` (the frame
shown goes player → state → viewer, mode-energy plots and quality table, not through the
window). The window's own parts are in modules of their own: menus, shortcuts and the
View options (:mod:`gdapp.views.actions`), exports (:mod:`gdapp.views.exporting`), Help
(:mod:`gdapp.views.help`), opening files, SMILES and lattices (:mod:`gdapp.views.opening`),
the quality table's follow-up (:mod:`gdapp.views.quality_follow`), the status bar
(:mod:`gdapp.views.status_bar`) and the dock layout (:mod:`gdapp.views.layout`). The methods
here that only hand over to them keep the names outside checks and tests use.
"""
from __future__ import annotations

import os

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox

from engine import api
from gdapp.controllers import (
    AnalysisController,
    StructureController,
    TrainingController,
    TrajectoryController,
    describe_run,
)
from gdapp.job_slots import JobSlot
from gdapp.settings import Settings
from gdapp.state import AppState
from gdapp.undo import ParamsHistory
from gdapp.views import layout
from gdapp.views.actions import WindowActions
from gdapp.views.exporting import Exporter
from gdapp.views.help import Help
from gdapp.views.opening import Opener
from gdapp.views.player import Player
from gdapp.views.quality import QualityPanel
from gdapp.views.quality_follow import QualityFollow
from gdapp.views.spectrum import SpectrumView
from gdapp.views.status_bar import AppStatusBar
from gdapp.views.steering import SteeringPanel
from gdapp.views.training import TrainingPanel
from gdapp.views.viewer import STYLES, Viewer
from gdapp.workers import JobRunner

DEBOUNCE_MS = 250          # a slider's re-sample waits this long after the last change


# Kinds whose bundled network (resources/models) is active at start: all of them, unless
# GDAPP_MODELS names fewer (e.g. "lattice": the GUI tests keep molecules on the exact
# harmonic-prior predictor so their timings and stereo checks do not depend on a network).
def autoload_kinds() -> tuple:
    return tuple(k.strip() for k in os.environ.get("GDAPP_MODELS", "molecule,lattice").split(",") if k.strip())


class MainWindow(QMainWindow):
    structureLoaded = Signal(object)
    loadFailed = Signal(str)
    errorShown = Signal(str)

    def __init__(self, settings: Settings | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("gdapp — graph diffusion of 3D structures")
        self.setAcceptDrops(True)
        self.settings = settings or Settings()
        self.last_error: str | None = None
        self._error_box: QMessageBox | None = None
        self._closing = False
        self._play_forward = False          # Noise ▶: play the forward run when it is done
        self._last_fixed: list = []         # fixed atoms of the last re-sample trigger
        self._build_model()
        self._build_views()
        self.docks = layout.add_docks(self, {"player": self.player, "spectrum": self.spectrum,
                                             "steering": self.steering, "training": self.training,
                                             "quality": self.quality})
        self._dock_cap = layout.DockWidthCap(self, (self.steering, self.training, self.quality))
        self.quality_follow = QualityFollow(self.state, self.analysis, self.quality, self.docks["quality"],
                                            self.player, self.viewer, self)
        self.resample_timer = QTimer(self)
        self.resample_timer.setSingleShot(True)
        self.resample_timer.setInterval(DEBOUNCE_MS)
        self.resample_timer.timeout.connect(lambda: self.run_reverse(play=False))
        self.status_bar = AppStatusBar(self)
        self.setStatusBar(self.status_bar)
        self.status_bar.set_model(self.state.model)
        # the status bar's labels, by the names outside checks and tests read
        self.frame_status, self.run_status = self.status_bar.frame_status, self.status_bar.run_status
        self.model_status, self.job_progress = self.status_bar.model_status, self.status_bar.job_progress
        self.exporter = Exporter(self)
        self.help = Help(self)
        self.opener = Opener(self)
        self.smiles_edit = self.opener.smiles_edit
        self.menus = WindowActions(self)
        self._connect()
        self._restore_settings()
        self._keys = layout.FocusedControlKeys(self)
        QApplication.instance().installEventFilter(self._keys)

    # ------------------------------------------------------------------ construction
    def _build_model(self):
        """The state, the bundled networks, the job runner and the controllers."""
        self.state = AppState(self)
        # bundled networks (resources/models) of the kinds autoload_kinds() names
        self.state.set_models({k: m for k, m in api.default_models().items()
                               if k in autoload_kinds()})
        self.runner = JobRunner(self)
        self.analysis = AnalysisController(self.state, self.runner, self)
        self.trajectories = TrajectoryController(self.state, self.runner, self)
        self.structures = StructureController(self.runner, self)
        self.training_jobs = TrainingController(self.state, self.runner, self)
        # undo / redo of the fixed atoms and the sampling parameters (follows the state)
        self.history = ParamsHistory(self.state, parent=self)

    def _build_views(self):
        self.viewer = Viewer(self)
        self.viewer.attach_state(self.state)      # before the views below: they read its coordinates
        self.viewer.setMinimumSize(360, 300)      # with the docks' minimums: fits 1024 px
        self.viewer.setFocusPolicy(Qt.StrongFocus)     # keys go to the window's shortcuts
        self.setCentralWidget(self.viewer)
        self.player = Player(self.state)
        self.spectrum = SpectrumView()
        self.spectrum.attach_state(self.state)
        self.spectrum.setMinimumWidth(layout.LEFT_DOCK_MIN)
        self.steering = SteeringPanel(self.state)
        self.training = TrainingPanel(self.training_jobs)
        self.quality = QualityPanel(self.state)

    def _connect(self):
        s, bar = self.state, self.status_bar
        s.structureChanged.connect(self._on_structure)
        s.trajectoryFinished.connect(self._on_trajectory_finished)
        s.fixedChanged.connect(self._on_fixed_changed)
        s.paramsChanged.connect(lambda params: self._maybe_resample())   # (the undo history notes it)
        s.modelChanged.connect(bar.set_model)
        self.player.trajectorySelected.connect(self._on_trajectory_selected)
        self.player.frameLabelChanged.connect(bar.frame_status.setText)
        self.viewer.atomPicked.connect(s.toggle_fixed)
        self.viewer.atomInfo.connect(lambda text: text and self.status(text, 15000))
        self.viewer.measurementChanged.connect(lambda text: text and self.status(text, 15000))
        self.steering.sampleRequested.connect(lambda: self.run_reverse())
        self.steering.smartsRequested.connect(self.fix_smarts)
        self.steering.clearFixedRequested.connect(lambda: s.set_fixed([]))
        self.steering.compareToggled.connect(self.analysis.set_compare)
        self.analysis.compareFailed.connect(lambda msg, tb: self.show_error("ETKDG failed", msg, tb))
        self.analysis.rmsdChanged.connect(self.steering.set_rmsd_text)
        self.training_jobs.failed.connect(lambda msg, tb: self.show_error("Training failed", msg, tb))
        self.training_jobs.statusMessage.connect(lambda msg: self.status(msg, 5000))
        t = self.trajectories
        t.progress.connect(lambda kind, done, total: bar.set_progress(done, total))
        t.runFinished.connect(self._on_run_finished)
        t.runCancelled.connect(self._on_run_stopped)
        t.runFailed.connect(lambda kind, msg, tb: self._on_run_stopped(kind))
        t.runFailed.connect(lambda kind, msg, tb: self.show_error(f"{kind.capitalize()} trajectory failed", msg, tb))
        t.statusMessage.connect(self.status)
        bar.cancel_btn.clicked.connect(self.cancel_jobs)
        self.runner.jobStarted.connect(lambda job: bar.show_jobs(self.runner.active()))
        self.runner.jobFinished.connect(lambda job: bar.show_jobs(self.runner.active()))

    def _restore_settings(self):
        st = self.settings
        if st.geometry() is not None:
            self.restoreGeometry(st.geometry())
        else:
            self.resize(1280, 860)
        self._first_run = st.window_state() is None or not self.restoreState(st.window_state())
        if self._first_run:
            self._first_run_docks()
            self.resizeDocks([self.docks["player"]], [40], Qt.Vertical)
        self.player.set_fps(st.player_fps)
        self.player.set_mode(st.player_mode)
        self.menus.show_options(st.style if st.style in STYLES else "ball-and-stick", st.dynamic_bonds)
        self.menus.update_recent_menu()

    def save_settings(self):
        st = self.settings
        st.save_window(self.saveGeometry(), self.saveState())
        st.player_fps = self.player.speed.value()
        st.player_mode = self.player.mode
        st.style = self.viewer.style
        st.dynamic_bonds = self.viewer.dynamic
        st.sync()

    # ------------------------------------------------------------------ errors and status
    def show_error(self, title: str, message: str, details: str = ""):
        """A non-blocking error dialog; the app stays usable."""
        self.last_error = message
        self.status(f"{title}: {message}", 10000)
        if self._closing:
            return
        if self._error_box is not None:
            self._error_box.close()
        box = QMessageBox(QMessageBox.Critical, title, message, QMessageBox.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setWindowModality(Qt.WindowModal)
        box.open()
        self._error_box = box
        self.errorShown.emit(message)

    def status(self, text: str, ms: int = 5000):
        """A status bar message (:meth:`AppStatusBar.show_text`: cut to fit, whole in the tooltip)."""
        self.status_bar.show_text(text, ms)

    def short_name(self, name: str) -> str:
        return self.status_bar.short_name(name)

    def set_run_status(self, text: str):
        self.status_bar.set_run_status(text)

    def cancel_jobs(self):
        """Cancel (Esc): every job but the training panel's; a finished run stays shown."""
        running = [slot for slot in JobSlot.CANCELLABLE if self.runner.running(slot)]
        for slot in JobSlot.CANCELLABLE:
            self.runner.cancel(slot)
        self.resample_timer.stop()
        self._play_forward = False
        kept = [k for k in JobSlot.TRAJECTORIES if k in running
                and self.state._kept.get(k) is not None]
        self.status("cancelled" + (f"; the last finished {' and '.join(kept)} run stays"
                                   if kept else ""))

    # ------------------------------------------------------------------ opening (views.opening)
    def open_demo(self):
        self.opener.open_demo()

    def open_path(self, path: str, remember: bool = True):
        """Load a file in a worker (StructureController); on failure the current structure
        stays."""
        return self.opener.open_path(path, remember)

    def open_smiles(self, smiles: str):
        return self.structures.open_smiles(smiles)

    def build_lattice(self, shape, system="spin", seed=0):
        return self.structures.build_lattice(shape, system, seed)

    def lattice_dialog(self):
        return self.opener.lattice_dialog()

    def set_structure(self, structure: api.Structure):
        """Show ``structure`` (the runs of the one before are cancelled)."""
        self.trajectories.cancel()
        self.state.set_structure(structure)

    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):
        self.opener.open_dropped(event)

    # ------------------------------------------------------------------ export and help (views.exporting, views.help)
    def export_current(self, path=None):
        return self.exporter.export_current(path)

    def export_generated(self, path=None):
        return self.exporter.export_generated(path)

    def export_trajectory(self, path=None):
        return self.exporter.export_trajectory(path)

    def export_png(self, path=None):
        return self.exporter.export_png(path)

    def export_animation(self, path=None):
        return self.exporter.export_animation(path)

    def shortcut_rows(self) -> list[tuple[str, str]]:
        return self.help.shortcut_rows()

    def show_shortcuts(self):
        return self.help.show_shortcuts()

    def about_text(self) -> str:
        return self.help.about_text()

    def denoise_command_text(self) -> str:
        return self.help.denoise_command_text()

    def show_about(self):
        return self.help.show_about()

    def set_style(self, style):
        self.menus.set_style(style)

    def run_quality(self, posebusters: bool = True):
        """Check the frame shown (:meth:`QualityFollow.run`); the rows go to the Quality panel."""
        return self.quality_follow.run(posebusters)

    # ------------------------------------------------------------------ a new structure, a finished trajectory
    def _on_structure(self, structure):
        self._last_fixed = []
        self.set_run_status("")
        self.steering.set_lattice(not structure.is_molecule)
        self.steering.compare.blockSignals(True)
        self.steering.compare.setChecked(False)
        self.steering.compare.blockSignals(False)
        self.steering.set_rmsd_text("—")
        title = structure.name if len(structure.name) < 60 else structure.name[:57] + "…"
        self.setWindowTitle(f"gdapp — {title}")
        self.status_bar.set_model(self.state.model)
        self.run_forward()

    def _on_trajectory_selected(self, kind):
        buf = self.state.trajectory(kind)
        self.spectrum.set_trajectory(buf.trajectory if buf and buf.complete else None,
                                     centered=self._centered())

    def _on_trajectory_finished(self, kind):
        buf = self.state.trajectory(kind)
        if buf is not None and buf.complete and self.player.kind == kind:
            self.spectrum.set_trajectory(buf.trajectory, centered=self._centered())
            self.spectrum.set_frame(self.player.index)

    def _centered(self) -> bool:
        """Molecules are diffused without their centre of mass (no centre-of-mass mode)."""
        return self.state.structure is not None and self.state.structure.is_molecule

    # ------------------------------------------------------------------ runs (TrajectoryController runs them)
    def _on_run_finished(self, kind, info):
        if kind == JobSlot.REVERSE and self.player.through and self.player.kind == kind:
            # Denoise ▶ plays the run: one camera for every frame, none leaves the view
            self.viewer.frame_all(np.stack(self.state.trajectory(kind).frames))
        if kind == JobSlot.REVERSE:
            text = "reverse: " + describe_run(info)
            self.set_run_status(text)          # the run's details stay in the status bar
            self.status("reverse run done")
            if self.state.reference is not None:
                self.analysis.update_rmsd()
        elif self._play_forward:
            self._play_forward = False
            if self.player.kind == "forward":
                self.player.seek(0)
                self.player.play()

    def _on_run_stopped(self, kind):
        """A run being played through was cancelled or failed: the last finished run of
        that kind is back; show its result instead of playing it."""
        if self.player.kind == kind and self.player.through:
            self.player.pause()
            self.player.seek(self.player.count() - 1)

    def run_forward(self, play: bool = False):
        """The forward (noising) path from the steering seed; ``play``: play it from t = 0
        when it is done (Noise ▶, F5)."""
        self._play_forward = bool(play)
        return self.trajectories.run_forward()

    def noise_and_play(self):
        return self.run_forward(play=True)

    def run_reverse(self, play: bool = True):
        """Denoise: a reverse run with the steering parameters. ``play``: play it through
        from t = 1 as it streams in (Denoise ▶, F6); a slider's re-sample shows the result."""
        self.resample_timer.stop()
        job = self.trajectories.run_reverse()
        if job is not None and play:
            self.player.play_run("reverse")
        return job

    def _on_fixed_changed(self, fixed):
        """Picking, Fix matches and Clear re-sample like a slider does (when asked to)."""
        fixed = list(fixed)
        if fixed != self._last_fixed:
            self._last_fixed = fixed
            self._maybe_resample()

    def _maybe_resample(self):
        if self.steering.auto.isChecked() and self.state.structure is not None:
            self.resample_timer.start()

    def fix_smarts(self, smarts: str):
        """Fix the atoms ``smarts`` matches (the steering panel's Fix matches)."""
        if self.state.structure is None:
            return
        try:
            idx = api.select_smarts(self.state.structure, smarts)
        except api.InputError as err:
            self.show_error("SMARTS", str(err))
            return
        if not idx:
            self.status(f"SMARTS {smarts!r} matches no atom")
            return
        self.state.set_fixed(set(self.state.fixed) | set(idx))
        self.status(f"fixed {len(idx)} atoms matching {smarts}")

    # ------------------------------------------------------------------ showing, resizing, closing
    def _first_run_docks(self):
        if not self._closing:
            layout.first_run_sizes(self)

    def showEvent(self, event):
        super().showEvent(event)
        if self._first_run:
            self._first_run = False
            QTimer.singleShot(0, self._first_run_docks)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if getattr(self, "status_bar", None) is not None:     # (not yet while it is being made)
            self.status_bar.refit()
        QTimer.singleShot(0, self._balance_docks)

    def _balance_docks(self):
        if not self._closing:
            layout.keep_left_dock_wide(self)

    def closeEvent(self, event):
        self._closing = True
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self._keys)
        self.resample_timer.stop()
        self.player.pause()
        self.save_settings()
        self.training.shutdown()
        self.runner.shutdown(15.0)
        self.viewer.close_scene()
        super().closeEvent(event)
