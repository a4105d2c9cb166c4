"""The main window: 3D view in the centre, docks for player, spectrum, steering,
training and quality; menus, shortcuts, status bar; every engine call in a worker."""
from __future__ import annotations

import os

import traceback
from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QLabel, QLineEdit, QMainWindow, QMenu,
                               QMessageBox, QProgressBar, QPushButton, QToolBar)

from engine import api
from gdapp import export
from gdapp.settings import Settings
from gdapp.state import AppState
from gdapp.views.lattice_dialog import LatticeDialog
from gdapp.views.player import Player
from gdapp.views.quality import QualityPanel
from gdapp.views.spectrum import SpectrumView
from gdapp.views.steering import SteeringPanel
from gdapp.views.training import TrainingPanel
from gdapp.views.viewer import STYLES, Viewer
from gdapp.workers import JobRunner

DEBOUNCE_MS = 250
FORWARD_FRAMES = 60


# Kinds whose bundled network (resources/models) is active at start: all of them, unless
# GDAPP_MODELS names fewer (e.g. "lattice": the GUI tests keep molecules on the exact
# harmonic-prior predictor so their timings and stereo checks do not depend on a network).
def autoload_kinds() -> tuple:
    return tuple(k.strip() for k in os.environ.get("GDAPP_MODELS", "molecule,lattice").split(",") if k.strip())


