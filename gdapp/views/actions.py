"""The main window's menus, shortcuts and toolbar, and the View menu's options.

:class:`WindowActions` builds File, Edit, View, Run and Help and the SMILES toolbar on the
window. Each action calls the part of the window that does the work (opening, exports,
runs, the player, help); the View menu's options (style, dynamic bonds, lattice drawing,
measuring), Undo / Redo and the recent-files menu are handled here. Help ▸ Keyboard
shortcuts lists these actions (:mod:`gdapp.views.help`).
"""
from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QMenu, QToolBar

from gdapp.views.viewer import STYLES


def make_menu(parent, title: str) -> QMenu:
    """A menu created from Python and then attached: ``addMenu(str)`` returns a wrapper
    looked up by C++ address, which PySide6 can hand back as a stale object of another
    type (seen once: 'QSurface' object has no attribute 'addAction')."""
    menu = QMenu(title, parent)
    parent.addMenu(menu)
    return menu


class WindowActions(QObject):
    """The actions of ``window`` (a :class:`gdapp.views.main_window.MainWindow`), by name."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        bar = window.menuBar()
        self._file_menu(make_menu(bar, "&File"))
        self._edit_menu(make_menu(bar, "&Edit"))
        self._view_menu(make_menu(bar, "&View"))
        self._run_menu(make_menu(bar, "&Run"))
        helpm = make_menu(bar, "&Help")
        helpm.addAction(self.action("Keyboard shortcuts", window.help.show_shortcuts, "F1"))
        helpm.addAction(self.action("About", window.help.show_about))
        self._toolbar()
        window.state.structureChanged.connect(self._on_structure)
        window.steering.pickModeToggled.connect(self.set_pick_mode)

    def action(self, text: str, slot, shortcut=None, checkable: bool = False, tip: str | None = None) -> QAction:
        act = QAction(text, self.window)
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
        act.setCheckable(checkable)
        if tip:
            act.setStatusTip(tip)
        act.triggered.connect(slot)
        return act

    # ------------------------------------------------------------------ building
    def _file_menu(self, menu: QMenu) -> None:
        w = self.window
        self.act_open = self.action("&Open…", w.opener.open_dialog, QKeySequence.Open)
        menu.addAction(self.act_open)
        menu.addAction(self.action("Open &demo molecule", w.open_demo))
        self.act_records = self.action("Choose record…", w.opener.choose_record, "Ctrl+Shift+O",
                                       tip="show another molecule of the multi-record file "
                                           "opened last")
        self.act_records.setEnabled(False)
        menu.addAction(self.act_records)
        menu.addAction(self.action("Build &lattice…", w.lattice_dialog, "Ctrl+L"))
        self.recent_menu = make_menu(menu, "Recent files")
        menu.addSeparator()
        ex = w.exporter
        menu.addAction(self.action("Export current conformer…", ex.export_current, "Ctrl+E"))
        menu.addAction(self.action("Export all generated conformers…", ex.export_generated))
        menu.addAction(self.action("Export trajectory…", ex.export_trajectory))
        menu.addAction(self.action("Export image (PNG)…", ex.export_png, "Ctrl+Shift+S"))
        menu.addAction(self.action("Export animation (GIF/MP4)…", ex.export_animation))
        menu.addSeparator()
        menu.addAction(self.action("&Quit", w.close, QKeySequence.Quit))

    def _edit_menu(self, menu: QMenu) -> None:
        self.act_undo = self.action("Undo", self.undo, QKeySequence.Undo,
                                    tip="undo the last change of fixed atoms or sliders")
        self.act_redo = self.action("Redo", self.redo, QKeySequence.Redo)
        menu.addAction(self.act_undo)
        menu.addAction(self.act_redo)
        self.window.history.changed.connect(self._update_undo_actions)
        self._update_undo_actions()

    def _view_menu(self, menu: QMenu) -> None:
        w = self.window
        group = QActionGroup(w)
        self.style_actions = {}
        for i, style in enumerate(STYLES):
            act = self.action(style, lambda _=False, s=style: self.set_style(s), f"{i + 1}", True)
            group.addAction(act)
            menu.addAction(act)
            self.style_actions[style] = act
        self.act_dynamic = self.action("Dynamic bonds", self.toggle_dynamic, "D", True,
                                       "Recompute bonds from distances in every frame")
        menu.addAction(self.act_dynamic)
        self.act_arrows = self.action("Lattice as arrows", self.toggle_arrows, "A", True)
        menu.addAction(self.act_arrows)
        self.act_edges = self.action("Lattice edges", self.toggle_edges, "E", True,
                                     tip="edges between lattice sites in point mode "
                                         "(off by default above 2000 sites)")
        menu.addAction(self.act_edges)
        menu.addSeparator()
        self.act_measure = self.action("Measure distance / angle / dihedral", self.toggle_measure,
                                       "M", True, "click 2, 3 or 4 atoms; a plain click "
                                       "otherwise shows the atom's element, index and charge")
        menu.addAction(self.act_measure)
        menu.addAction(self.action("Reset camera", w.viewer.reset_camera, "R"))
        menu.addAction(self.action("Screenshot…", w.exporter.export_png))
        menu.addSeparator()
        for dock in w.docks.values():
            menu.addAction(dock.toggleViewAction())

    def _run_menu(self, menu: QMenu) -> None:
        w, player = self.window, self.window.player
        menu.addAction(self.action("Forward (noising) trajectory", w.noise_and_play, "F5"))
        menu.addAction(self.action("Reverse sample", lambda: w.run_reverse(), "F6",
                                   tip="denoise from a fresh prior draw and play the run from t = 1"))
        menu.addAction(self.action("Cancel running jobs", w.cancel_jobs, "Esc"))
        menu.addSeparator()
        self.act_play = self.action("Play / pause", player.toggle, "Space")
        menu.addAction(self.act_play)
        menu.addAction(self.action("Next frame", lambda: player.step(1), "Right"))
        menu.addAction(self.action("Previous frame", lambda: player.step(-1), "Left"))
        menu.addAction(self.action("First frame", lambda: player.seek(0), "Home"))
        menu.addAction(self.action("Last frame", lambda: player.seek(player.count() - 1), "End"))
        menu.addAction(self.action("Pick atoms", lambda: w.steering.pick_btn.toggle(), "P"))

    def _toolbar(self) -> None:
        w = self.window
        bar = QToolBar("SMILES")
        bar.setObjectName("toolbar_smiles")
        w.addToolBar(bar)
        bar.addAction(self.act_open)
        bar.addWidget(QLabel(" SMILES: "))
        bar.addWidget(w.smiles_edit)
        self.act_noise = self.action("Noise ▶", w.noise_and_play,
                                     tip="run the forward (noising) path from the seed and play it")
        bar.addAction(self.act_noise)
        bar.addAction(self.action("Denoise ▶", lambda: w.run_reverse(),
                                  tip="denoise from the seed and play the run from t = 1: the diffusion, "
                                      "then the chemistry (polish, MMFF94) settling"))

    # ------------------------------------------------------------------ View: how structures are drawn
    def set_style(self, style: str) -> None:
        self.window.viewer.set_style(style)
        self.style_actions[style].setChecked(True)

    def toggle_dynamic(self, on: bool) -> None:
        self.window.viewer.set_dynamic_bonds(on)

    def toggle_edges(self, on: bool) -> None:
        self.window.viewer.set_lattice_edges(on)

    def toggle_arrows(self, on: bool) -> None:
        self.window.viewer.set_lattice_mode("arrows" if on else "points")

    def toggle_measure(self, on: bool) -> None:
        steering = self.window.steering
        if on and steering.pick_btn.isChecked():
            steering.pick_btn.setChecked(False)
        self.window.viewer.set_measure_mode(on)
        self.window.status("measure: click 2 atoms (distance), 3 (angle) or 4 (dihedral)" if on
                           else "measuring off")

    def set_pick_mode(self, on: bool) -> None:
        """Picking atoms to fix (the steering panel's button, P) ends measuring."""
        viewer = self.window.viewer
        viewer.pick_mode = bool(on)
        if on and self.act_measure.isChecked():
            self.act_measure.setChecked(False)
            viewer.set_measure_mode(False)
        self.window.status("click atoms to fix / release them" if on else "picking off")

    def show_options(self, style: str, dynamic: bool) -> None:
        """The drawing options restored from the settings, in the menu and the viewer."""
        self.style_actions[style].setChecked(True)
        self.window.viewer.style = style
        self.act_dynamic.setChecked(dynamic)
        self.window.viewer.dynamic = dynamic

    def _on_structure(self, structure) -> None:
        """Lattice options apply to lattices; edges are on by size for each new lattice."""
        viewer = self.window.viewer
        self.act_arrows.setEnabled(not structure.is_molecule)
        self.act_edges.setEnabled(not structure.is_molecule)
        viewer.set_lattice_edges(None)
        self.act_edges.blockSignals(True)
        self.act_edges.setChecked(not structure.is_molecule and viewer.edges_visible())
        self.act_edges.blockSignals(False)

    # ------------------------------------------------------------------ Edit: undo (ParamsHistory keeps it)
    def undo(self) -> None:
        text = self.window.history.undo()          # a slider gesture still open is one step too
        if text is not None:
            self.window.status(f"undone: {text}")

    def redo(self) -> None:
        text = self.window.history.redo()
        if text is not None:
            self.window.status(f"redone: {text}")

    def _update_undo_actions(self) -> None:
        try:
            self._refresh_undo_actions()
        except RuntimeError:        # the history emits while the window is being destroyed
            pass

    def _refresh_undo_actions(self) -> None:
        h = self.window.history
        self.act_undo.setEnabled(h.can_undo())
        self.act_undo.setText(f"Undo {h.undo_text()}" if h.undo_text() else "Undo")
        self.act_redo.setEnabled(h.can_redo())
        self.act_redo.setText(f"Redo {h.redo_text()}" if h.redo_text() else "Redo")

    # ------------------------------------------------------------------ File: recent files
    def update_recent_menu(self) -> None:
        settings = self.window.settings
        self.recent_menu.clear()
        files = settings.recent_files()
        for f in files:
            self.recent_menu.addAction(self.action(f, lambda _=False, p=f: self.window.open_path(p)))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction(self.action("Clear", self._clear_recent))
        self.recent_menu.setEnabled(bool(files))

    def _clear_recent(self) -> None:
        self.window.settings.clear_recent()
        self.update_recent_menu()
