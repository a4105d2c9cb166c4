"""Training panel: config and data, start / pause / resume / stop, progress with ETA,
live loss curves, and switching the active model to the newest checkpoint.

The jobs are the :class:`gdapp.controllers.TrainingController`'s (``engine.api.train``,
``build_training_corpus`` and ``training_plan`` on worker threads); the panel reads its
inputs, asks the controller to start, pause, resume or stop, and shows what the controller
reports. *Pause* stops the run after writing a checkpoint; *Resume* continues from it;
*Stop* ends the run.

Before Start the panel says what Start will do (the controller's plan, worked out when the
panel is shown or the config changes): when the config's corpus is not built it names the
corpus, its size and the build time measured on this machine, and offers *Build corpus
now* and a config that trains in seconds. The corpus build streams its phase, molecules
done, rate and ETA; Stop ends it within a fraction of a second, worker processes included,
and keeps the finished shards, from which the next Start resumes.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine import api
from gdapp.controllers import TrainingController


def _fmt_seconds(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _fmt_duration(s: float) -> str:
    """Plain words for an estimate: "about 40 s", "about 22 min", "about 1.5 h"."""
    if s < 90:
        return f"about {max(1, int(round(s)))} s"
    if s < 90 * 60:
        return f"about {int(round(s / 60))} min"
    return f"about {s / 3600:.1f} h"


# what the fast config does, in the words of its description (resources/configs/small_test.yaml)
FAST_STEPS_TEXT = ("150 training steps of a small network take seconds; the first time, its "
                   "300-molecule corpus (data_small.yaml) is built before, which takes under a "
                   "minute on two idle cores (the panel says how long here)")

TRAIN_COLOUR = "#5ac8ff"      # the loss curves and their key above the plot
VAL_COLOUR = "#ffa03c"

PHASES = {"filter": "checking SMILES", "conformers": "conformers (ETKDG + MMFF)",
          "split": "reading shards, scaffold split"}


def plan_text(plan: api.TrainingPlan) -> str:
    """What Start will do, in the panel's words."""
    info = plan.config
    steps = f"train {info.total_steps:,} steps"
    if plan.corpus_dir is None:
        return f"Start will generate the {info.kind} data and {steps}."
    if not plan.needs_build:
        # the folder's last two parts: the whole path has no space to wrap at and was cut
        # off in the narrow panel (the whole path is the label's tooltip)
        short = Path(*Path(plan.corpus_dir).parts[-2:])
        return f"Start will {steps} on the corpus …/{short} (built)."
    name = plan.corpus_config.name if plan.corpus_config else str(plan.corpus_dir)
    kept = (f"{plan.shards_done} of {plan.shards_total} shards ({plan.molecules_done:,} "
            f"molecules) kept from an earlier build, resumed from there"
            if plan.shards_done else f"not built yet ({plan.shards_total} shards)")
    when = ""
    if plan.build_seconds is not None:
        procs = f"{plan.workers} worker process{'es' if plan.workers != 1 else ''}"
        when = (f" Building it takes {_fmt_duration(plan.build_seconds)} on this machine now "
                f"({procs}; {plan.sampled} of its molecules built as a sample, "
                f"{plan.seconds_per_molecule:.2f} s each")
        idle = plan.idle_build_seconds
        if idle is not None and plan.build_seconds > 1.5 * idle:
            when += (f"; other jobs share the cores: {_fmt_duration(idle)} when they are "
                     f"idle")
        when += ")."
    return (f"Start will first build the corpus {name}: {plan.molecules:,} molecules, "
            f"{kept}.{when} Then it will {steps}. The build shows its progress here; "
            f"Stop ends it and keeps the finished shards.")