class MainWindow(QMainWindow):
    structureLoaded = Signal(object)
    loadFailed = Signal(str)
    errorShown = Signal(str)

    def __init__(self, settings: Optional[Settings] = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("gdapp — graph diffusion of 3D structures")
        self.setAcceptDrops(True)
        self.settings = settings or Settings()
        self.state = AppState(self)
        # bundled networks (resources/models) of the kinds autoload_kinds() names
        self.state.set_models({k: m for k, m in api.default_models().items()
                               if k in autoload_kinds()})
        self.runner = JobRunner(self)
        self.last_error: Optional[str] = None
        self._error_box: Optional[QMessageBox] = None
        self._closing = False

        self.viewer = Viewer(self)
        self.viewer.setMinimumSize(420, 320)
        self.setCentralWidget(self.viewer)
        self.player = Player(self.state)
        self.spectrum = SpectrumView()
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

        self.resample_timer = QTimer(self)
        self.resample_timer.setSingleShot(True)
        self.resample_timer.setInterval(DEBOUNCE_MS)
        self.resample_timer.timeout.connect(self.run_reverse)

        self._build_status_bar()
        self._build_actions()
        self._connect()
        self._restore_settings()

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
        self.device_label = QLabel(f"engine: {api.device_info()}")
        for w in (self.job_label, self.job_progress, self.cancel_btn, self.model_status,
                  self.device_label):
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
        view.addAction(self._action("Reset camera", self.viewer.reset_camera, "R"))
        view.addAction(self._action("Screenshot…", self.export_png))
        view.addSeparator()
        for key, dock in self.docks.items():
            view.addAction(dock.toggleViewAction())

        run = self._menu(m, "&Run")
        run.addAction(self._action("Forward (noising) trajectory", self.run_forward, "F5"))
        run.addAction(self._action("Reverse sample", self.run_reverse, "F6"))
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
        self.smiles_edit.returnPressed.connect(lambda: self.open_smiles(self.smiles_edit.text()))
        bar.addWidget(self.smiles_edit)
        bar.addAction(self._action("Noise ▶", self.run_forward))
        bar.addAction(self._action("Denoise ▶", self.run_reverse))

    def _connect(self):
        s = self.state
        self.player.frameChanged.connect(self._show_frame)
        self.player.trajectorySelected.connect(self._on_trajectory_selected)
        s.structureChanged.connect(self._on_structure)
        s.trajectoryFinished.connect(self._on_trajectory_finished)
        s.fixedChanged.connect(self.viewer.set_fixed)
        s.paramsChanged.connect(self._on_params)
        s.modelChanged.connect(self._on_model)
        s.referenceChanged.connect(self.viewer.set_overlay)
        self.viewer.atomPicked.connect(self.state.toggle_fixed)
        self.steering.sampleRequested.connect(self.run_reverse)
        self.steering.pickModeToggled.connect(self._set_pick_mode)
        self.steering.smartsRequested.connect(self.fix_smarts)
        self.steering.clearFixedRequested.connect(lambda: self.state.set_fixed([]))
        self.steering.compareToggled.connect(self._on_compare)
        self.quality.refreshRequested.connect(self.run_quality)
        self.training.modelActivated.connect(self.state.set_model)
        self.training.errorOccurred.connect(lambda msg, tb: self.show_error("Training failed", msg, tb))
        self.training.statusMessage.connect(lambda msg: self.statusBar().showMessage(msg, 5000))
        self.runner.jobStarted.connect(self._on_job_started)
        self.runner.jobFinished.connect(self._on_job_finished)

    def _restore_settings(self):
        st = self.settings
        if st.geometry() is not None:
            self.restoreGeometry(st.geometry())
        else:
            self.resize(1280, 860)
        if st.window_state() is None or not self.restoreState(st.window_state()):
            self.resizeDocks([self.docks["spectrum"], self.docks["steering"]], [300, 380],
                             Qt.Horizontal)
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
        self.statusBar().showMessage(f"{title}: {message}", 10000)
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
        self.statusBar().showMessage(text, ms)

    def _on_job_started(self, job):
        self._refresh_job_widgets()

    def _on_job_finished(self, job):
        self._refresh_job_widgets()

    def _refresh_job_widgets(self):
        busy = [j for j in self.runner.active() if j.name != "train"]
        self.job_progress.setVisible(bool(busy))
        self.cancel_btn.setVisible(bool(busy))
        self.job_label.setText(", ".join(sorted({j.name for j in busy})))

    def _on_progress(self, done, total, text=""):
        # QProgressBar repaints synchronously on every change: update per percent only
        percent = int(100 * done / max(1, total))
        text = f"{percent} %"
        if text != self.job_progress.text():
            self.job_progress.setText(text)

    def cancel_jobs(self):
        for slot in ("load", "forward", "reverse", "quality", "compare"):
            self.runner.cancel(slot)
        self.status("cancelled")

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
        """Load a file in a worker; on failure the current structure stays."""
        path = str(path)
        self.status(f"loading {path} …", 0)

        def work(job):
            return api.load_structures(path)

        job = self.runner.start("load", work,
                               succeeded=lambda structures: self._loaded(structures, path, remember),
                               failed=lambda msg, tb: self._load_failed(path, msg, tb))
        return job

    def open_smiles(self, smiles: str):
        def work(job):
            return [api.structure_from_smiles(smiles)]

        job = self.runner.start("load", work,
                               succeeded=lambda structures: self._loaded(structures, None, False),
                               failed=lambda msg, tb: self._load_failed(f"SMILES {smiles!r}", msg, tb))
        return job

    def _loaded(self, structures, path, remember):
        structure = structures[0]
        if path and remember:
            self.settings.last_folder = str(Path(path).parent)
            self.settings.add_recent(str(Path(path).resolve()))
            self._update_recent_menu()
        extra = f" (first of {len(structures)} molecules)" if len(structures) > 1 else ""
        self.set_structure(structure)
        self.status(f"opened {structure.name}: {structure.n} "
                    f"{'atoms' if structure.is_molecule else 'sites'}{extra}"
                    + (f"; {structure.note}" if getattr(structure, "note", "") else ""))
        self.structureLoaded.emit(structure)

    def _load_failed(self, what, msg, tb):
        self.loadFailed.emit(msg)
        self.show_error("Could not open", f"{what}: {msg}" if what not in msg else msg, tb)

    def set_structure(self, structure: api.Structure):
        self.runner.cancel("forward")
        self.runner.cancel("reverse")
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
        def work(job):
            return [api.build_lattice(shape, system, seed=seed)]

        job = self.runner.start("load", work,
                               succeeded=lambda s: self._loaded(s, None, False),
                               failed=lambda msg, tb: self._load_failed("lattice", msg, tb))
        return job

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
        self.quality.set_rows(f"structure shown: {structure.name}", [])
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

    def current_coords(self) -> Optional[np.ndarray]:
        return self.viewer.coords

    def _show_frame(self, kind, index):
        buf = self.state.trajectory(kind)
        if buf is None or index >= len(buf):
            return
        self.viewer.set_coords(buf.frames[index])
        if self.spectrum.trajectory is not None and self.spectrum.trajectory.kind == kind:
            self.spectrum.set_frame(index)

    def _on_trajectory_selected(self, kind):
        buf = self.state.trajectory(kind)
        self.spectrum.set_trajectory(buf.trajectory if buf and buf.complete else None)

    def _on_trajectory_finished(self, kind):
        buf = self.state.trajectory(kind)
        if buf is not None and buf.complete and self.player.kind == kind:
            self.spectrum.set_trajectory(buf.trajectory)
            self.spectrum.set_frame(self.player.index)

    # ------------------------------------------------------------------ runs
    def _start_trajectory_job(self, kind: str, fn):
        structure = self.state.structure
        if structure is None:
            self.status("open a structure first")
            return None
        self.runner.cancel(kind)
        self.state.begin_trajectory(kind)

        def work(job):
            def callback(k, t, frame, s0_hat):
                job.report_step((k, t, frame))
            return fn(structure, callback, job.should_stop)

        job = self.runner.create(kind, work, name=kind)
        job.steps.connect(lambda items, j=job: self._on_steps(j, kind, structure, items))
        job.succeeded.connect(lambda traj, j=job: self._on_traj_done(j, kind, structure, traj))
        job.failed.connect(lambda msg, tb: self._on_traj_failed(kind, msg, tb))
        job.cancelled.connect(lambda j=job: self._on_traj_cancelled(kind, j))
        return self.runner.launch(job)

    def _current_job(self, kind, job) -> bool:
        return self.runner.slots.get(kind) is job

    def _on_steps(self, job, kind, structure, items):
        if not self._current_job(kind, job) or structure is not self.state.structure:
            return
        self.state.append_frames(kind, [(t, frame) for _, t, frame in items])
        total = FORWARD_FRAMES if kind == "forward" else self.state.params.steps + 1
        self._on_progress(items[-1][0] + 1, total)

    def _on_traj_done(self, job, kind, structure, traj):
        if not self._current_job(kind, job) or structure is not self.state.structure:
            return
        self.state.finish_trajectory(traj)
        if kind == "reverse":
            self.status(f"reverse sampling done: {traj.meta.get('sampler')} "
                        f"{traj.meta.get('steps')} steps, seed {traj.seed}, model {traj.model_name}")
            if self.state.reference is not None:
                self._update_compare_rmsd()

    def _on_traj_failed(self, kind, msg, tb):
        self.state.abandon_trajectory(kind)
        self.show_error(f"{kind.capitalize()} trajectory failed", msg, tb)

    def _on_traj_cancelled(self, kind, job):
        if self._current_job(kind, job):
            self.state.abandon_trajectory(kind)

    def run_forward(self):
        def fn(structure, callback, should_stop):
            return api.forward_trajectory(structure, num_frames=FORWARD_FRAMES, seed=0,
                                          callback=callback, should_stop=should_stop)
        return self._start_trajectory_job("forward", fn)

    def run_reverse(self):
        self.resample_timer.stop()
        p = self.state.params
        model = self.state.model
        fixed = list(self.state.fixed)

        def fn(structure, callback, should_stop):
            return api.reverse_trajectory(structure, model, steps=p.steps, sampler=p.sampler,
                                          seed=p.seed, guidance=p.guidance(), fixed=fixed,
                                          callback=callback, should_stop=should_stop)
        return self._start_trajectory_job("reverse", fn)

    def _on_params(self, params):
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
        self.status("click atoms to fix / release them" if on else "picking off")

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

    # ------------------------------------------------------------------ compare and quality
    def _on_compare(self, on):
        structure = self.state.structure
        if not on or structure is None or not structure.is_molecule:
            self.state.set_reference(None)
            self.steering.set_rmsd_text("—")
            return
        align_to = self._generated_or_input()
        seed = self.state.params.seed

        def work(job):
            return api.etkdg_conformer(structure, seed=seed, align_to=align_to)

        job = self.runner.start("compare", work,
                               succeeded=lambda coords: self._compare_ready(structure, coords),
                               failed=lambda msg, tb: self.show_error("ETKDG failed", msg, tb))

    def _generated_or_input(self):
        buf = self.state.trajectory("reverse")
        if buf is not None and buf.complete:
            return buf.trajectory.final
        return self.state.structure.positions

    def _compare_ready(self, structure, coords):
        if structure is not self.state.structure or not self.steering.compare.isChecked():
            return
        self.state.set_reference(coords)
        self._update_compare_rmsd()

    def _update_compare_rmsd(self):
        structure, ref = self.state.structure, self.state.reference
        generated = self._generated_or_input()
        buf = self.state.trajectory("reverse")
        what = "generated" if buf is not None and buf.complete else "input"

        def work(job):
            return (api.heavy_atom_rmsd(structure, generated, ref),
                    api.heavy_atom_rmsd(structure, structure.positions, ref))

        job = self.runner.start("rmsd", work,
                               succeeded=lambda r: self.steering.set_rmsd_text(
            f"heavy-atom RMSD ({what} ↔ ETKDG): {r[0]:.2f} Å\ninput ↔ ETKDG: {r[1]:.2f} Å"),
                               failed=lambda msg, tb: self.steering.set_rmsd_text(f"RMSD failed: {msg}"))

    def run_quality(self, posebusters: bool = True):
        structure = self.state.structure
        coords = self.current_coords()
        if structure is None or coords is None:
            return None
        label = f"{self.player.kind} frame {self.player.index + 1}" if self.player.count() else "input"
        self.quality.set_busy(f"checking {structure.name} ({label}) …")

        def work(job):
            return api.quality_report(structure, coords, posebusters=posebusters)

        job = self.runner.start("quality", work,
                               succeeded=lambda rows: self.quality.set_rows(
            f"structure shown: {structure.name} ({label})", rows),
                               failed=lambda msg, tb: self.quality.set_failed(msg))
        return job

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
        path = path or self._save_name("Export conformer", "conformer.sdf",
                                       "SDF (*.sdf);;XYZ (*.xyz);;PDB (*.pdb)")
        if path:
            return self._guard("Export failed", export.export_conformers, path,
                               self.state.structure, [self.current_coords()])

    def export_generated(self, path=None):
        if self.state.structure is None:
            return None
        if not self.state.generated:
            self.show_error("Nothing to export", "no generated conformers yet: run Reverse sample (F6)")
            return None
        path = path or self._save_name("Export generated conformers", "generated.sdf",
                                       "SDF (*.sdf);;XYZ (*.xyz);;PDB (*.pdb)")
        if path:
            return self._guard("Export failed", export.export_conformers, path,
                               self.state.structure, self.state.generated)

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
    def show_shortcuts(self):
        lines = []
        for menu in self.menuBar().findChildren(type(self.recent_menu)):
            for act in menu.actions():
                if act.shortcut().toString():
                    lines.append(f"{act.shortcut().toString():>14}   {act.text().replace('&', '')}")
        QMessageBox.information(self, "Keyboard shortcuts", "\n".join(lines))

    def show_about(self):
        QMessageBox.about(self, "About gdapp",
                          "gdapp: graph-structured diffusion of molecules and lattices.\n"
                          f"Engine device: {api.device_info()}\nModel: {self.state.model.name}")

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event):
        self._closing = True
        self.resample_timer.stop()
        self.player.pause()
        self.save_settings()
        self.training.shutdown()
        self.runner.shutdown(15.0)
        self.viewer.close_scene()
        super().closeEvent(event)
