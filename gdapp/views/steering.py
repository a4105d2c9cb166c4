"""Steering panel: guidance weights, step count, sampler, seed; fixed atoms; ETKDG compare.

Every change updates ``AppState.params``; the main window debounces those changes and
re-samples from the same seed (cancelling a run in flight).
"""
from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QLineEdit, QPushButton, QSlider, QSpinBox, QVBoxLayout,
                               QWidget)

from engine import api
from gdapp.state import AppState


class LogSlider(QWidget):
    """A slider over ``0`` and ``[lo, hi]`` on a log scale (position 0 means 0)."""

    valueChanged = Signal(float)

    def __init__(self, lo: float, hi: float, steps: int = 100, zero: bool = True, parent=None):
        super().__init__(parent)
        self.lo, self.hi, self.steps, self.zero = lo, hi, steps, zero
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, steps)
        self.label = QLabel()
        self.label.setMinimumWidth(48)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.slider, 1)
        row.addWidget(self.label)
        self.slider.valueChanged.connect(self._changed)
        self._changed(self.slider.value())

    def value_at(self, pos: int) -> float:
        if self.zero and pos == 0:
            return 0.0
        first = 1 if self.zero else 0
        frac = (pos - first) / max(1, self.steps - first)
        return self.lo * (self.hi / self.lo) ** frac

    def value(self) -> float:
        return self.value_at(self.slider.value())

    def set_value(self, v: float):
        if self.zero and v <= 0:
            self.slider.setValue(0)
            return
        first = 1 if self.zero else 0
        frac = math.log(max(v, self.lo) / self.lo) / math.log(self.hi / self.lo)
        self.slider.setValue(first + round(min(1.0, frac) * (self.steps - first)))

    def _changed(self, pos):
        v = self.value_at(pos)
        self.label.setText(f"{v:.3g}")
        self.valueChanged.emit(v)


class SteeringPanel(QWidget):
    sampleRequested = Signal()
    pickModeToggled = Signal(bool)
    smartsRequested = Signal(str)
    clearFixedRequested = Signal()
    compareToggled = Signal(bool)

    def __init__(self, state: AppState, parent=None):
        super().__init__(parent)
        self.state = state
        p = state.params
        self.lambda_E = LogSlider(1e-3, 10.0)
        self.lambda_G = LogSlider(1e-3, 10.0)
        self.lambda_A = LogSlider(1e-3, 10.0)
        self.scale = LogSlider(0.01, 10.0, zero=True)
        self.scale.set_value(p.guidance_scale)
        self.steps = QSlider(Qt.Horizontal)
        self.steps.setRange(2, 500)
        self.steps.setValue(p.steps)
        self.steps_label = QLabel(str(p.steps))
        self.sampler = QComboBox()
        self.sampler.addItems(api.sampler_names())
        self.sampler.setCurrentText(p.sampler)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2 ** 31 - 1)
        self.seed.setValue(p.seed)
        self.auto = QCheckBox("re-sample on change")
        self.auto.setChecked(True)
        self.sample_btn = QPushButton("Sample (F6)")

        guidance = QGroupBox("Reverse diffusion")
        form = QFormLayout(guidance)
        form.addRow("λ_E (energy)", self.lambda_E)
        form.addRow("λ_G (smoothness)", self.lambda_G)
        form.addRow("λ_A (alignment)", self.lambda_A)
        form.addRow("guidance scale", self.scale)
        steps_row = QWidget()
        h = QHBoxLayout(steps_row)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.steps, 1)
        h.addWidget(self.steps_label)
        form.addRow("steps", steps_row)
        form.addRow("sampler", self.sampler)
        form.addRow("seed", self.seed)
        form.addRow(self.auto, self.sample_btn)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        form.addRow("model", self.model_label)

        cond = QGroupBox("Conditional generation (fixed atoms)")
        v = QVBoxLayout(cond)
        self.pick_btn = QPushButton("Pick atoms in 3D view")
        self.pick_btn.setCheckable(True)
        self.pick_btn.setToolTip("Click atoms to fix / release them (P)")
        self.smarts = QLineEdit()
        self.smarts.setPlaceholderText("SMARTS, e.g. c1ccccc1")
        self.smarts_btn = QPushButton("Fix matches")
        self.clear_btn = QPushButton("Clear")
        self.fixed_label = QLabel("no atoms fixed")
        row = QHBoxLayout()
        row.addWidget(self.smarts, 1)
        row.addWidget(self.smarts_btn)
        v.addWidget(self.pick_btn)
        v.addLayout(row)
        row2 = QHBoxLayout()
        row2.addWidget(self.fixed_label, 1)
        row2.addWidget(self.clear_btn)
        v.addLayout(row2)

        cmp_box = QGroupBox("Compare with RDKit ETKDG")
        v2 = QVBoxLayout(cmp_box)
        self.compare = QCheckBox("overlay ETKDG conformer (cyan ghost)")
        self.rmsd_label = QLabel("—")
        self.rmsd_label.setWordWrap(True)
        v2.addWidget(self.compare)
        v2.addWidget(self.rmsd_label)

        layout = QVBoxLayout(self)
        layout.addWidget(guidance)
        layout.addWidget(cond)
        layout.addWidget(cmp_box)
        layout.addStretch(1)

        self.lambda_E.valueChanged.connect(lambda v: state.set_params(lambda_E=v))
        self.lambda_G.valueChanged.connect(lambda v: state.set_params(lambda_G=v))
        self.lambda_A.valueChanged.connect(lambda v: state.set_params(lambda_A=v))
        self.scale.valueChanged.connect(lambda v: state.set_params(guidance_scale=v))
        self.steps.valueChanged.connect(self._on_steps)
        self.sampler.currentTextChanged.connect(lambda s: state.set_params(sampler=s))
        self.seed.valueChanged.connect(lambda s: state.set_params(seed=int(s)))
        self.sample_btn.clicked.connect(self.sampleRequested)
        self.pick_btn.toggled.connect(self.pickModeToggled)
        self.smarts_btn.clicked.connect(lambda: self.smartsRequested.emit(self.smarts.text()))
        self.smarts.returnPressed.connect(lambda: self.smartsRequested.emit(self.smarts.text()))
        self.clear_btn.clicked.connect(self.clearFixedRequested)
        self.compare.toggled.connect(self.compareToggled)
        state.fixedChanged.connect(self._on_fixed)
        state.paramsChanged.connect(self._sync)
        state.modelChanged.connect(lambda m: self.model_label.setText(m.name))
        # the model in use depends on the structure (kind, lattice system)
        state.structureChanged.connect(lambda _s: self.model_label.setText(state.model.name))
        self.model_label.setText(state.model.name)

    def _sync(self, p):
        """Show parameters changed elsewhere (menus, scripts) without re-emitting."""
        for widget, value in ((self.steps, p.steps), (self.seed, p.seed)):
            if widget.value() != value:
                widget.blockSignals(True)
                widget.setValue(value)
                widget.blockSignals(False)
        self.steps_label.setText(str(p.steps))
        if self.sampler.currentText() != p.sampler:
            self.sampler.blockSignals(True)
            self.sampler.setCurrentText(p.sampler)
            self.sampler.blockSignals(False)

    def _on_steps(self, value):
        self.steps_label.setText(str(value))
        self.state.set_params(steps=int(value))

    def _on_fixed(self, fixed):
        self.fixed_label.setText(f"{len(fixed)} atoms fixed" if fixed else "no atoms fixed")

    def set_rmsd_text(self, text: str):
        self.rmsd_label.setText(text)
