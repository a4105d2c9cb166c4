"""Geometry the benchmarks measure: the radius of gyration of a conformer."""
from __future__ import annotations

import numpy as np


def radius_of_gyration(x) -> float:
    """``sqrt(mean |x_i - centroid|²)`` of an ``(N, 3)`` array (unweighted)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(0)
    return float(np.sqrt((x ** 2).sum(1).mean()))