class TrainingPanel(QWidget):
    """The Training dock: what to train, what Start will do, the run's progress and loss
    curves. The jobs are ``controller``'s (:class:`gdapp.controllers.TrainingController`)."""

    def __init__(self, controller: TrainingController, parent=None):
        super().__init__(parent)
        self.controller = controller
        self._plan_stale = True
        self._phase_shown = ""              # the run's phase the buttons were last set for
        layout = QVBoxLayout(self)
        layout.addLayout(self._build_inputs())
        layout.addWidget(self._build_plan_box())
        layout.addLayout(self._build_run_buttons())
        self.progress = QProgressBar()
        self.eta = QLabel("idle")
        self.eta.setWordWrap(True)
        layout.addWidget(self.progress)
        layout.addWidget(self.eta)
        layout.addWidget(self._build_loss_plot(), 1)
        self.ckpt_label = QLabel("no checkpoint yet")
        self.ckpt_label.setWordWrap(True)
        self.use_btn = QPushButton("Use newest checkpoint as active model")
        layout.addWidget(self.ckpt_label)
        layout.addWidget(self.use_btn)
        self.plan_timer = QTimer(self)
        self.plan_timer.setSingleShot(True)
        self.plan_timer.setInterval(300)
        self.plan_timer.timeout.connect(self.refresh_plan)
        self._connect()
        self._describe_config()
        self._update_buttons()

    # building -------------------------------------------------------------------------------
    def _build_inputs(self) -> QFormLayout:
        """Config (the shipped ones listed by name, any YAML by path), data and output folder."""
        self.config_box = QComboBox()
        self.config_box.setEditable(True)
        self.config_box.setInsertPolicy(QComboBox.NoInsert)
        self.config_infos = {}
        default_index = 0
        for cfg in api.training_configs():
            try:
                info = api.training_config_info(cfg)
            except Exception:  # noqa: BLE001 -- a broken shipped file is listed, not described
                info = None
            self.config_infos[cfg.stem] = info
            self.config_box.addItem(cfg.stem, str(cfg))
            self.config_box.setItemData(self.config_box.count() - 1,
                                        info.description if info else str(cfg), Qt.ToolTipRole)
            if cfg.name == api.DEFAULT_TRAINING_CONFIG:
                default_index = self.config_box.count() - 1
        self.config_box.setCurrentIndex(default_index)
        self.config_desc = QLabel()
        self.config_desc.setWordWrap(True)
        self.config_desc.setStyleSheet("color: palette(mid);")
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("data (default: the config's)")
        self.out_edit = QLineEdit(str(Path(tempfile.gettempdir()) / "gdapp-training"))
        form = QFormLayout()
        for label, edit, choose in (("config", self.config_box, self._choose_config),
                                    ("data", self.data_edit, self._choose_data),
                                    ("output", self.out_edit, self._choose_out)):
            btn = QPushButton("…")
            btn.clicked.connect(choose)
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            row.addWidget(btn)
            form.addRow(label, row)
            if label == "config":
                form.addRow("", self.config_desc)
        return form

    def _build_plan_box(self) -> QFrame:
        """What Start will do, with the two ways out of a long corpus build."""
        self.plan_box = QFrame()
        self.plan_box.setFrameShape(QFrame.StyledPanel)
        self.plan_label = QLabel("checking what Start will do …")
        self.plan_label.setWordWrap(True)
        self.build_btn = QPushButton("Build corpus now")
        self.build_btn.setToolTip("build (or resume) the config's corpus without training")
        fast = Path(api.DEFAULT_TRAINING_CONFIG).stem
        self.fast_btn = QPushButton(f"Use {fast} (trains in seconds)")
        self.fast_btn.setToolTip(f"{fast}: {FAST_STEPS_TEXT}")
        plan_buttons = QHBoxLayout()
        plan_buttons.addWidget(self.build_btn)
        plan_buttons.addWidget(self.fast_btn)
        plan_buttons.addStretch(1)
        plan_layout = QVBoxLayout(self.plan_box)
        plan_layout.addWidget(self.plan_label)
        plan_layout.addLayout(plan_buttons)
        return self.plan_box

    def _build_run_buttons(self) -> QHBoxLayout:
        self.start_btn = QPushButton("Start")
        self.pause_btn = QPushButton("Pause")
        self.resume_btn = QPushButton("Resume")
        self.stop_btn = QPushButton("Stop")
        buttons = QHBoxLayout()
        for b in (self.start_btn, self.pause_btn, self.resume_btn, self.stop_btn):
            buttons.addWidget(b)
        return buttons

    def _build_loss_plot(self) -> pg.PlotWidget:
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.setLogMode(y=True)
        # the key sits above the plot, where it cannot cover a curve (a legend inside the
        # view covered the start of the loss curve, where it is highest)
        self.plot.setTitle(f"<span style='color:{TRAIN_COLOUR}'>━ train</span>&nbsp;&nbsp;&nbsp;"
                           f"<span style='color:{VAL_COLOUR}'>● validation</span>", size="9pt")
        self.train_curve = self.plot.plot(pen=pg.mkPen(TRAIN_COLOUR, width=2), name="train")
        self.val_curve = self.plot.plot(pen=pg.mkPen(VAL_COLOUR, width=2), symbol="o",
                                        symbolSize=5, symbolBrush=VAL_COLOUR, name="validation")
        return self.plot

    def _connect(self):
        c = self.controller
        self.start_btn.clicked.connect(lambda: self.start(resume=False))
        self.resume_btn.clicked.connect(lambda: self.start(resume=True))
        self.pause_btn.clicked.connect(self.pause)
        self.stop_btn.clicked.connect(self.stop)
        self.use_btn.clicked.connect(self.use_checkpoint)
        self.build_btn.clicked.connect(self.build_corpus)
        self.fast_btn.clicked.connect(self.use_fast_config)
        self.config_box.currentTextChanged.connect(self._inputs_changed)
        self.data_edit.textChanged.connect(self._inputs_changed)
        c.planProgress.connect(self._on_plan_progress)
        c.planReady.connect(self._on_plan)
        c.planFailed.connect(self._on_plan_failed)
        c.runStarted.connect(self._on_run_started)
        c.progressed.connect(self._on_progress)
        c.runEnded.connect(self._on_run_ended)

    # choosing files -----------------------------------------------------------------------
    def _choose_config(self):
        path, _ = QFileDialog.getOpenFileName(self, "Training config", str(api.resource_path("configs")),
                                              "YAML (*.yaml *.yml)")
        if path:
            self.config_box.setEditText(path)

    def _choose_data(self):
        path = QFileDialog.getExistingDirectory(self, "Data folder (conformer cache)")
        if path:
            self.data_edit.setText(path)

    def _choose_out(self):
        path = QFileDialog.getExistingDirectory(self, "Output folder")
        if path:
            self.out_edit.setText(path)

    def config_path(self) -> str:
        """The chosen config: a shipped config's path by its listed name, else the text."""
        text = self.config_box.currentText().strip()
        i = self.config_box.findText(text)
        if i >= 0 and self.config_box.itemData(i):
            return str(self.config_box.itemData(i))
        return text

    def _data(self) -> str | None:
        return self.data_edit.text().strip() or None

    def use_fast_config(self):
        """Select the config that trains in seconds (``api.DEFAULT_TRAINING_CONFIG``)."""
        i = self.config_box.findText(Path(api.DEFAULT_TRAINING_CONFIG).stem)
        if i >= 0:
            self.config_box.setCurrentIndex(i)
            self.data_edit.clear()

    # what Start will do -------------------------------------------------------------------
    def _describe_config(self):
        stem = Path(self.config_path()).stem
        info = self.config_infos.get(stem)
        if info is None and Path(self.config_path()).is_file():
            try:
                info = api.training_config_info(self.config_path())
            except Exception:  # noqa: BLE001 -- shown when Start reports it
                info = None
        self.config_desc.setText(f"{info.description} ({info.kind}, {info.total_steps:,} steps)"
                                 if info is not None and info.description else "")

    def _inputs_changed(self, *_):
        self.controller.plan = None
        self._plan_stale = True
        self._describe_config()
        self.plan_label.setText("checking what Start will do …")
        self.build_btn.setVisible(False)
        self.fast_btn.setVisible(False)
        if self.isVisible():
            self.plan_timer.start()

    def showEvent(self, event):
        super().showEvent(event)
        if self._plan_stale and not self.is_running():
            self.plan_timer.start()

    def refresh_plan(self):
        """Work out (on a worker) what Start will do with the chosen config and data."""
        if self.is_running():
            return None
        self.plan_timer.stop()                # a direct call supersedes a pending one
        self._plan_stale = False
        job = self.controller.refresh_plan(self.config_path(), self._data())
        self.plan_label.setText("checking what Start will do …")
        return job

    def _on_plan_progress(self, info: dict):
        if info.get("phase") == "filter" and info.get("total"):
            self.plan_label.setText(f"checking what Start will do: filtering the corpus "
                                    f"sources, {info['done']:,} / {info['total']:,} SMILES …")

    def _on_plan(self, plan):
        self.plan_label.setText(plan_text(plan))
        self.plan_label.setToolTip(f"corpus folder: {plan.corpus_dir}" if plan.corpus_dir else "")
        self._update_buttons(ended=not self.is_running())

    def _on_plan_failed(self, msg: str):
        self.plan_label.setText(f"cannot use this config: {msg}")
        self._update_buttons(ended=not self.is_running())

    # running ---------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.controller.is_running()

    def start(self, resume: bool = False, overrides: dict | None = None):
        """Train the chosen config into the output folder (Start, Resume)."""
        if self.is_running():
            return None
        job = self.controller.start(self.config_path(), self.out_edit.text().strip(), self._data(),
                                    resume=resume, overrides=overrides)
        plan = self.controller.plan
        self.eta.setText("starting …" if not (plan and plan.needs_build)
                         else "starting: the corpus build comes first …")
        return job

    def build_corpus(self):
        """Build (or resume) the chosen config's corpus without training."""
        job = self.controller.build_corpus(self.config_path())
        if job is not None:
            self.eta.setText("starting the corpus build …")
        return job

    def pause(self):
        if self.controller.pause():
            self.eta.setText("pausing (writing checkpoint) …")
            self._update_buttons()

    def stop(self):
        if self.controller.stop():
            self.eta.setText("stopping …")
            self._update_buttons()

    def shutdown(self, timeout_s: float = 15.0) -> bool:
        """Stop a running training or corpus build and wait for its worker (window closing)."""
        self.plan_timer.stop()
        return self.controller.shutdown(timeout_s)

    def use_checkpoint(self, path: str | None = None):
        return self.controller.use_checkpoint(path)

    # what the run reports ------------------------------------------------------------------
    def _on_run_started(self, name: str):
        self.plan_timer.stop()
        self.progress.setRange(0, 0)          # busy until the first count arrives
        self._redraw()
        self._phase_shown = ""
        self._update_buttons()

    def _on_corpus_progress(self, info: dict):
        done, total = int(info.get("done", 0)), int(info.get("total", 0))
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(min(done, total))
        plan = self.controller.plan
        name = (plan.corpus_config.name if plan is not None and plan.corpus_config
                else Path(str(info.get("corpus", "corpus"))).name)
        unit = info.get("unit", "")
        text = (f"building corpus {name} — {PHASES.get(info.get('phase'), info.get('phase'))}: "
                f"{done:,} / {total:,} {unit}")
        if info.get("rate"):
            text += f" · {info['rate']:.1f} {'mol' if unit == 'molecules' else unit}/s"
        if info.get("eta_s") is not None:
            text += f" · ETA {_fmt_seconds(info['eta_s'])}"
        if info.get("phase") == "conformers":
            text += f" · shards {info.get('shards_done', 0)}/{info.get('shards_total', 0)}"
            if info.get("resumed"):
                text += f" · resumed from {info['resumed']:,} kept"
        if self.controller.mode == "stopping":
            text = "stopping … " + text
        self.eta.setText(text)

    def _on_progress(self, info: dict):
        if info.get("event") == "corpus":
            self._on_corpus_progress(info)
            return
        if info.get("event") == "setup":
            self.progress.setRange(0, 0)
            if self.controller.mode != "stopping":
                self.eta.setText(f"{info.get('phase', 'setting up')} …")
            return
        if info.get("checkpoint") or ("step" in info and self._phase_shown != self.controller.phase):
            self._phase_shown = self.controller.phase
            self._update_buttons()            # Pause once training steps run; the checkpoint
        if info.get("checkpoint"):
            self.ckpt_label.setText(f"checkpoint: {self.controller.last_checkpoint}")
        if "step" in info and info.get("total_steps"):
            step, total = int(info["step"]), int(info["total_steps"])
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(step)
        if info.get("loss") is not None:
            text = f"step {info['step']}/{info.get('total_steps')}   loss {info['loss']:.4g}"
            if info.get("eta_s") is not None:
                text += f"   ETA {_fmt_seconds(info['eta_s'])}"
            self.eta.setText(text)
        self._redraw()

    def _redraw(self):
        history = self.controller.history
        steps = [h["step"] for h in history if h.get("loss") is not None]
        loss = [max(1e-12, h["loss"]) for h in history if h.get("loss") is not None]
        self.train_curve.setData(steps, loss)
        val = [(h["step"], max(1e-12, h["val_loss"])) for h in history
               if h.get("val_loss") is not None]
        self.val_curve.setData([v[0] for v in val], [v[1] for v in val])

    def _on_run_ended(self, how: str):
        if self.controller.last_checkpoint:
            self.ckpt_label.setText(f"checkpoint: {self.controller.last_checkpoint}")
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self.eta.setText(self.controller.end_text)
        self._update_buttons(ended=True)
        self._inputs_changed()                # the corpus may be (partly) built now

    def _update_buttons(self, ended: bool = False):
        c = self.controller
        running = not ended and c.is_active()
        self.start_btn.setEnabled(not running)
        # a pause writes a checkpoint: only once training steps run
        self.pause_btn.setEnabled(running and c.mode == "running" and c.phase == "train")
        needs_build = c.plan is not None and c.plan.needs_build
        self.build_btn.setVisible(needs_build)
        self.build_btn.setEnabled(not running)
        fast = Path(api.DEFAULT_TRAINING_CONFIG).stem
        self.fast_btn.setVisible(needs_build and Path(self.config_path()).stem != fast)
        self.fast_btn.setEnabled(not running)
        self.stop_btn.setEnabled(running and c.mode != "stopping")
        self.resume_btn.setEnabled(not running and c.mode == "paused")
        self.use_btn.setEnabled(c.last_checkpoint is not None)
