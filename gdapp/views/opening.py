"""Opening structures: File ▸ Open, the demo, recent files, drag and drop, the SMILES box,
the record picker of a multi-record file and the lattice builder.

The loading itself runs in a job of the :class:`gdapp.controllers.StructureController`;
:class:`Opener` asks it, and when it has loaded shows the first structure (the others
through File ▸ Choose record…), remembers the file and says what opened. A file or SMILES
that does not open leaves the structure shown as it is.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QLineEdit

from engine import api
from gdapp import chem
from gdapp.views.lattice_dialog import LatticeDialog

SMILES_FAILED_STYLE = "QLineEdit { border: 2px solid #d23232; background: #fde8e8; color: #801010; }"


class SmilesBox(QLineEdit):
    """The toolbar's SMILES box: Enter opens what it holds; it shows the SMILES of the
    structure opened, or a SMILES that did not open, marked."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setPlaceholderText("type a SMILES and press Enter, e.g. CC(=O)Oc1ccccc1C(=O)O")
        self.setMinimumWidth(320)
        self.textEdited.connect(self.clear_mark)

    def show_structure(self, structure: api.Structure) -> None:
        """The structure opened: its SMILES, unmarked."""
        self.setText(chem.smiles(structure))
        self.clear_mark()

    def mark_failed(self, message: str, shown: str) -> None:
        """A SMILES that did not open stays in the box, so the typo can be fixed, but marked:
        red, with the reason and what the view still shows (``shown``) in its tooltip.
        Editing the text or opening a structure clears the mark."""
        self.setProperty("failed", True)
        self.setStyleSheet(SMILES_FAILED_STYLE)
        self.setToolTip(f"not opened: {message}\nthe view still shows {shown}")

    def clear_mark(self, *_) -> None:
        if self.property("failed"):
            self.setProperty("failed", False)
            self.setStyleSheet("")
            self.setToolTip("")


class Opener(QObject):
    """What ``window`` opens, and what it says about it."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.structures = window.structures          # the StructureController
        self.record_dialog: QInputDialog | None = None
        self.smiles_edit = SmilesBox()
        self.smiles_edit.returnPressed.connect(self._smiles_entered)
        window.state.structureChanged.connect(self.smiles_edit.show_structure)
        self.structures.loaded.connect(self._loaded)
        self.structures.failed.connect(self._load_failed)

    @property
    def records(self) -> list:
        """Every structure of the file opened last (StructureController.records)."""
        return self.structures.records

    # ------------------------------------------------------------------ asking
    def open_dialog(self) -> None:
        patterns = " ".join(f"*{s}" for s in api.readable_suffixes())
        path, _ = QFileDialog.getOpenFileName(self.window, "Open structure", self.window.settings.last_folder,
                                              f"Structures ({patterns});;All files (*)")
        if path:
            self.open_path(path)

    def open_demo(self) -> None:
        self.open_path(str(api.demo_molecule_path()), remember=False)

    def open_path(self, path, remember: bool = True):
        """Load a file in a worker; on failure the current structure stays."""
        path = str(path)
        self.window.status(f"loading {path} …", 0)
        return self.structures.open_path(path, remember)

    def _smiles_entered(self) -> None:
        """Enter in the SMILES box: open it, and hand the keys back to the view (Space,
        Home, R … drive the player and the view again, not the text)."""
        self.structures.open_smiles(self.smiles_edit.text())
        self.window.viewer.setFocus(Qt.OtherFocusReason)

    def lattice_dialog(self) -> LatticeDialog:
        dialog = LatticeDialog(self.window, models=self.window.state.models)
        dialog.setModal(True)
        dialog.accepted.connect(lambda: self.structures.build_lattice(dialog.shape(), dialog.system(),
                                                                      dialog.seed()))
        dialog.open()
        return dialog

    def open_dropped(self, event) -> None:
        """Drag and drop: the first local file dropped."""
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_path(url.toLocalFile())
                event.acceptProposedAction()
                return

    # ------------------------------------------------------------------ loaded (StructureController)
    def _loaded(self, structures, path, remember) -> None:
        """Remember the file, show its first record, offer the others."""
        w = self.window
        structure = structures[0]
        if path and remember:
            w.settings.last_folder = str(Path(path).parent)
            w.settings.add_recent(str(Path(path).resolve()))
            w.menus.update_recent_menu()
        w.menus.act_records.setEnabled(len(self.records) > 1)
        extra = (f" (record 1 of {len(structures)}: File ▸ Choose record… or Ctrl+Shift+O "
                 "for another)") if len(structures) > 1 else ""
        w.set_structure(structure)
        w.status(f"opened {w.short_name(structure.name)}: {structure.n} "
                 f"{'atoms' if structure.is_molecule else 'sites'}{extra}"
                 + (f"; {structure.note}" if getattr(structure, "note", "") else ""), 10000)
        w.structureLoaded.emit(structure)
        if len(structures) > 1:
            self.choose_record()

    def choose_record(self) -> QInputDialog | None:
        """A picker over the records of the multi-record file opened last (non-blocking)."""
        records = self.records
        if len(records) < 2:
            return None
        if self.record_dialog is not None:
            self.record_dialog.close()
        dialog = QInputDialog(self.window)
        dialog.setWindowTitle("Choose a record")
        dialog.setLabelText(f"The file holds {len(records)} molecules; show which one?")
        dialog.setComboBoxItems([f"{i + 1}: {s.name} ({s.n} atoms)" for i, s in enumerate(records)])
        current = next((i for i, s in enumerate(records) if s is self.window.state.structure), 0)
        dialog.setTextValue(dialog.comboBoxItems()[current])
        dialog.textValueSelected.connect(
            lambda text: self.show_record(dialog.comboBoxItems().index(text)))
        dialog.open()
        self.record_dialog = dialog
        return dialog

    def show_record(self, index: int) -> None:
        """Show record ``index`` (0-based) of the file opened last."""
        records = self.records
        if not 0 <= index < len(records):
            return
        structure = records[index]
        if structure is not self.window.state.structure:
            self.window.set_structure(structure)
            self.window.status(f"record {index + 1} of {len(records)}: "
                               f"{self.window.short_name(structure.name)}")

    def _load_failed(self, what: str, msg: str, tb: str) -> None:
        w = self.window
        w.loadFailed.emit(msg)
        w.show_error("Could not open", f"{what}: {msg}" if what not in msg else msg, tb)
        if what.startswith("SMILES"):
            structure = w.state.structure
            shown = w.short_name(structure.name) if structure is not None else "nothing"
            self.smiles_edit.mark_failed(msg, shown)
            w.status(f"SMILES not opened, the view still shows {shown}: {msg}", 15000)
