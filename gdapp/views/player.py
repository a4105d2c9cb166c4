"""Trajectory player: play/pause, frame slider, step buttons, speed, loop/once/bounce.

It plays the frames of one :class:`gdapp.state.TrajectoryBuffer` ("forward" or
"reverse") and tells the :class:`gdapp.state.AppState` which frame to show
(``show_frame``: the views that draw it follow ``frameShown``); while a trajectory is still
streaming in, the player follows the newest frame unless the user moved the slider, or,
for Denoise ▶ (:meth:`Player.play_run`), plays it through from its first frame at the
player's speed as soon as the run is finished, stopping on its last frame.
"""
from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QSlider, QStyle, QToolButton, QWidget

from gdapp.state import AppState

MODES = ("loop", "once", "bounce")
FOLLOW_MS = 100
CHROME_MS = 100     # slider and frame label follow the frame at most 10 times a second


class Player(QWidget):
    trajectorySelected = Signal(str)     # kind
    frameLabelChanged = Signal(str)      # what the frame shown is ("polish 40/70", …)

    def __init__(self, state: AppState, parent=None):
        super().__init__(parent)
        self.state = state
        self.kind = "forward"
        self.index = 0
        self.direction = 1
        self.follow = True
        self.through = False             # playing a run through once, as it streams in
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        # while a run streams in, show its newest frame at most every FOLLOW_MS
        self.follow_timer = QTimer(self)
        self.follow_timer.setSingleShot(True)
        self.follow_timer.setInterval(FOLLOW_MS)
        self.follow_timer.timeout.connect(self._follow_latest)
        # slider + label: every repaint of a widget re-composites the whole window
        # (QOpenGLWidget), so they are not redrawn for every frame while playing
        self._chrome_timer = QTimer(self)
        self._chrome_timer.setSingleShot(True)
        self._chrome_timer.timeout.connect(self._update_chrome)
        self._chrome_last = -1e9

        self.kind_box = QComboBox()
        self.kind_box.addItems(["forward", "reverse"])
        self.kind_box.setToolTip("Which trajectory to play: forward (noising) or reverse (denoising)")
        self.first_btn = self._button(QStyle.SP_MediaSkipBackward, "First frame (Home)")
        self.back_btn = self._button(QStyle.SP_MediaSeekBackward, "Previous frame (Left)")
        self.play_btn = self._button(QStyle.SP_MediaPlay, "Play / pause (Space)")
        self.play_btn.setCheckable(True)
        self.fwd_btn = self._button(QStyle.SP_MediaSeekForward, "Next frame (Right)")
        self.last_btn = self._button(QStyle.SP_MediaSkipForward, "Last frame (End)")
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 0)
        self.speed = QDoubleSpinBox()
        self.speed.setRange(1.0, 120.0)
        self.speed.setValue(30.0)
        self.speed.setSuffix(" fps")
        self.speed.setToolTip("Playback speed")
        self.mode_box = QComboBox()
        self.mode_box.addItems(MODES)
        self.mode_box.setToolTip("At the end: loop, stop (once) or play backwards (bounce)")
        self.label = QLabel("no trajectory")
        self.label.setMinimumWidth(self.label.fontMetrics().horizontalAdvance(
            "reverse  MMFF94 converged, 1234.5 kcal/mol   frame 888/888") + 8)

        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        for w in (self.kind_box, self.first_btn, self.back_btn, self.play_btn, self.fwd_btn,
                  self.last_btn):
            row.addWidget(w)
        row.addWidget(self.slider, 1)
        for w in (self.label, self.speed, self.mode_box):
            row.addWidget(w)

        self.first_btn.clicked.connect(lambda: self.seek(0))
        self.last_btn.clicked.connect(lambda: self.seek(self.count() - 1))
        self.back_btn.clicked.connect(lambda: self.step(-1))
        self.fwd_btn.clicked.connect(lambda: self.step(1))
        self.play_btn.toggled.connect(self._on_play_toggled)
        self.slider.valueChanged.connect(self._on_slider)
        self.slider.sliderPressed.connect(lambda: setattr(self, "follow", False))
        self.speed.valueChanged.connect(self._apply_speed)
        self.kind_box.currentTextChanged.connect(self.select)
        state.trajectoryStarted.connect(self._on_started)
        state.trajectoryStep.connect(self._on_step)
        state.trajectoryFinished.connect(self._on_finished)
        state.structureChanged.connect(lambda _s: self._reset())
        self._apply_speed()

    def _button(self, icon, tip):
        b = QToolButton()
        b.setIcon(self.style().standardIcon(icon))
        b.setToolTip(tip)
        return b

    def _set_play_icon(self, playing: bool):
        icon = QStyle.SP_MediaPause if playing else QStyle.SP_MediaPlay
        self.play_btn.setIcon(self.style().standardIcon(icon))

    # what is played ------------------------------------------------------------------------
    def buffer(self):
        return self.state.trajectory(self.kind)

    def count(self) -> int:
        buf = self.buffer()
        return len(buf) if buf is not None else 0

    def select(self, kind: str):
        if kind not in ("forward", "reverse"):
            return
        if kind != self.kind:
            self.kind = kind
            self.kind_box.blockSignals(True)
            self.kind_box.setCurrentText(kind)
            self.kind_box.blockSignals(False)
            self.trajectorySelected.emit(kind)
        self._sync_slider()
        self.seek(min(self.index, max(0, self.count() - 1)))

    def _reset(self):
        self.pause()
        self.index = 0
        self._sync_slider()
        self.label.setText("no trajectory")

    def _sync_slider(self):
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, self.count() - 1))
        self.slider.setValue(self.index)
        self.slider.blockSignals(False)

    def _on_started(self, kind):
        # a reverse run is followed as it streams in; a forward run starts at the input
        if self.through and kind != self.kind:
            self.pause()
        self.follow = kind == "reverse" and not self.through
        self.select(kind)
        self.index = 0
        self._sync_slider()

    def _on_step(self, kind, index):
        if kind != self.kind:
            return
        self._sync_slider()
        if self.timer.isActive():
            return
        if index == 0:
            self.seek(0)
        elif self.follow and not self.follow_timer.isActive():
            self.follow_timer.start()

    def _follow_latest(self):
        if self.follow and not self.timer.isActive() and self.count():
            self.seek(self.count() - 1)

    def _on_finished(self, kind):
        if kind != self.kind:
            return
        self._sync_slider()
        if self.through and not self.timer.isActive():
            buf = self.buffer()
            if buf is not None and buf.complete and len(buf):
                self._start_through()           # Denoise ▶: the run is made, play it
                return
        n = self.count()
        if n == 0:
            self._reset()
        elif not self.timer.isActive():
            self.seek(n - 1 if self.follow else min(self.index, n - 1))

    # navigation ------------------------------------------------------------------------------
    def seek(self, index: int):
        n = self.count()
        if n == 0:
            return
        self.index = max(0, min(int(index), n - 1))
        wait_ms = CHROME_MS - (time.monotonic() - self._chrome_last) * 1000.0
        if wait_ms <= 0:
            self._update_chrome()
        elif not self._chrome_timer.isActive():
            self._chrome_timer.start(max(1, int(wait_ms)))
        self.state.show_frame(self.kind, self.index)

    def _update_chrome(self):
        """Slider position and frame label for the current frame."""
        self._chrome_timer.stop()
        self._chrome_last = time.monotonic()
        n = self.count()
        if n == 0:
            return
        index = min(self.index, n - 1)
        self.slider.blockSignals(True)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        text = self.buffer().label(index)
        self.label.setText(f"{self.kind}  {text}   frame {index + 1}/{n}")
        self.label.setToolTip(self.label.text())
        self.frameLabelChanged.emit(text)

    def step(self, delta: int):
        self.follow = False
        self.seek(self.index + delta)

    def _on_slider(self, value):
        self.follow = False
        self.seek(value)

    # playing ----------------------------------------------------------------------------------
    def is_playing(self) -> bool:
        return self.timer.isActive()

    def play(self):
        if self.count() == 0:
            self.play_btn.setChecked(False)
            return
        if self.mode == "once" and self.index >= self.count() - 1:
            self.seek(0)
        self.follow = False
        self.play_btn.setChecked(True)
        if not self.timer.isActive():
            self.timer.start()

    def play_run(self, kind: str = "reverse"):
        """Play the run of ``kind`` through once from its first frame as soon as it is
        finished (Denoise ▶), whatever the play mode, and stop on its last frame. While it
        is computing the view stays as it is: drawing its frames then would take the
        cores from the run (the status bar shows its progress)."""
        self.select(kind)
        self.follow = False
        self.through = True
        self.direction = 1
        self.play_btn.blockSignals(True)
        self.play_btn.setChecked(True)
        self._set_play_icon(True)
        self.play_btn.blockSignals(False)
        buf = self.buffer()
        if buf is not None and buf.complete:
            self._start_through()

    def _start_through(self):
        self.seek(0)
        self.timer.start()

    def pause(self):
        self.through = False
        self.timer.stop()
        self._update_chrome()
        self.play_btn.blockSignals(True)
        self.play_btn.setChecked(False)
        self._set_play_icon(False)
        self.play_btn.blockSignals(False)

    def toggle(self):
        self.pause() if self.is_playing() else self.play()

    def _on_play_toggled(self, on):
        self._set_play_icon(on)
        if on:
            self.play()
        else:
            self.pause()

    @property
    def mode(self) -> str:
        return self.mode_box.currentText()

    def set_mode(self, mode: str):
        if mode in MODES:
            self.mode_box.setCurrentText(mode)

    def set_fps(self, fps: float):
        self.speed.setValue(float(fps))

    def _apply_speed(self):
        self.timer.setInterval(max(1, int(round(1000.0 / self.speed.value()))))

    def next_index(self) -> int | None:
        """The frame after the current one under the play mode (None: stop); a run played
        through (Denoise ▶) plays once, whatever the mode."""
        n = self.count()
        if n <= 1:
            return None
        mode = "once" if self.through else self.mode
        if mode != "bounce":
            self.direction = 1
        nxt = self.index + self.direction
        if 0 <= nxt < n:
            return nxt
        if mode == "loop":
            return 0
        if mode == "bounce":
            self.direction = -self.direction
            return self.index + self.direction
        return None

    def _tick(self):
        nxt = self.next_index()
        if nxt is None:
            self.pause()
            return
        self.seek(nxt)
