"""Export: conformers (SDF/XYZ/PDB), trajectories (multi-frame XYZ/PDB), PNG, GIF/MP4.

Animations render every frame of a trajectory through the viewer (GUI thread) and write
them with imageio (GIF) or imageio-ffmpeg (MP4).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import api
from engine.errors import InputError

CONFORMER_SUFFIXES = (".sdf", ".xyz", ".pdb")
TRAJECTORY_SUFFIXES = (".xyz", ".pdb")
ANIMATION_SUFFIXES = (".gif", ".mp4")


def _suffix(path, allowed, what) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise InputError(f"{what} can be written as {', '.join(allowed)}, not {suffix or 'no suffix'!r}",
                         path=path)
    return suffix


def export_conformers(path, structure: api.Structure, coords_list) -> Path:
    """Write one or more conformers ``(N, 3)`` of the molecule."""
    _suffix(path, CONFORMER_SUFFIXES, "conformers")
    return api.export_structures(path, structure, list(coords_list))


def export_trajectory(path, structure: api.Structure, buffer) -> Path:
    """Write every frame of a trajectory buffer as multi-frame XYZ or PDB."""
    _suffix(path, TRAJECTORY_SUFFIXES, "trajectories")
    return api.export_trajectory(path, structure, np.stack(buffer.frames),
                                 np.asarray(buffer.times))


def export_png(path, viewer) -> Path:
    _suffix(path, (".png",), "images")
    viewer.save_image(path)
    return Path(path)


def export_animation(path, viewer, buffer, fps: float = 20.0, max_frames: int = 400) -> Path:
    """Render the frames of ``buffer`` in the viewer and write a GIF or MP4."""
    import imageio.v2 as imageio

    suffix = _suffix(path, ANIMATION_SUFFIXES, "animations")
    frames = buffer.frames
    if not len(frames):
        raise InputError("the trajectory has no frames", path=path)
    step = max(1, len(frames) // max_frames)
    keep = viewer.coords
    images = []
    try:
        for frame in frames[::step]:
            viewer.set_coords(frame, render=False)
            img = viewer.image()
            h, w = img.shape[:2]
            images.append(img[: h - h % 2, : w - w % 2])   # even size for H.264
    finally:
        if keep is not None:
            viewer.set_coords(keep)
    if suffix == ".gif":
        imageio.mimsave(str(path), images, duration=1.0 / fps, loop=0)
    else:
        with imageio.get_writer(str(path), fps=fps, codec="libx264", quality=7,
                                macro_block_size=2) as writer:
            for img in images:
                writer.append_data(img)
    return Path(path)
