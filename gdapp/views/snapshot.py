"""Window screenshots that include the OpenGL 3D view.

``QWidget.grab`` does not capture a native OpenGL child (the VTK render window), so the
3D view's own rendering is painted over its place in the grabbed window.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint
from PySide6.QtGui import QImage, QPainter


def array_to_qimage(img: np.ndarray) -> QImage:
    """``(H, W, 3)`` uint8 → QImage (a deep copy)."""
    img = np.ascontiguousarray(img[..., :3], dtype=np.uint8)
    h, w, _ = img.shape
    return QImage(img.data, w, h, 3 * w, QImage.Format_RGB888).copy()


def grab_window(window) -> QImage:
    """The whole main window with the 3D view composited in."""
    pixmap = window.grab()
    image = pixmap.toImage().convertToFormat(QImage.Format_RGB888)
    viewer = window.viewer
    widget = viewer.plotter.interactor
    if widget.isVisible():
        view = array_to_qimage(viewer.image())
        ratio = pixmap.devicePixelRatio() or 1.0
        top_left = widget.mapTo(window, QPoint(0, 0))
        painter = QPainter(image)
        target = view.scaled(int(widget.width() * ratio), int(widget.height() * ratio))
        painter.drawImage(QPoint(int(top_left.x() * ratio), int(top_left.y() * ratio)), target)
        painter.end()
    return image
