"""What a call of :func:`engine.sampling.generate.generate_conformers` did: counts,
per-molecule errors and warnings (by input index), time."""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["GenerationReport"]


@dataclass
class GenerationReport:
    molecules: int = 0
    conformers: int = 0
    failed: int = 0
    stereo_reflected: int = 0
    stereo_resampled: int = 0
    stereo_unfixed: int = 0
    relax_flipped: int = 0         # MMFF94 inverted centres; flipped back and minimised again
    relax_undone: int = 0          # MMFF94 changed the stereo: the polished conformer kept
    amides_turned: int = 0         # conformers whose cis secondary amides were turned trans
    mirror_images: int = 0         # conformers written as the mirror image of a sample
    seconds: float = 0.0
    batches: int = 0
    errors: dict = field(default_factory=dict)
    warnings: dict = field(default_factory=dict)     # index -> what was done differently

    @property
    def conformers_per_second(self) -> float:
        return self.conformers / self.seconds if self.seconds > 0 else float("nan")

    def warn(self, i: int, message: str) -> None:
        """Add ``message`` to molecule ``i``'s warnings."""
        self.warnings[i] = f"{self.warnings[i]}; {message}" if i in self.warnings else message
