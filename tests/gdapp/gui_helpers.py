"""Helpers shared by the gdapp GUI tests."""
from __future__ import annotations

import numpy as np


def foreground_fraction(image: np.ndarray) -> float:
    """Share of pixels that differ clearly from the 3D view's background colour."""
    from gdapp.views.viewer import BACKGROUND

    bg = np.array(BACKGROUND) * 255
    diff = np.abs(image[..., :3].astype(float) - bg).sum(-1)
    return float((diff > 40).mean())
