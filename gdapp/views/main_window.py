"""The main window: 3D view in the centre, docks for player, spectrum, steering,
training and quality; menus, shortcuts, status bar; every engine call in a worker.

Loading, trajectory runs and analyses are run by the controllers of
:mod:`gdapp.controller`; the window lays out the views and wires them to the controllers'
signals."""
from __future__ import annotations

import os
import traceback
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QToolBar,
    QVBoxLayout,
)

from engine import api
from gdapp import chem, export
from gdapp.controller import (
    AnalysisController,
    StructureController,
    TrajectoryController,
    describe_run,
)
from gdapp.jobs import JobSlot
from gdapp.settings import Settings
from gdapp.state import AppState
from gdapp.undo import ParamsHistory
from gdapp.views.lattice_dialog import LatticeDialog
from gdapp.views.player import Player
from gdapp.views.quality import QualityPanel
from gdapp.views.spectrum import SpectrumView
from gdapp.views.steering import SteeringPanel
from gdapp.views.training import TrainingPanel
from gdapp.views.viewer import STYLES, Viewer
from gdapp.workers import JobRunner

DEBOUNCE_MS = 250
QUALITY_DEBOUNCE_MS = 600
LEFT_DOCK_MIN = 250        # the mode-energy plots need this to keep their axis labels apart
SMILES_FAILED_STYLE = "QLineEdit { border: 2px solid #d23232; background: #fde8e8; color: #801010; }"
STATUS_NAME_PX = 240       # a structure's name in a status message is elided to this width
RUN_STATUS_FRACTION = 0.35  # the last run's description takes at most this share of the bar
SIDE_DOCK_MAX_MIN = 380    # the most minimum width a right-dock panel may claim (_DockWidthCap)


class _FocusedControlKeys(QObject):
    """Arrow, Home/End and Page keys belong to a focused slider, spin box or combo box:
    without this the window's player shortcuts (←/→ step, Home/End) took them."""

    KEYS = {Qt.Key_Left, Qt.Key_Right, Qt.Key_Up, Qt.Key_Down, Qt.Key_Home, Qt.Key_End,
            Qt.Key_PageUp, Qt.Key_PageDown}

    def __init__(self, window):
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj, event):
        if event.type() == QEvent.ShortcutOverride and event.key() in self.KEYS:
            focus = QApplication.focusWidget()
            if (focus is not None and obj is focus
                    and isinstance(focus, (QAbstractSlider, QAbstractSpinBox, QComboBox))
                    and focus.window() is self.window):
                event.accept()          # no shortcut: the key goes to the control
                return True
        return False


