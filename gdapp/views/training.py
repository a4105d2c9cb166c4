"""Training panel: config and data, start / pause / resume / stop, progress with ETA,
live loss curves, and switching the active model to the newest checkpoint.

Training runs in a worker of the app's :class:`JobRunner` (slot "train") through
``engine.api.train``; progress dicts arrive as queued signals. *Pause* stops the run
after writing a checkpoint; *Resume* continues from it; *Stop* ends the run.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget)

from engine import api
from engine.resources import resource_path
from gdapp.state import AppState
from gdapp.workers import JobRunner


def _fmt_seconds(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class TrainingPanel(QWidget):
    modelActivated = Signal(object)       # api.ModelHandle
    errorOccurred = Signal(str, str)
    statusMessage = Signal(str)
    progressed = Signal(dict)             # every progress report (for tests and status)
    runEnded = Signal(str)                # "finished" | "paused" | "stopped" | "failed"

    def __init__(self, state: AppState, runner: JobRunner, parent=None):
        super().__init__(parent)
        self.state = state
        self.runner = runner
        self.job = None
        self.mode = "idle"                # idle | running | pausing | stopping | paused
        self.last_checkpoint: str | None = None
        self.history: list[dict] = []

        self.config_box = QComboBox()
        self.config_box.setEditable(True)
        for cfg in api.training_configs():
            self.config_box.addItem(str(cfg))
        cfg_btn = QPushButton("…")
        cfg_btn.clicked.connect(self._choose_config)
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("data (default: the config's)")
        data_btn = QPushButton("…")
        data_btn.clicked.connect(self._choose_data)
        self.out_edit = QLineEdit(str(Path(tempfile.gettempdir()) / "gdapp-training"))
        out_btn = QPushButton("…")
        out_btn.clicked.connect(self._choose_out)

        form = QFormLayout()
        for label, edit, btn in (("config", self.config_box, cfg_btn),
                                 ("data", self.data_edit, data_btn),
                                 ("output", self.out_edit, out_btn)):
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            row.addWidget(btn)
            form.addRow(label, row)

        self.start_btn = QPushButton("Start")
        self.pause_btn = QPushButton("Pause")
        self.resume_btn = QPushButton("Resume")
        self.stop_btn = QPushButton("Stop")
        buttons = QHBoxLayout()
        for b in (self.start_btn, self.pause_btn, self.resume_btn, self.stop_btn):
            buttons.addWidget(b)
        self.progress = QProgressBar()
        self.eta = QLabel("idle")
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.setLogMode(y=True)
        self.plot.addLegend()
        self.train_curve = self.plot.plot(pen=pg.mkPen((90, 200, 255), width=2), name="train")
        self.val_curve = self.plot.plot(pen=pg.mkPen((255, 160, 60), width=2), symbol="o",
                                        symbolSize=5, name="validation")
        self.use_btn = QPushButton("Use newest checkpoint as active model")
        self.ckpt_label = QLabel("no checkpoint yet")
        self.ckpt_label.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.eta)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.ckpt_label)
        layout.addWidget(self.use_btn)

        self.start_btn.clicked.connect(lambda: self.start(resume=False))
        self.resume_btn.clicked.connect(lambda: self.start(resume=True))
        self.pause_btn.clicked.connect(self.pause)
        self.stop_btn.clicked.connect(self.stop)
        self.use_btn.clicked.connect(self.use_checkpoint)
        self._update_buttons()

    # choosing files -----------------------------------------------------------------------
    def _choose_config(self):
        path, _ = QFileDialog.getOpenFileName(self, "Training config", str(resource_path("configs")),
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

    # running ---------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.job is not None and not self.job.is_done()

    def start(self, resume: bool = False, overrides: dict | None = None):
        if self.is_running():
            return None
        config = self.config_box.currentText().strip()
        data = self.data_edit.text().strip() or None
        out = self.out_edit.text().strip()
        if not resume:
            self.history = []
            self._redraw()
        self._t0 = time.monotonic()

        def work(job):
            return api.train(config, out, data=data, resume=resume, overrides=overrides,
                             on_progress=job.report_step, should_stop=job.should_stop)

        job = self.runner.create("train", work, name="train")
        job.step.connect(self._on_progress)
        job.succeeded.connect(self._on_succeeded)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        self.job = job
        self.mode = "running"
        self.eta.setText("starting …")
        self._update_buttons()
        self.runner.launch(job)
        self.statusMessage.emit(f"training {'resumed' if resume else 'started'}: {config}")
        return job

    def pause(self):
        if self.is_running():
            self.mode = "pausing"
            self.job.cancel()
            self.eta.setText("pausing (writing checkpoint) …")
            self._update_buttons()

    def stop(self):
        if self.is_running():
            self.mode = "stopping"
            self.job.cancel()
            self.eta.setText("stopping …")
            self._update_buttons()

    def shutdown(self, timeout_s: float = 15.0) -> bool:
        """Stop a running training and wait for its worker (window closing)."""
        if self.is_running():
            self.mode = "stopping"
            self.job.cancel()
            return self.job.wait(timeout_s)
        return True

    def _on_progress(self, info: dict):
        if info.get("checkpoint"):
            self.last_checkpoint = str(info["checkpoint"])
            self.ckpt_label.setText(f"checkpoint: {self.last_checkpoint}")
            self._update_buttons(ended=self.mode not in ("running", "pausing", "stopping"))
        if "step" in info and info.get("total_steps"):
            step, total = int(info["step"]), int(info["total_steps"])
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(step)
        if info.get("loss") is not None:
            text = f"step {info['step']}/{info.get('total_steps')}   loss {info['loss']:.4g}"
            if info.get("eta_s") is not None:
                text += f"   ETA {_fmt_seconds(info['eta_s'])}"
            self.eta.setText(text)
            self.history.append({"step": info["step"], "loss": info["loss"]})
        if info.get("event") == "val" and info.get("val_loss") is not None:
            self.history.append({"step": info["step"], "val_loss": info["val_loss"]})
        self._redraw()
        self.progressed.emit(dict(info))

    def _redraw(self):
        steps = [h["step"] for h in self.history if h.get("loss") is not None]
        loss = [max(1e-12, h["loss"]) for h in self.history if h.get("loss") is not None]
        self.train_curve.setData(steps, loss)
        val = [(h["step"], max(1e-12, h["val_loss"])) for h in self.history
               if h.get("val_loss") is not None]
        self.val_curve.setData([v[0] for v in val], [v[1] for v in val])

    def _on_succeeded(self, result):
        ckpt = getattr(result, "checkpoint", None) or (result.get("checkpoint") if isinstance(result, dict) else None)
        if ckpt:
            self.last_checkpoint = str(ckpt)
            self.ckpt_label.setText(f"checkpoint: {self.last_checkpoint}")
        self._end("finished")

    def _on_cancelled(self):
        self._end("paused" if self.mode == "pausing" else "stopped")

    def _on_failed(self, msg, tb):
        self._end("failed")
        self.errorOccurred.emit(msg, tb)

    def _end(self, how: str):
        self.mode = "paused" if how == "paused" else "idle"
        self.eta.setText({"finished": "finished", "paused": "paused — Resume continues",
                          "stopped": "stopped", "failed": "failed"}[how])
        self._update_buttons(ended=True)
        self.statusMessage.emit(f"training {how}")
        self.runEnded.emit(how)

    def _update_buttons(self, ended: bool = False):
        running = not ended and self.mode in ("running", "pausing", "stopping")
        self.start_btn.setEnabled(not running)
        self.pause_btn.setEnabled(running and self.mode == "running")
        self.stop_btn.setEnabled(running and self.mode != "stopping")
        self.resume_btn.setEnabled(not running and self.mode == "paused")
        self.use_btn.setEnabled(self.last_checkpoint is not None)

    def use_checkpoint(self, path: str | None = None):
        path = path or self.last_checkpoint
        if not path:
            return None
        try:
            model = api.load_model(path)
        except Exception as err:  # noqa: BLE001 -- shown to the user
            self.errorOccurred.emit(f"cannot use checkpoint {path}: {err}", "")
            return None
        self.modelActivated.emit(model)
        self.statusMessage.emit(f"active model: {model.name}")
        return model
