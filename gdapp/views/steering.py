"""Steering panel: guidance weights, step count, sampler, seed; fixed atoms; ETKDG compare.

Every change updates ``AppState.params``; the main window debounces those changes and
re-samples from the same seed (cancelling a run in flight).
"""
from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine import api
from gdapp.state import AppState

# lattices: the seed's regularisers on Ŝ₀ (docs/math.md §4)
TIP_LAMBDA_E = ("λ_E — energy guidance: E = ½‖M^½(Ŝ₀ − S*)‖², a mass-weighted pull of the "
                "denoised estimate Ŝ₀ towards the input structure S* at every step "
                "(0 = off; larger = stronger pull)")
TIP_LAMBDA_G = ("λ_G — smoothness guidance: G = ‖L Ŝ₀‖², damps Ŝ₀'s rough Laplacian modes "
                "so bonded neighbours move together (0 = off)")
TIP_LAMBDA_A = ("λ_A — alignment guidance: Σ (1 − cos) between each bond vector of Ŝ₀ and "
                "the same bond in the input, keeps bond directions (0 = off)")
# molecules: what each weight does to the conformer (docs/app.md, "Sliders")
TIP_MOL_LAMBDA_E = ("λ_E — chemical energy: how long the network's estimate Ŝ₀ descends the "
                    "molecule's chemical energy (bond lengths and angles within RDKit's bounds, "
                    "flat rings, stereo) at every step with t ≤ 0.5. Larger: the last diffusion "
                    "frame is nearer a valid structure (its chemical energy falls as λ_E grows). "
                    "λ_E × scale is `sample --guidance`")
TIP_MOL_LAMBDA_G = ("λ_G — smoothness of Ŝ₀ on the graph of atoms up to three bonds apart, at "
                    "t ≤ 0.5: straighter chains, so more extended conformers (the radius of "
                    "gyration grows with λ_G on average; polish and MMFF94 then pick a torsion "
                    "basin, so for one seed the result changes in jumps). λ_G × scale is "
                    "`sample --smoothness`")
TIP_MOL_LAMBDA_A = ("λ_A — alignment with the input's pose: turns Ŝ₀'s bonds towards the "
                    "input's bond directions (the input rotated onto Ŝ₀ first) at every step. "
                    "Larger: the conformer comes nearer the input pose (conformers near this "
                    "pose); the heavy-atom RMSD to the input falls as λ_A grows. λ_A × scale "
                    "is `sample --alignment`")
TIP_SCALE = ("guidance scale — multiplies all three λ at once (0 switches guidance off)")
TIP_STEPS = "number of reverse-diffusion steps (more: slower, usually more accurate)"
SAMPLER_TIPS = {
    "ddim": "ddim — deterministic probability-flow ODE, Euler steps (DDIM); same seed, same result",
    "ancestral": "ancestral — stochastic: draws from the exact Gaussian posterior "
                 "q(S_s | S_t, Ŝ₀) at every step (the default)",
    "pc": "pc — predictor-corrector: ancestral predictor plus a Langevin corrector per step "
          "(slower, stochastic)",
    "heun": "heun — deterministic probability-flow ODE, Heun's second-order steps "
            "(two network calls per step)",
    "adaptive": "adaptive — probability-flow ODE with error-controlled step size (Heun with "
                "an embedded Euler estimate); ignores the steps setting",
}


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

    def show_value(self, v: float):
        """Move to ``v`` without emitting (undo, parameters set elsewhere)."""
        self.slider.blockSignals(True)
        self.set_value(v)
        self.slider.blockSignals(False)
        self.label.setText(f"{v:.3g}")     # the value in use, not the nearest slider step


