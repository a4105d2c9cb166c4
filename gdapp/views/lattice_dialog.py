"""Lattice builder dialog: grid shape (1D/2D/3D), physical system, seed.

The systems come from ``engine.api.lattice_systems()`` (elastic thermal fields, deformation
modes, spin textures, skyrmions, random vectors). The dialog says what the chosen system
is, refuses shapes the system cannot fill (OK disabled, reason shown) and names the model
sampling will use for it (a trained lattice network or the harmonic prior).
"""
from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox

from engine import api

DEFAULT_SHAPE = (16, 16, 16)
DEFAULT_SYSTEM = "spin"


class LatticeDialog(QDialog):
    def __init__(self, parent=None, models=None):
        """``models``: the app's active networks (``{kind: ModelHandle}``), to say which
        one will sample the lattice."""
        super().__init__(parent)
        self.setWindowTitle("Build lattice")
        self.setMinimumWidth(460)
        self.models = models or {}
        self.dims = QComboBox()
        self.dims.addItems(["1D", "2D", "3D"])
        self.dims.setCurrentIndex(1)
        self.sizes = []
        form = QFormLayout(self)
        form.addRow("dimensions", self.dims)
        for axis, default in zip("xyz", DEFAULT_SHAPE):
            box = QSpinBox()
            box.setRange(1, 1000)
            box.setValue(default)
            self.sizes.append(box)
            form.addRow(f"n{axis}", box)
        self.system_box = QComboBox()
        for name in api.lattice_systems():
            info = api.lattice_system_info(name)
            self.system_box.addItem(f"{name} — {info.title}", name)
            self.system_box.setItemData(self.system_box.count() - 1, info.description,
                                        Qt.ToolTipRole)
        self.system_box.setCurrentIndex(max(0, api.lattice_systems().index(DEFAULT_SYSTEM)))
        form.addRow("system", self.system_box)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: #555")
        form.addRow(self.description)
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, 2 ** 31 - 1)
        form.addRow("seed", self.seed_box)
        self.count = QLabel()
        form.addRow("sites", self.count)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        form.addRow("model", self.model_label)
        self.problem = QLabel()
        self.problem.setStyleSheet("color: #c0392b")
        self.problem.setWordWrap(True)
        form.addRow(self.problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.dims.currentIndexChanged.connect(self._update)
        self.system_box.currentIndexChanged.connect(self._update)
        for box in self.sizes:
            box.valueChanged.connect(self._update)
        self._update()

    def shape(self) -> tuple:
        d = self.dims.currentIndex() + 1
        return tuple(box.value() for box in self.sizes[:d])

    def system(self) -> str:
        return self.system_box.currentData()

    def seed(self) -> int:
        return self.seed_box.value()

    def set_system(self, name: str):
        self.system_box.setCurrentIndex(api.lattice_systems().index(name))

    def set_shape(self, shape):
        self.dims.setCurrentIndex(len(shape) - 1)
        for box, s in zip(self.sizes, shape):
            box.setValue(int(s))

    def problem_text(self) -> str:
        """Why the current choice cannot be built ("" when it can)."""
        info = api.lattice_system_info(self.system())
        shape = self.shape()
        if len(shape) not in info.dims:
            return f"{info.name} needs a {' or '.join(f'{d}D' for d in info.dims)} grid"
        if min(shape) < info.min_side:
            return f"{info.name} needs at least {info.min_side} sites along every axis"
        n = 1
        for s in shape:
            n *= s
        if n > api.LATTICE_MAX_SITES:
            return f"at most {api.LATTICE_MAX_SITES} sites"
        return ""

    def model_text(self) -> str:
        """The model that will sample the lattice (trained network or harmonic prior)."""
        # model_for only looks at kind, system and grid shape: no need to build the field
        proxy = SimpleNamespace(kind="lattice", system=self.system(), grid_shape=self.shape())
        return api.model_for(proxy, self.models).name

    def _update(self):
        d = self.dims.currentIndex() + 1
        for i, box in enumerate(self.sizes):
            box.setEnabled(i < d)
        n = 1
        for s in self.shape():
            n *= s
        self.count.setText(f"{n}")
        self.description.setText(api.lattice_system_info(self.system()).description)
        self.model_label.setText(self.model_text())
        problem = self.problem_text()
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(not problem)
        self.adjustSize()
