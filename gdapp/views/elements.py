"""Element colours (Jmol CPK scheme) and radii (Å) for drawing atoms."""
from __future__ import annotations

import numpy as np

# Jmol colours, RGB 0-255, by atomic number (common elements; others fall back to pink)
_COLOURS = {
    1: (255, 255, 255), 2: (217, 255, 255), 3: (204, 128, 255), 5: (255, 181, 181),
    6: (144, 144, 144), 7: (48, 80, 248), 8: (255, 13, 13), 9: (144, 224, 80),
    11: (171, 92, 242), 12: (138, 255, 0), 14: (240, 200, 160), 15: (255, 128, 0),
    16: (255, 255, 48), 17: (31, 240, 31), 19: (143, 64, 212), 20: (61, 255, 0),
    26: (224, 102, 51), 29: (200, 128, 51), 30: (125, 128, 176), 34: (255, 161, 0),
    35: (166, 41, 41), 53: (148, 0, 148),
}
_FALLBACK = (255, 20, 147)

# van der Waals radii (Bondi), Å
_VDW = {1: 1.10, 5: 1.92, 6: 1.70, 7: 1.55, 8: 1.52, 9: 1.47, 14: 2.10, 15: 1.80,
        16: 1.80, 17: 1.75, 34: 1.90, 35: 1.85, 53: 1.98}


def element_colours(atomic_numbers) -> np.ndarray:
    """``(N, 3)`` uint8 RGB colours."""
    return np.array([_COLOURS.get(int(z), _FALLBACK) for z in atomic_numbers], dtype=np.uint8)


def vdw_radii(atomic_numbers) -> np.ndarray:
    """``(N,)`` van der Waals radii in Å (1.8 for elements not in the table)."""
    return np.array([_VDW.get(int(z), 1.8) for z in atomic_numbers], dtype=np.float64)
