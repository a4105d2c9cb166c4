"""Help ▸ Keyboard shortcuts and About: what the window's menus offer, and what is running.

The shortcuts table is read from the menus themselves, so it lists what the keys do now;
About names the version, the engine's device, the model in use and, for a molecule with a
network, the ``python -m engine sample`` command that writes the conformer Denoise shows.
"""
from __future__ import annotations

import html

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QMenu, QMessageBox, QVBoxLayout

from engine import api


class Help(QObject):
    """The Help menu's dialogs for ``window`` (its menu bar and its state); non-blocking,
    one of each at a time."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.shortcuts_dialog: QDialog | None = None
        self.about_box: QMessageBox | None = None

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """(key, what it does) for every menu action with a shortcut, in menu order."""
        rows, seen = [], set()
        for menu in self.window.menuBar().findChildren(QMenu):
            for act in menu.actions():
                key = act.shortcut().toString(QKeySequence.NativeText)
                text = act.text().replace("&", "")
                if key and (key, text) not in seen:
                    seen.add((key, text))
                    rows.append((key, text))
        return rows

    def show_shortcuts(self) -> QDialog:
        """A left-aligned two-column table of every menu shortcut (non-blocking)."""
        if self.shortcuts_dialog is not None:
            self.shortcuts_dialog.close()
        dialog = QDialog(self.window)
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
        self.shortcuts_dialog = dialog
        return dialog

    def about_text(self) -> str:
        import PySide6

        from gdapp import __version__

        state = self.window.state
        return (f"gdapp {__version__}\n"
                "graph-structured diffusion of molecules and lattices.\n\n"
                f"Engine device: {api.device_info()}\nModel: {state.model.name}\n"
                f"PySide6 {PySide6.__version__}" + self.denoise_command_text())

    def denoise_command_text(self) -> str:
        """For a molecule with a network: the ``sample`` command that writes the conformer
        Denoise shows (the same pipeline and settings; no fixed atoms)."""
        state = self.window.state
        structure, p = state.structure, state.params
        if structure is None or not structure.is_molecule or not state.model.is_network:
            return ""
        try:
            settings = api.run_settings(p.steps, p.sampler, p.seed, p.guidance())
        except api.InputError:
            return ""
        return ("\n\nDenoise writes what this command writes (one conformer, no fixed atoms):\n"
                + settings.command(f"{structure.name}.sdf", "out.sdf", 1))

    def show_about(self) -> QMessageBox:
        box = QMessageBox(QMessageBox.Information, "About gdapp", self.about_text(),
                          QMessageBox.Ok, self.window)
        box.open()
        self.about_box = box
        return box
