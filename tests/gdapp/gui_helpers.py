"""Helpers shared by the gdapp GUI tests."""
from __future__ import annotations

import numpy as np


def foreground_fraction(image: np.ndarray) -> float:
    """Share of pixels that differ clearly from the 3D view's background colour."""
    from gdapp.views.viewer import BACKGROUND

    bg = np.array(BACKGROUND) * 255
    diff = np.abs(image[..., :3].astype(float) - bg).sum(-1)
    return float((diff > 40).mean())


def open_main_window(qtbot, size=(1200, 800)):
    """Generator behind the ``window`` fixtures (tests/gdapp, tests/reliability): the main
    window shown at ``size`` with the demo molecule loaded and its forward trajectory done;
    closed afterwards."""
    from gdapp.app import _configure_torch, freeze_startup_objects
    from gdapp.views.main_window import MainWindow

    _configure_torch()
    win = MainWindow()
    freeze_startup_objects()
    qtbot.addWidget(win)
    win.resize(*size)
    with qtbot.waitExposed(win):   # a context manager: called bare it waits for nothing
        win.show()
    with qtbot.waitSignal(win.state.trajectoryFinished, timeout=60000,
                          check_params_cb=lambda kind: kind == "forward"):
        win.open_demo()
    yield win
    win.close()


def make_active(qtbot, win):
    """Make ``win`` the active window, as a click on it would: Xvfb has no window manager,
    and window shortcuts (Space, Esc, Ctrl+Z …) fire only in the active window."""
    import warnings

    from PySide6.QtWidgets import QApplication

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        QApplication.setActiveWindow(win)
    win.windowHandle().requestActivate()
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)


def click_slider_handle(qtbot, slider):
    """Click a QSlider's handle (focus, no value change), as a user grabbing it does."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QStyle, QStyleOptionSlider

    opt = QStyleOptionSlider()
    slider.initStyleOption(opt)
    rect = slider.style().subControlRect(QStyle.CC_Slider, opt, QStyle.SC_SliderHandle, slider)
    qtbot.mouseClick(slider, Qt.LeftButton, pos=rect.center())


class Heartbeat:
    """Timestamps of a 10 ms QTimer while the block runs: the longest gap between two is
    the longest event-loop stall (tests/gdapp, tests/reliability)."""

    def __init__(self, interval_ms: int = 10):
        import time

        from PySide6.QtCore import QTimer

        self.stamps = []
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(lambda: self.stamps.append(time.perf_counter()))

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.stop()

    def max_gap(self) -> float:
        gaps = np.diff(self.stamps)
        return float(gaps.max()) if len(gaps) else float("inf")