class _DockWidthCap(QObject):
    """Caps the minimum width the right docks' panels claim at ``SIDE_DOCK_MAX_MIN``.

    A dock area is as wide as the largest minimum of its docks, tabs not shown included,
    and QMainWindow squeezes the other dock area and the 3D view to make room. Text that
    depends on where the app is installed once set that minimum: the packaged app's
    training panel listed its configs by full path (``/tmp/gdapp-smoke.*/gdapp-linux-
    x86_64/app/_internal/resources/configs/…``), the hidden Training tab needed 767 px, and
    on a first run the mode-energy dock opened at its ~80 px minimum with the 3D view
    pushed out of the centre (issue 14, docs/packaging.md). Each panel's minimum width is
    now its layout's minimum, at most ``SIDE_DOCK_MAX_MIN`` (re-read when the layout
    changes); wider content is clipped inside its dock instead of widening it."""

    def __init__(self, window, panels):
        super().__init__(window)
        for panel in panels:
            self.apply(panel)
            panel.installEventFilter(self)

    @staticmethod
    def apply(panel):
        panel.setMinimumWidth(min(panel.minimumSizeHint().width(), SIDE_DOCK_MAX_MIN))

    def eventFilter(self, obj, event):
        if event.type() == QEvent.LayoutRequest:
            self.apply(obj)
        return False


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
        self.state = AppState(self)
        # bundled networks (resources/models) of the kinds autoload_kinds() names
        self.state.set_models({k: m for k, m in api.default_models().items()
                               if k in autoload_kinds()})
        self.runner = JobRunner(self)
        self.analysis = AnalysisController(self.state, self.runner, self)
        self.trajectories = TrajectoryController(self.state, self.runner, self)
        self.structures = StructureController(self.runner, self)
        self.last_error: str | None = None
        self._error_box: QMessageBox | None = None
        self._closing = False
        self._play_forward = False          # Noise ▶: play the forward run when it is done
        self._last_fixed: list = []         # fixed atoms of the last re-sample trigger
        self._quality_coords = None         # the coordinates the quality table describes
        self._record_dialog = None
        self._shortcuts_dialog = None
        # undo / redo of the fixed atoms and the sampling parameters (follows the state)
        self.history = ParamsHistory(self.state, parent=self)

        self.viewer = Viewer(self)
        self.viewer.setMinimumSize(360, 300)      # with the docks' minimums: fits 1024 px
        self.viewer.setFocusPolicy(Qt.StrongFocus)     # keys go to the window's shortcuts
        self.setCentralWidget(self.viewer)
        self.player = Player(self.state)
        self.spectrum = SpectrumView()
        self.spectrum.setMinimumWidth(LEFT_DOCK_MIN)
        self.steering = SteeringPanel(self.state)
        self.training = TrainingPanel(self.state, self.runner)
        self.quality = QualityPanel(self.state)
        self.docks = {}
        self._dock("player", "Player", self.player, Qt.BottomDockWidgetArea)
        self._dock("spectrum", "Mode energies", self.spectrum, Qt.LeftDockWidgetArea)
        self._dock("steering", "Steering", self.steering, Qt.RightDockWidgetArea)
        self._dock("training", "Training", self.training, Qt.RightDockWidgetArea)
        self._dock("quality", "Quality", self.quality, Qt.RightDockWidgetArea)
        self.tabifyDockWidget(self.docks["steering"], self.docks["training"])
        self.tabifyDockWidget(self.docks["training"], self.docks["quality"])
        self.docks["steering"].raise_()
        self._dock_cap = _DockWidthCap(self, (self.steering, self.training, self.quality))
        self.docks["quality"].visibilityChanged.connect(self._on_quality_visible)

        self.resample_timer = QTimer(self)
        self.resample_timer.setSingleShot(True)
        self.resample_timer.setInterval(DEBOUNCE_MS)
        self.resample_timer.timeout.connect(lambda: self.run_reverse(play=False))
        # the quality table follows the frame shown: re-checked (debounced) when it is visible
        self.quality_timer = QTimer(self)
        self.quality_timer.setSingleShot(True)
        self.quality_timer.setInterval(QUALITY_DEBOUNCE_MS)
        self.quality_timer.timeout.connect(self._auto_quality)

        self._build_status_bar()
        self._build_actions()
        self._connect()
        self._restore_settings()
        self._keys = _FocusedControlKeys(self)
        QApplication.instance().installEventFilter(self._keys)

    # ------------------------------------------------------------------ construction
    def _dock(self, key, title, widget, area):
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.docks[key] = dock

    def _build_status_bar(self):
        bar = self.statusBar()
        self.job_label = QLabel("")
        # a label, not a QProgressBar: the bar repaints synchronously (~15 ms on a
        # software GL desktop) on every change
        self.job_progress = QLabel("")
        self.job_progress.setMinimumWidth(60)
        self.job_progress.setVisible(False)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setVisible(False)
        self.cancel_btn.clicked.connect(self.cancel_jobs)
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
        bar.addWidget(self.frame_status)
        self._permanent = (self.job_label, self.job_progress, self.cancel_btn, self.run_status,
                           self.model_status, self.device_label)
        for w in self._permanent:
            bar.addPermanentWidget(w)
        self._on_model(self.state.model)

    def _action(self, text, slot, shortcut=None, checkable=False, tip=None):
        act = QAction(text, self)
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
        act.setCheckable(checkable)
        if tip:
            act.setStatusTip(tip)
        act.triggered.connect(slot)
        return act

    def _menu(self, parent, title: str):
        """A menu created from Python and then attached: ``addMenu(str)`` returns a wrapper
        looked up by C++ address, which PySide6 can hand back as a stale object of another
        type (seen once: 'QSurface' object has no attribute 'addAction')."""
        menu = QMenu(title, parent)
        parent.addMenu(menu)
        return menu

    def _build_actions(self):
        m = self.menuBar()
        file_menu = self._menu(m, "&File")
        self.act_open = self._action("&Open…", self.open_dialog, QKeySequence.Open)
        file_menu.addAction(self.act_open)
        file_menu.addAction(self._action("Open &demo molecule", self.open_demo))
        self.act_records = self._action("Choose record…", self.choose_record, "Ctrl+Shift+O",
                                        tip="show another molecule of the multi-record file "
                                            "opened last")
        self.act_records.setEnabled(False)
        file_menu.addAction(self.act_records)
        file_menu.addAction(self._action("Build &lattice…", self.lattice_dialog, "Ctrl+L"))
        self.recent_menu = self._menu(file_menu, "Recent files")
        file_menu.addSeparator()
        file_menu.addAction(self._action("Export current conformer…", self.export_current, "Ctrl+E"))
        file_menu.addAction(self._action("Export all generated conformers…", self.export_generated))
        file_menu.addAction(self._action("Export trajectory…", self.export_trajectory))
        file_menu.addAction(self._action("Export image (PNG)…", self.export_png, "Ctrl+Shift+S"))
        file_menu.addAction(self._action("Export animation (GIF/MP4)…", self.export_animation))
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", self.close, QKeySequence.Quit))

        edit = self._menu(m, "&Edit")
        self.act_undo = self._action("Undo", self.undo, QKeySequence.Undo,
                                     tip="undo the last change of fixed atoms or sliders")
        self.act_redo = self._action("Redo", self.redo, QKeySequence.Redo)
        edit.addAction(self.act_undo)
        edit.addAction(self.act_redo)
        self.history.changed.connect(self._update_undo_actions)
        self._update_undo_actions()

        view = self._menu(m, "&View")
        group = QActionGroup(self)
        self.style_actions = {}
        for i, style in enumerate(STYLES):
            act = self._action(style, lambda _=False, s=style: self.set_style(s), f"{i + 1}", True)
            group.addAction(act)
            view.addAction(act)
            self.style_actions[style] = act
        self.act_dynamic = self._action("Dynamic bonds", self._toggle_dynamic, "D", True,
                                        "Recompute bonds from distances in every frame")
        view.addAction(self.act_dynamic)
        self.act_arrows = self._action("Lattice as arrows", self._toggle_arrows, "A", True)
        view.addAction(self.act_arrows)
        self.act_edges = self._action("Lattice edges", self._toggle_edges, "E", True,
                                      tip="edges between lattice sites in point mode "
                                          "(off by default above 2000 sites)")
        view.addAction(self.act_edges)
        view.addSeparator()
        self.act_measure = self._action("Measure distance / angle / dihedral", self._toggle_measure,
                                        "M", True, "click 2, 3 or 4 atoms; a plain click "
                                        "otherwise shows the atom's element, index and charge")
        view.addAction(self.act_measure)
        view.addAction(self._action("Reset camera", self.viewer.reset_camera, "R"))
        view.addAction(self._action("Screenshot…", self.export_png))
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())

        run = self._menu(m, "&Run")
        run.addAction(self._action("Forward (noising) trajectory", self.noise_and_play, "F5"))
        run.addAction(self._action("Reverse sample", lambda: self.run_reverse(), "F6",
                                   tip="denoise from a fresh prior draw and play the run from t = 1"))
        run.addAction(self._action("Cancel running jobs", self.cancel_jobs, "Esc"))
        run.addSeparator()
        self.act_play = self._action("Play / pause", self.player.toggle, "Space")
        run.addAction(self.act_play)
        run.addAction(self._action("Next frame", lambda: self.player.step(1), "Right"))
        run.addAction(self._action("Previous frame", lambda: self.player.step(-1), "Left"))
        run.addAction(self._action("First frame", lambda: self.player.seek(0), "Home"))
        run.addAction(self._action("Last frame", lambda: self.player.seek(self.player.count() - 1), "End"))
        run.addAction(self._action("Pick atoms", lambda: self.steering.pick_btn.toggle(), "P"))

        helpm = self._menu(m, "&Help")
        helpm.addAction(self._action("Keyboard shortcuts", self.show_shortcuts, "F1"))
        helpm.addAction(self._action("About", self.show_about))

        bar = QToolBar("SMILES")
        bar.setObjectName("toolbar_smiles")
        self.addToolBar(bar)
        bar.addAction(self.act_open)
        bar.addWidget(QLabel(" SMILES: "))
        self.smiles_edit = QLineEdit()
        self.smiles_edit.setPlaceholderText("type a SMILES and press Enter, e.g. CC(=O)Oc1ccccc1C(=O)O")
        self.smiles_edit.setMinimumWidth(320)
        self.smiles_edit.returnPressed.connect(self._smiles_entered)
        self.smiles_edit.textEdited.connect(self._clear_smiles_mark)
        bar.addWidget(self.smiles_edit)
        self.act_noise = self._action("Noise ▶", self.noise_and_play,
                                      tip="run the forward (noising) path from the seed and play it")
        bar.addAction(self.act_noise)
        bar.addAction(self._action("Denoise ▶", lambda: self.run_reverse(),
                                   tip="denoise from the seed and play the run from t = 1: the diffusion, "
                                       "then the chemistry (polish, MMFF94) settling"))

    def _connect(self):
        s = self.state
        self.player.frameChanged.connect(self._show_frame)
        self.player.trajectorySelected.connect(self._on_trajectory_selected)
        s.structureChanged.connect(self._on_structure)
        s.trajectoryFinished.connect(self._on_trajectory_finished)
        s.fixedChanged.connect(self.viewer.set_fixed)
        s.fixedChanged.connect(self._on_fixed_changed)
        s.paramsChanged.connect(self._on_params)
        s.modelChanged.connect(self._on_model)
        s.referenceChanged.connect(self.viewer.set_overlay)
        self.viewer.atomPicked.connect(self.state.toggle_fixed)
        self.viewer.atomInfo.connect(lambda text: text and self.status(text, 15000))
        self.viewer.measurementChanged.connect(lambda text: text and self.status(text, 15000))
        self.steering.sampleRequested.connect(lambda: self.run_reverse())
        self.player.frameLabelChanged.connect(self.frame_status.setText)
        self.steering.pickModeToggled.connect(self._set_pick_mode)
        self.steering.smartsRequested.connect(self.fix_smarts)
        self.steering.clearFixedRequested.connect(lambda: self.state.set_fixed([]))
        self.steering.compareToggled.connect(self.analysis.set_compare)
        self.quality.refreshRequested.connect(self.run_quality)
        self.analysis.compareFailed.connect(lambda msg, tb: self.show_error("ETKDG failed", msg, tb))
        self.analysis.rmsdChanged.connect(self.steering.set_rmsd_text)
        self.analysis.qualityPartial.connect(self._quality_partial)
        self.analysis.qualityReady.connect(self._quality_done)
        self.analysis.qualityFailed.connect(self.quality.set_failed)
        self.analysis.qualityCancelled.connect(self._quality_cancelled)
        self.training.modelActivated.connect(self.state.set_model)
        self.training.errorOccurred.connect(lambda msg, tb: self.show_error("Training failed", msg, tb))
        self.training.statusMessage.connect(lambda msg: self.status(msg, 5000))
        self.trajectories.progress.connect(lambda kind, done, total: self._on_progress(done, total))
        self.trajectories.runFinished.connect(self._on_run_finished)
        self.trajectories.runCancelled.connect(self._on_run_stopped)
        self.trajectories.runFailed.connect(lambda kind, msg, tb: self._on_run_stopped(kind))
        self.trajectories.runFailed.connect(
            lambda kind, msg, tb: self.show_error(f"{kind.capitalize()} trajectory failed", msg, tb))
        self.trajectories.statusMessage.connect(self.status)
        self.structures.loaded.connect(self._loaded)
        self.structures.failed.connect(self._load_failed)
        self.runner.jobStarted.connect(self._on_job_started)
        self.runner.jobFinished.connect(self._on_job_finished)

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
        style = st.style if st.style in STYLES else "ball-and-stick"
        self.style_actions[style].setChecked(True)
        self.viewer.style = style
        self.act_dynamic.setChecked(st.dynamic_bonds)
        self.viewer.dynamic = st.dynamic_bonds
        self._update_recent_menu()

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
        """A status bar message. One longer than the room the permanent labels leave is
        cut with "…" at its end (it was cut off mid-word); the full text is the bar's
        tooltip. Messages naming a structure elide the name first (``short_name``)."""
        bar = self.statusBar()
        room = bar.width() - sum(w.width() + 6 for w in self._permanent if w.isVisible()) - 24
        shown = bar.fontMetrics().elidedText(text, Qt.ElideRight, max(80, room))
        bar.setToolTip(text if shown != text else "")
        bar.showMessage(shown, ms)

    def short_name(self, name: str) -> str:
        """A structure's name for a message: a long one (a SMILES) elided in the middle."""
        return self.statusBar().fontMetrics().elidedText(name, Qt.ElideMiddle, STATUS_NAME_PX)

    def set_run_status(self, text: str):
        """What the last reverse run did, at most ``RUN_STATUS_FRACTION`` of the window
        wide (elided; the whole text in its tooltip), so the messages keep their room."""
        self._run_status_text = text
        width = int(RUN_STATUS_FRACTION * max(self.width(), 600))
        shown = self.run_status.fontMetrics().elidedText(text, Qt.ElideRight, width)
        self.run_status.setText(shown)
        self.run_status.setToolTip(text if shown != text else "")

    def _on_job_started(self, job):
        self._refresh_job_widgets()

    def _on_job_finished(self, job):
        self._refresh_job_widgets()

    def _refresh_job_widgets(self):
        busy = [j for j in self.runner.active() if j.name != "train"]
        # only trajectory runs report a percentage: a quality check showed the last run's
        # "100 %" beside its name
        self.job_progress.setVisible(any(j.name in JobSlot.TRAJECTORIES for j in busy))
        self.cancel_btn.setVisible(bool(busy))
        self.job_label.setText(", ".join(sorted({j.name for j in busy})))

    def _on_progress(self, done, total, text=""):
        # QProgressBar repaints synchronously on every change: update per percent only
        # (a reverse run's polished conformer is one frame more than its steps + 1: the
        # screenshot showed "133 %" after Denoise; a run never shows more than 100 %)
        percent = max(0, min(100, int(100 * done / max(1, total))))
        text = f"{percent} %"
        if text != self.job_progress.text():
            self.job_progress.setText(text)

    def cancel_jobs(self):
        running = [slot for slot in JobSlot.CANCELLABLE if self.runner.running(slot)]
        for slot in JobSlot.CANCELLABLE:
            self.runner.cancel(slot)
        self.resample_timer.stop()
        self._play_forward = False
        kept = [k for k in JobSlot.TRAJECTORIES if k in running
                and self.state._kept.get(k) is not None]
        self.status("cancelled" + (f"; the last finished {' and '.join(kept)} run stays"
                                   if kept else ""))

    # ------------------------------------------------------------------ opening
    def open_dialog(self):
        patterns = " ".join(f"*{s}" for s in api.readable_suffixes())
        path, _ = QFileDialog.getOpenFileName(self, "Open structure", self.settings.last_folder,
                                              f"Structures ({patterns});;All files (*)")
        if path:
            self.open_path(path)

    def open_demo(self):
        self.open_path(str(api.demo_molecule_path()), remember=False)

    def open_path(self, path: str, remember: bool = True):
        """Load a file in a worker (StructureController); on failure the current structure
        stays."""
        path = str(path)
        self.status(f"loading {path} …", 0)
        return self.structures.open_path(path, remember)

    def _smiles_entered(self):
        """Enter in the SMILES box: open it, and hand the keys back to the view (Space,
        Home, R … drive the player and the view again, not the text)."""
        self.open_smiles(self.smiles_edit.text())
        self.viewer.setFocus(Qt.OtherFocusReason)

    def open_smiles(self, smiles: str):
        return self.structures.open_smiles(smiles)

    @property
    def records(self) -> list:
        """Every structure of the file opened last (StructureController.records)."""
        return self.structures.records

    def _loaded(self, structures, path, remember):
        """StructureController.loaded: remember the file, show its first record."""
        structure = structures[0]
        if path and remember:
            self.settings.last_folder = str(Path(path).parent)
            self.settings.add_recent(str(Path(path).resolve()))
            self._update_recent_menu()
        self.act_records.setEnabled(len(self.records) > 1)
        extra = (f" (record 1 of {len(structures)}: File ▸ Choose record… or Ctrl+Shift+O "
                 "for another)") if len(structures) > 1 else ""
        self.set_structure(structure)
        self.status(f"opened {self.short_name(structure.name)}: {structure.n} "
                    f"{'atoms' if structure.is_molecule else 'sites'}{extra}"
                    + (f"; {structure.note}" if getattr(structure, "note", "") else ""), 10000)
        self.structureLoaded.emit(structure)
        if len(structures) > 1:
            self.choose_record()

    def choose_record(self):
        """A picker over the records of the multi-record file opened last (non-blocking)."""
        if len(self.records) < 2:
            return None
        from PySide6.QtWidgets import QInputDialog

        if self._record_dialog is not None:
            self._record_dialog.close()
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Choose a record")
        dialog.setLabelText(f"The file holds {len(self.records)} molecules; show which one?")
        dialog.setComboBoxItems([f"{i + 1}: {s.name} ({s.n} atoms)"
                                 for i, s in enumerate(self.records)])
        current = next((i for i, s in enumerate(self.records) if s is self.state.structure), 0)
        dialog.setTextValue(dialog.comboBoxItems()[current])
        dialog.textValueSelected.connect(
            lambda text: self.show_record(dialog.comboBoxItems().index(text)))
        dialog.open()
        self._record_dialog = dialog
        return dialog

    def show_record(self, index: int):
        """Show record ``index`` (0-based) of the file opened last."""
        if not 0 <= index < len(self.records):
            return
        structure = self.records[index]
        if structure is not self.state.structure:
            self.set_structure(structure)
            self.status(f"record {index + 1} of {len(self.records)}: {self.short_name(structure.name)}")

    def _load_failed(self, what, msg, tb):
        self.loadFailed.emit(msg)
        self.show_error("Could not open", f"{what}: {msg}" if what not in msg else msg, tb)
        if what.startswith("SMILES"):
            self._mark_smiles_failed(msg)

    def _mark_smiles_failed(self, msg: str):
        """A SMILES that did not open stays in the box, so the typo can be fixed, but marked:
        red, with the reason and what the view still shows in its tooltip and the status
        bar. Editing the text or opening a structure (its SMILES replaces the text) clears
        the mark."""
        shown = (self.short_name(self.state.structure.name) if self.state.structure is not None
                 else "nothing")
        self.smiles_edit.setProperty("failed", True)
        self.smiles_edit.setStyleSheet(SMILES_FAILED_STYLE)
        self.smiles_edit.setToolTip(f"not opened: {msg}\nthe view still shows {shown}")
        self.status(f"SMILES not opened, the view still shows {shown}: {msg}", 15000)

    def _clear_smiles_mark(self, *_):
        if self.smiles_edit.property("failed"):
            self.smiles_edit.setProperty("failed", False)
            self.smiles_edit.setStyleSheet("")
            self.smiles_edit.setToolTip("")

    def set_structure(self, structure: api.Structure):
        self.trajectories.cancel()
        self.state.set_structure(structure)

    def _update_recent_menu(self):
        self.recent_menu.clear()
        files = self.settings.recent_files()
        for f in files:
            self.recent_menu.addAction(self._action(f, lambda _=False, p=f: self.open_path(p)))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction(self._action("Clear", self._clear_recent))
        self.recent_menu.setEnabled(bool(files))

    def _clear_recent(self):
        self.settings.clear_recent()
        self._update_recent_menu()

    def lattice_dialog(self):
        dialog = LatticeDialog(self, models=self.state.models)
        dialog.setModal(True)
        dialog.accepted.connect(lambda: self.build_lattice(dialog.shape(), dialog.system(),
                                                           dialog.seed()))
        dialog.open()
        return dialog

    def build_lattice(self, shape, system="spin", seed=0):
        return self.structures.build_lattice(shape, system, seed)

    # drag and drop
    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_path(url.toLocalFile())
                event.acceptProposedAction()
                return

    # ------------------------------------------------------------------ structure and frames
    def _on_structure(self, structure):
        self.viewer.set_structure(structure)
        self.spectrum.clear()
        self.quality_timer.stop()
        self._quality_coords = None
        self._last_fixed = []
        self.set_run_status("")
        self.quality.set_rows(self.quality.title_text(structure.name), [])
        self.quality.set_lattice(not structure.is_molecule)
        self.steering.set_lattice(not structure.is_molecule)
        self.smiles_edit.setText(chem.smiles(structure))
        self._clear_smiles_mark()
        self.steering.compare.blockSignals(True)
        self.steering.compare.setChecked(False)
        self.steering.compare.blockSignals(False)
        self.steering.set_rmsd_text("—")
        self.act_arrows.setEnabled(not structure.is_molecule)
        self.act_edges.setEnabled(not structure.is_molecule)
        self.viewer.set_lattice_edges(None)         # by size for each new lattice
        self.act_edges.blockSignals(True)
        self.act_edges.setChecked(not structure.is_molecule and self.viewer.edges_visible())
        self.act_edges.blockSignals(False)
        title = structure.name if len(structure.name) < 60 else structure.name[:57] + "…"
        self.setWindowTitle(f"gdapp — {title}")
        self._on_model(self.state.model)
        self.run_forward()

    def current_coords(self) -> np.ndarray | None:
        return self.viewer.coords

    def _show_frame(self, kind, index):
        buf = self.state.trajectory(kind)
        if buf is None or index >= len(buf):
            return
        self.viewer.set_coords(buf.frames[index])
        if self.spectrum.trajectory is not None and self.spectrum.trajectory.kind == kind:
            self.spectrum.set_frame(index)
        self._quality_follow()

    # the quality table describes the frame shown, or nothing --------------------------
    def frame_label(self) -> str:
        if not self.player.count():
            return "input"
        buf = self.player.buffer()
        i = min(self.player.index, len(buf) - 1)
        return f"{self.player.kind} frame {i + 1}, {buf.label(i)}"

    def _quality_follow(self):
        coords = self.current_coords()
        if coords is None or self.state.structure is None:
            return
        if self._quality_coords is not None and np.array_equal(coords, self._quality_coords):
            return
        cached = self.analysis.cached_quality(coords, self.quality.posebusters.isChecked())
        if cached is not None:              # checked before: its rows, without a new check
            self.quality_timer.stop()
            self._quality_coords = coords
            self.quality.set_rows(self.quality.title_text(self.state.structure.name,
                                                          f"({self.frame_label()})"), cached)
            return
        if self._quality_coords is not None or self.quality.rows:
            self._quality_coords = None
            self.quality.set_rows(self.quality.title_text(
                self.state.structure.name, f"({self.frame_label()})",
                "not checked yet: press “Check current frame”"), [])
        if self._quality_visible() and not self.player.is_playing():
            self.quality_timer.start()

    def _on_quality_visible(self, visible):
        if visible:
            QTimer.singleShot(0, self._quality_follow)

    def _quality_visible(self) -> bool:
        dock = self.docks["quality"]
        return dock.isVisible() and not dock.visibleRegion().isEmpty()

    def _auto_quality(self):
        if self._quality_visible() and not self.player.is_playing():
            self.run_quality(self.quality.posebusters.isChecked())

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

    def _on_params(self, params):
        self._maybe_resample()          # (the undo history notes the change itself)

    def _on_fixed_changed(self, fixed):
        """Picking, Fix matches and Clear re-sample like a slider does (when asked to)."""
        fixed = list(fixed)
        if fixed != self._last_fixed:
            self._last_fixed = fixed
            self._maybe_resample()

    # ------------------------------------------------------------------ undo (ParamsHistory keeps it)
    def undo(self):
        text = self.history.undo()          # a slider gesture still open is one step too
        if text is not None:
            self.status(f"undone: {text}")

    def redo(self):
        text = self.history.redo()
        if text is not None:
            self.status(f"redone: {text}")

    def _update_undo_actions(self):
        try:
            self._refresh_undo_actions()
        except RuntimeError:        # the history emits while the window is being destroyed
            pass

    def _refresh_undo_actions(self):
        h = self.history
        self.act_undo.setEnabled(h.can_undo())
        self.act_undo.setText(f"Undo {h.undo_text()}" if h.undo_text() else "Undo")
        self.act_redo.setEnabled(h.can_redo())
        self.act_redo.setText(f"Redo {h.redo_text()}" if h.redo_text() else "Redo")

    def _maybe_resample(self):
        if self.steering.auto.isChecked() and self.state.structure is not None:
            self.resample_timer.start()

    def _on_model(self, model):
        self.model_status.setText(f"model: {model.name}")
        self.model_status.setToolTip(model.path or "exact ε-predictor of the harmonic prior; "
                                     "no trained network applies to this structure")

    # ------------------------------------------------------------------ style
    def set_style(self, style):
        self.viewer.set_style(style)
        self.style_actions[style].setChecked(True)

    def _toggle_dynamic(self, on):
        self.viewer.set_dynamic_bonds(on)

    def _toggle_edges(self, on):
        self.viewer.set_lattice_edges(on)

    def _toggle_arrows(self, on):
        self.viewer.set_lattice_mode("arrows" if on else "points")

    # ------------------------------------------------------------------ fixed atoms
    def _set_pick_mode(self, on):
        self.viewer.pick_mode = bool(on)
        if on and self.act_measure.isChecked():
            self.act_measure.setChecked(False)
            self.viewer.set_measure_mode(False)
        self.status("click atoms to fix / release them" if on else "picking off")

    def _toggle_measure(self, on):
        if on and self.steering.pick_btn.isChecked():
            self.steering.pick_btn.setChecked(False)
        self.viewer.set_measure_mode(on)
        self.status("measure: click 2 atoms (distance), 3 (angle) or 4 (dihedral)" if on
                    else "measuring off")

    def fix_smarts(self, smarts: str):
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

    # ------------------------------------------------------------------ quality (AnalysisController runs it)
    def run_quality(self, posebusters: bool = True):
        """Check the frame shown; the rows go to the quality panel: the cheap checks first
        (_quality_partial), all of them at the end (_quality_done). A frame checked before
        shows its kept rows at once."""
        structure = self.state.structure
        coords = self.current_coords()
        if structure is None or coords is None:
            return None
        self.quality_timer.stop()
        label = self.frame_label()
        self.quality.set_busy(self.quality.title_text(structure.name, f"({label})", "checking …"))
        return self.analysis.check_quality(coords, label, posebusters)

    def _shows(self, structure, coords) -> bool:
        shown = self.current_coords()
        return structure is self.state.structure and shown is not None and np.array_equal(shown, coords)

    def _quality_partial(self, structure, coords, label, rows):
        """The rows so far (PoseBusters still running), if they describe the frame shown."""
        if not self._shows(structure, coords):
            return
        self._quality_coords = coords
        self.quality.set_rows(self.quality.title_text(structure.name, f"({label})",
                                                      "checking … (Esc stops)"), rows, busy=True)

    def _quality_done(self, structure, coords, label, rows):
        """Show the rows only if they describe what is on screen now."""
        if not self._shows(structure, coords):
            self._quality_coords = coords
            self._quality_follow()
            return
        self._quality_coords = coords
        self.quality.set_rows(self.quality.title_text(structure.name, f"({label})"), rows)

    def _quality_cancelled(self, structure, coords, label):
        if not self._shows(structure, coords):
            return
        self._quality_coords = None
        self.quality.set_stopped(self.quality.title_text(
            structure.name, f"({label})", "check stopped: the rows still checking were not "
            "finished; “Check current frame” runs it again"))

    # ------------------------------------------------------------------ export
    def _save_name(self, title, default, filters):
        start = str(Path(self.settings.last_folder or Path.home()) / default)
        path, _ = QFileDialog.getSaveFileName(self, title, start, filters)
        if path:
            self.settings.last_folder = str(Path(path).parent)
        return path

    def _guard(self, title, fn, *args):
        try:
            out = fn(*args)
        except Exception as err:  # noqa: BLE001 -- shown, app stays usable
            self.show_error(title, str(err), traceback.format_exc())
            return None
        self.status(f"wrote {out}")
        return out

    def export_current(self, path=None):
        if self.state.structure is None:
            return None
        name, props = self.current_record()
        path = path or self._save_name("Export conformer", "conformer.sdf",
                                       "SDF (*.sdf);;XYZ (*.xyz);;PDB (*.pdb)")
        if not path:
            return None
        out = self._guard("Export failed", export.export_conformers, path,
                          self.state.structure, [self.current_coords()], [name], [props])
        if out is not None and props.get("gdapp_frame") in ("noised", "denoising intermediate"):
            # said after the write: not a chemically valid structure
            self.status(f"wrote {out} — a {props['gdapp_frame']} frame at t = "
                        f"{float(props['gdapp_t']):.2f}, not a finished conformer (named "
                        f"“{name}”)", 10000)
        return out

    def current_record(self) -> tuple[str, dict]:
        """Title and SDF properties of the frame shown (says if it is an intermediate)."""
        structure = self.state.structure
        buf = self.player.buffer()
        if not self.player.count() or buf is None:
            return structure.name, {}
        i = min(self.player.index, len(buf) - 1)
        if not np.array_equal(buf.frames[i], self.current_coords()):
            return structure.name, {}
        return export.frame_record(structure, self.player.kind, i, buf.times[i], len(buf), buf.info,
                                   buf.label(i) if self.player.kind == "reverse" else "")

    def export_generated(self, path=None):
        if self.state.structure is None:
            return None
        if not self.state.generated:
            self.show_error("Nothing to export", "no generated conformers yet: run Reverse sample (F6)")
            return None
        path = path or self._save_name("Export generated conformers", "generated.sdf",
                                       "SDF (*.sdf);;XYZ (*.xyz);;PDB (*.pdb)")
        if path:
            return self._guard("Export failed", export.export_generated, path,
                               self.state.structure, self.state.generated,
                               self.state.generated_info)

    def export_trajectory(self, path=None):
        buf = self.state.trajectory(self.player.kind)
        if buf is None or not len(buf):
            self.show_error("Nothing to export", "no trajectory to export")
            return None
        path = path or self._save_name("Export trajectory", f"{self.player.kind}.xyz",
                                       "XYZ (*.xyz);;PDB (*.pdb)")
        if path:
            return self._guard("Export failed", export.export_trajectory, path,
                               self.state.structure, buf)

    def export_png(self, path=None):
        path = path or self._save_name("Save image", "view.png", "PNG (*.png)")
        if path:
            return self._guard("Screenshot failed", export.export_png, path, self.viewer)

    def export_animation(self, path=None):
        buf = self.state.trajectory(self.player.kind)
        if buf is None or not len(buf):
            self.show_error("Nothing to export", "no trajectory to animate")
            return None
        path = path or self._save_name("Export animation", f"{self.player.kind}.gif",
                                       "GIF (*.gif);;MP4 (*.mp4)")
        if path:
            return self._guard("Animation export failed", export.export_animation, path,
                               self.viewer, buf, self.player.speed.value())

    # ------------------------------------------------------------------ help
    def shortcut_rows(self) -> list[tuple[str, str]]:
        rows, seen = [], set()
        for menu in self.menuBar().findChildren(QMenu):
            for act in menu.actions():
                key = act.shortcut().toString(QKeySequence.NativeText)
                text = act.text().replace("&", "")
                if key and (key, text) not in seen:
                    seen.add((key, text))
                    rows.append((key, text))
        return rows

    def show_shortcuts(self):
        """A left-aligned two-column table of every menu shortcut (non-blocking)."""
        import html

        if self._shortcuts_dialog is not None:
            self._shortcuts_dialog.close()
        dialog = QDialog(self)
        dialog.setWindowTitle("Keyboard shortcuts")
        body = "".join(f"<tr><td style='padding-right:18px'><b>{html.escape(k)}</b></td>"
                       f"<td>{html.escape(t)}</td></tr>" for k, t in self.shortcut_rows())
        label = QLabel(f"<table>{body}</table>")
        label.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(dialog.close)
        layout = QVBoxLayout(dialog)
        layout.addWidget(label)
        layout.addWidget(buttons)
        dialog.open()
        self._shortcuts_dialog = dialog
        return dialog

    def about_text(self) -> str:
        import PySide6

        from gdapp import __version__

        return (f"gdapp {__version__}\n"
                "graph-structured diffusion of molecules and lattices.\n\n"
                f"Engine device: {api.device_info()}\nModel: {self.state.model.name}\n"
                f"PySide6 {PySide6.__version__}" + self.denoise_command_text())

    def denoise_command_text(self) -> str:
        """For a molecule with a network: the ``sample`` command that writes the conformer
        Denoise shows (the same pipeline and settings; no fixed atoms)."""
        structure, p = self.state.structure, self.state.params
        if structure is None or not structure.is_molecule or not self.state.model.is_network:
            return ""
        try:
            settings = api.run_settings(p.steps, p.sampler, p.seed, p.guidance())
        except api.InputError:
            return ""
        return ("\n\nDenoise writes what this command writes (one conformer, no fixed atoms):\n"
                + settings.command(f"{structure.name}.sdf", "out.sdf", 1))

    def show_about(self):
        box = QMessageBox(QMessageBox.Information, "About gdapp", self.about_text(),
                          QMessageBox.Ok, self)
        box.open()
        self._about_box = box
        return box

    # ------------------------------------------------------------------ closing
    def _first_run_docks(self):
        """No saved layout: mode energies ~24 % of the width, the right docks ~30 % (at
        most ``SIDE_DOCK_MAX_MIN``), the 3D view the rest: the largest part, in the
        centre. Applied before the window is shown and again once it is (showEvent),
        whatever size the window manager gave it."""
        if self._closing:
            return
        w = self.width()
        left = max(LEFT_DOCK_MIN + 20, min(340, int(0.24 * w)))
        right = min(SIDE_DOCK_MAX_MIN, int(0.30 * w))
        self.resizeDocks([self.docks["spectrum"], self.docks["steering"]], [left, right],
                         Qt.Horizontal)

    def showEvent(self, event):
        super().showEvent(event)
        if self._first_run:
            self._first_run = False
            QTimer.singleShot(0, self._first_run_docks)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if getattr(self, "_run_status_text", ""):
            self.set_run_status(self._run_status_text)
        QTimer.singleShot(0, self._balance_docks)

    def _balance_docks(self):
        """Keep the left dock (mode energies) wide enough for its plots: at 1024 px the
        right docks' size hints used to squeeze it to ~120 px, and it did not recover."""
        left = self.docks["spectrum"]
        if self._closing or left.isFloating() or not left.isVisible():
            return
        want = max(LEFT_DOCK_MIN + 20, min(340, int(0.24 * self.width())))
        if left.width() < want - 8:
            self.resizeDocks([left], [want], Qt.Horizontal)

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
