"""The main window's layout: its docks (where they go, the right docks' width cap, their
sizes on a first run, the left dock kept wide enough) and the keys a focused control keeps.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDockWidget,
)

LEFT_DOCK_MIN = 250        # the mode-energy plots need this to keep their axis labels apart
SIDE_DOCK_MAX_MIN = 380    # the most minimum width a right-dock panel may claim (DockWidthCap)

# key, title, area: the docks in the order they are made (the right ones tabbed together)
DOCKS = (("player", "Player", Qt.BottomDockWidgetArea),
         ("spectrum", "Mode energies", Qt.LeftDockWidgetArea),
         ("steering", "Steering", Qt.RightDockWidgetArea),
         ("training", "Training", Qt.RightDockWidgetArea),
         ("quality", "Quality", Qt.RightDockWidgetArea))


class FocusedControlKeys(QObject):
    """Arrow, Home/End and Page keys belong to a focused slider, spin box or combo box:
    without this the window's player shortcuts (←/→ step, Home/End) took them."""

    KEYS = {Qt.Key_Left, Qt.Key_Right, Qt.Key_Up, Qt.Key_Down, Qt.Key_Home, Qt.Key_End,
            Qt.Key_PageUp, Qt.Key_PageDown}

    def __init__(self, window):
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj, event):
        if event.type() == QEvent.ShortcutOverride and event.key() in self.KEYS:
            focus = QApplication.focusWidget()
            if (focus is not None and obj is focus
                    and isinstance(focus, (QAbstractSlider, QAbstractSpinBox, QComboBox))
                    and focus.window() is self.window):
                event.accept()          # no shortcut: the key goes to the control
                return True
        return False


class DockWidthCap(QObject):
    """Caps the minimum width the right docks' panels claim at ``SIDE_DOCK_MAX_MIN``.

    A dock area is as wide as the largest minimum of its docks, tabs not shown included,
    and QMainWindow squeezes the other dock area and the 3D view to make room. Text that
    depends on where the app is installed once set that minimum: the packaged app's
    training panel listed its configs by full path (``/tmp/gdapp-smoke.*/gdapp-linux-
    x86_64/app/_internal/resources/configs/…``), the hidden Training tab needed 767 px, and
    on a first run the mode-energy dock opened at its ~80 px minimum with the 3D view
    pushed out of the centre (issue 14, docs/packaging.md). Each panel's minimum width is
    now its layout's minimum, at most ``SIDE_DOCK_MAX_MIN`` (re-read when the layout
    changes); wider content is clipped inside its dock instead of widening it."""

    def __init__(self, window, panels):
        super().__init__(window)
        for panel in panels:
            self.apply(panel)
            panel.installEventFilter(self)

    @staticmethod
    def apply(panel):
        panel.setMinimumWidth(min(panel.minimumSizeHint().width(), SIDE_DOCK_MAX_MIN))

    def eventFilter(self, obj, event):
        if event.type() == QEvent.LayoutRequest:
            self.apply(obj)
        return False


def add_docks(window, panels: dict) -> dict:
    """A dock for each panel (``{key: widget}``, keys of ``DOCKS``): the right ones tabbed,
    Steering in front. Returns ``{key: QDockWidget}``."""
    docks = {}
    for key, title, area in DOCKS:
        dock = QDockWidget(title, window)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(panels[key])
        window.addDockWidget(area, dock)
        docks[key] = dock
    window.tabifyDockWidget(docks["steering"], docks["training"])
    window.tabifyDockWidget(docks["training"], docks["quality"])
    docks["steering"].raise_()
    return docks


def left_dock_width(window_width: int) -> int:
    return max(LEFT_DOCK_MIN + 20, min(340, int(0.24 * window_width)))


def first_run_sizes(window) -> None:
    """No saved layout: mode energies ~24 % of the width, the right docks ~30 % (at most
    ``SIDE_DOCK_MAX_MIN``), the 3D view the rest: the largest part, in the centre. Applied
    before the window is shown and again once it is, whatever size the window manager
    gave it."""
    w = window.width()
    right = min(SIDE_DOCK_MAX_MIN, int(0.30 * w))
    window.resizeDocks([window.docks["spectrum"], window.docks["steering"]], [left_dock_width(w), right],
                       Qt.Horizontal)


def keep_left_dock_wide(window) -> None:
    """Keep the left dock (mode energies) wide enough for its plots: at 1024 px the right
    docks' size hints used to squeeze it to ~120 px, and it did not recover."""
    left = window.docks["spectrum"]
    if left.isFloating() or not left.isVisible():
        return
    want = left_dock_width(window.width())
    if left.width() < want - 8:
        window.resizeDocks([left], [want], Qt.Horizontal)
