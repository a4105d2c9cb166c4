"""Lattice builder dialog: grid shape (1D/2D/3D) and system type."""
from __future__ import annotations

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel,
                               QSpinBox)

from engine import api


class LatticeDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Build lattice")
        self.dims = QComboBox()
        self.dims.addItems(["1D", "2D", "3D"])
        self.dims.setCurrentIndex(1)
        self.sizes = []
        form = QFormLayout(self)
        form.addRow("dimensions", self.dims)
        for axis in "xyz":
            box = QSpinBox()
            box.setRange(1, 1000)
            box.setValue(24)
            self.sizes.append(box)
            form.addRow(f"n{axis}", box)
        self.system_box = QComboBox()
        self.system_box.addItems(api.lattice_systems())
        form.addRow("system", self.system_box)
        self.count = QLabel()
        form.addRow("sites", self.count)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.dims.currentIndexChanged.connect(self._update)
        for box in self.sizes:
            box.valueChanged.connect(self._update)
        self._update()

    def shape(self) -> tuple:
        d = self.dims.currentIndex() + 1
        return tuple(box.value() for box in self.sizes[:d])

    def system(self) -> str:
        return self.system_box.currentText()

    def _update(self):
        d = self.dims.currentIndex() + 1
        for i, box in enumerate(self.sizes):
            box.setEnabled(i < d)
        n = 1
        for s in self.shape():
            n *= s
        self.count.setText(f"{n}")
