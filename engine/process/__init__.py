"""The exact graph-Laplacian diffusion process (docs/math.md §1): schedules, backends, processes."""
from engine.process.backends import EIGH_CACHE, ChebyshevBackend, DenseEigenBackend, LatticeDCTBackend
from engine.process.batch import GraphBatchDiffusion
from engine.process.diffusion import GraphDiffusion
from engine.process.schedules import CosineSchedule, LinearSchedule, make_schedule

__all__ = [
    "GraphDiffusion",
    "GraphBatchDiffusion",
    "LinearSchedule",
    "CosineSchedule",
    "make_schedule",
    "DenseEigenBackend",
    "LatticeDCTBackend",
    "ChebyshevBackend",
    "EIGH_CACHE",
]