class SteeringPanel(QWidget):
    sampleRequested = Signal()
    pickModeToggled = Signal(bool)
    smartsRequested = Signal(str)
    clearFixedRequested = Signal()
    compareToggled = Signal(bool)

    def __init__(self, state: AppState, parent=None):
        super().__init__(parent)
        self.state = state
        layout = QVBoxLayout(self)
        layout.addWidget(self._build_sampling(state.params))
        layout.addWidget(self._build_fixed_atoms())
        layout.addWidget(self._build_compare())
        layout.addStretch(1)
        self._connect(state)
        self.model_label.setText(state.model.name)
        self._sync(state.params)   # the sliders start at the parameters' values (λ_E may be on)

    def _build_sampling(self, p) -> QGroupBox:
        """The guidance weights, steps, sampler, seed, re-sample on change and the model."""
        self.lambda_E = LogSlider(1e-3, 10.0)
        self.lambda_G = LogSlider(1e-3, 10.0)
        self.lambda_A = LogSlider(1e-3, 10.0)
        self.scale = LogSlider(0.01, 10.0, zero=True)
        self.scale.set_value(p.scale)
        self.steps = QSlider(Qt.Horizontal)
        self.steps.setRange(2, 500)
        self.steps.setValue(p.steps)
        # the slider is coarse (a pixel is ~2 steps, the wheel moves 3): the spin box
        # reaches every value, typed or with the arrow keys
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(2, 500)
        self.steps_spin.setValue(p.steps)
        self.steps_spin.setKeyboardTracking(False)     # typing "50" is one change, not two
        self.steps_label = self.steps_spin              # (older name)
        self.sampler = QComboBox()
        self.sampler.addItems(api.sampler_names())
        for i, name in enumerate(api.sampler_names()):
            self.sampler.setItemData(i, SAMPLER_TIPS.get(name, name), Qt.ToolTipRole)
        self.sampler.setCurrentText(p.sampler)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2 ** 31 - 1)
        self.seed.setValue(p.seed)
        self.auto = QCheckBox("re-sample on change")
        self.auto.setChecked(True)
        self.sample_btn = QPushButton("Sample (F6)")

        guidance = QGroupBox("Reverse diffusion")
        form = QFormLayout(guidance)
        self._form = form
        form.addRow("λ_E (chemistry)", self.lambda_E)
        form.addRow("λ_G (straighten)", self.lambda_G)
        form.addRow("λ_A (input pose)", self.lambda_A)
        form.addRow("guidance scale", self.scale)
        for widget, tip in ((self.lambda_E, TIP_MOL_LAMBDA_E), (self.lambda_G, TIP_MOL_LAMBDA_G),
                            (self.lambda_A, TIP_MOL_LAMBDA_A), (self.scale, TIP_SCALE)):
            widget.setToolTip(tip)
            form.labelForField(widget).setToolTip(tip)
        self.steps.setToolTip(TIP_STEPS)
        self.steps_spin.setToolTip(TIP_STEPS)
        self.sampler.setToolTip("How the reverse SDE/ODE is integrated; hover an entry "
                                "for what it does")
        self.seed.setToolTip("Random seed of the prior draw and of the noise along the way; "
                             "the same seed and settings give the same conformer")
        steps_row = QWidget()
        h = QHBoxLayout(steps_row)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.steps, 1)
        h.addWidget(self.steps_spin)
        form.addRow("steps", steps_row)
        form.addRow("sampler", self.sampler)
        form.addRow("seed", self.seed)
        form.addRow(self.auto, self.sample_btn)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        form.addRow("model", self.model_label)
        return guidance

    def _build_fixed_atoms(self) -> QGroupBox:
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
        return cond

    def _build_compare(self) -> QGroupBox:
        cmp_box = QGroupBox("Compare with RDKit ETKDG")
        v2 = QVBoxLayout(cmp_box)
        self.compare = QCheckBox("overlay ETKDG conformer (cyan ghost)")
        self.rmsd_label = QLabel("—")
        self.rmsd_label.setWordWrap(True)
        v2.addWidget(self.compare)
        v2.addWidget(self.rmsd_label)
        return cmp_box

    def _connect(self, state: AppState):
        self.lambda_E.valueChanged.connect(lambda v: state.set_params(lambda_E=v))
        self.lambda_G.valueChanged.connect(lambda v: state.set_params(lambda_G=v))
        self.lambda_A.valueChanged.connect(lambda v: state.set_params(lambda_A=v))
        self.scale.valueChanged.connect(lambda v: state.set_params(scale=v))
        self.steps.valueChanged.connect(self._on_steps)
        self.steps_spin.valueChanged.connect(self._on_steps)
        self.sampler.currentTextChanged.connect(self._on_sampler)
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

    def _sync(self, p):
        """Show parameters changed elsewhere (menus, undo, scripts) without re-emitting."""
        for widget, value in ((self.steps, p.steps), (self.steps_spin, p.steps),
                              (self.seed, p.seed)):
            if widget.value() != value:
                widget.blockSignals(True)
                widget.setValue(value)
                widget.blockSignals(False)
        for widget, value in ((self.lambda_E, p.lambda_E), (self.lambda_G, p.lambda_G),
                              (self.lambda_A, p.lambda_A), (self.scale, p.scale)):
            if abs(widget.value() - value) > 1e-12 * max(1.0, abs(value)):
                widget.show_value(value)
        if self.sampler.currentText() != p.sampler:
            self.sampler.blockSignals(True)
            self.sampler.setCurrentText(p.sampler)
            self.sampler.blockSignals(False)
            self._on_sampler(p.sampler)

    def _on_steps(self, value):
        for widget in (self.steps, self.steps_spin):
            if widget.value() != value:
                widget.blockSignals(True)
                widget.setValue(int(value))
                widget.blockSignals(False)
        self.state.set_params(steps=int(value))

    def _on_sampler(self, name):
        adaptive = name == "adaptive"
        for widget in (self.steps, self.steps_spin):
            widget.setEnabled(not adaptive)
            widget.setToolTip("the adaptive solver chooses its own steps (error control); "
                              "this setting is not used" if adaptive else TIP_STEPS)

    def _on_fixed(self, fixed):
        n = len(fixed)
        self.fixed_label.setText(f"{n} {'atom' if n == 1 else 'atoms'} fixed" if n
                                 else "no atoms fixed")

    def set_lattice(self, lattice: bool):
        """Fixing atoms by SMARTS and the ETKDG overlay exist only for molecules; the
        guidance weights mean other things for molecules and lattices (the tooltips say)."""
        tips = ((TIP_LAMBDA_E, TIP_LAMBDA_G, TIP_LAMBDA_A) if lattice
                else (TIP_MOL_LAMBDA_E, TIP_MOL_LAMBDA_G, TIP_MOL_LAMBDA_A))
        labels = (("λ_E (energy)", "λ_G (smoothness)", "λ_A (alignment)") if lattice
                  else ("λ_E (chemistry)", "λ_G (straighten)", "λ_A (input pose)"))
        for widget, tip, text in zip((self.lambda_E, self.lambda_G, self.lambda_A), tips, labels):
            widget.setToolTip(tip)
            label = self._form.labelForField(widget)
            label.setToolTip(tip)
            label.setText(text)
        why = "lattices have no atoms or chemistry: SMARTS and ETKDG apply to molecules only"
        for widget, tip in ((self.smarts, "SMARTS pattern; press Enter or Fix matches"),
                            (self.smarts_btn, "fix the atoms the SMARTS pattern matches"),
                            (self.compare, "overlay an RDKit ETKDGv3 + MMFF conformer and "
                                           "report heavy-atom RMSDs")):
            widget.setEnabled(not lattice)
            widget.setToolTip(why if lattice else tip)
        self.pick_btn.setEnabled(not lattice)
        self.pick_btn.setToolTip("lattice sites cannot be fixed (molecules only)" if lattice
                                 else "Click atoms to fix / release them (P)")

    def set_rmsd_text(self, text: str):
        self.rmsd_label.setText(text)
