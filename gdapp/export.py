"""Export: conformers (SDF/XYZ/PDB), trajectories (multi-frame XYZ/PDB), PNG, GIF/MP4.

Animations render every frame of a trajectory through the viewer (GUI thread) and write
them with imageio (GIF) or imageio-ffmpeg (MP4).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import api

CONFORMER_SUFFIXES = tuple(api.writable_suffixes("conformers"))       # engine.io's writers
TRAJECTORY_SUFFIXES = tuple(api.writable_suffixes("trajectories"))
ANIMATION_SUFFIXES = (".gif", ".mp4")


def _suffix(path, allowed, what) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise api.InputError(f"{what} can be written as {', '.join(allowed)}, not {suffix or 'no suffix'!r}",
                         path=path)
    return suffix


def export_conformers(path, structure: api.Structure, coords_list, names=None, props=None) -> Path:
    """Write one or more conformers ``(N, 3)`` of the molecule; ``names`` (titles) and
    ``props`` (SDF properties, one dict per conformer) say what each record is."""
    _suffix(path, CONFORMER_SUFFIXES, "conformers")
    return api.export_structures(path, structure, list(coords_list), names=names, props=props)


def export_generated(path, structure: api.Structure, generated, infos) -> Path:
    """Write the generated conformers ``(N, 3)`` of the molecule, each titled and with the
    SDF properties of the reverse run that made it (``infos``, one dict per conformer)."""
    names = [f"{structure.name} generated {i + 1} ({describe_short(infos[i])})"
             for i in range(len(generated))]
    props = [generation_props(dict(infos[i], generated_index=i + 1))
             for i in range(len(generated))]
    return export_conformers(path, structure, generated, names, props)


def frame_record(structure: api.Structure, kind: str, index: int, t: float, count: int,
                 info: dict | None = None, label: str = "") -> tuple[str, dict]:
    """Title and SDF properties of one frame of a trajectory.

    Frame 0 of the forward run is the input; the last frame of a reverse run is the
    generated conformer; every other frame is an intermediate and says so, with its t
    ("caffeine noised t=0.51": not a chemically valid structure)."""
    info = dict(info or {})
    if kind == "forward" and index == 0:
        what = "input"
    elif kind == "reverse" and index == count - 1 and t <= 0.0:
        what = "generated"
    else:
        what = "noised" if kind == "forward" else "denoising intermediate"
    name = structure.name if what == "input" else f"{structure.name} {what}"
    if what in ("noised", "denoising intermediate"):
        name += f" {label}" if label else f" t={t:.2f}"
    props = {"gdapp_frame": what, "gdapp_trajectory": kind, "gdapp_frame_index": index,
             "gdapp_t": f"{t:.4f}"}
    if label:
        props["gdapp_frame_label"] = label
    if what == "input":
        props = {"gdapp_frame": what}
    if kind == "reverse":
        props.update(generation_props(info))
    elif kind == "forward" and "seed" in info and what != "input":
        props["gdapp_seed"] = info["seed"]
    return name, props


def describe_short(info: dict) -> str:
    """'ancestral 50 steps, seed 7, lambda_E 0.5' for a record's title."""
    out = f"{info.get('sampler', '?')} {info.get('steps_taken', info.get('steps', '?'))} steps, " \
          f"seed {info.get('seed', '?')}"
    for key, label in (("lambda_E", "lambda_E"), ("lambda_G", "lambda_G"), ("lambda_A", "lambda_A")):
        if info.get(key):
            out += f", {label} {info[key]:.3g}"
    if info.get("fixed_atoms"):
        out += f", {len(info['fixed_atoms'])} fixed"
    return out


def generation_props(info: dict) -> dict:
    """SDF properties of a reverse run: for a molecule with the network, every setting
    under the name ``sample`` writes it (``gdapp_guidance``, ``gdapp_alignment``, …: one
    name per setting); otherwise the sampler, steps, seed and the guidance weights (λ,
    scale); then the steps taken, the model and the fixed atoms."""
    settings = info.get("settings")
    if settings is not None:
        keys: tuple = ("generated_index", "steps_taken", "model", "fixed_atoms")
        # written as `sample` writes them (engine.commands._provenance.set_props)
        out = {k: ("1" if v else "0") if isinstance(v, bool) else format(v, ".10g") if isinstance(v, float) else v
               for k, v in api.settings_provenance(settings).items() if k != "gdapp_version"}
    else:
        keys = ("generated_index", "sampler", "steps", "steps_taken", "seed", "lambda_E", "lambda_G", "lambda_A",
                "guidance_scale", "model", "fixed_atoms")
        out = {}
    for k in keys:
        if k in info:
            v = info[k]
            if isinstance(v, float):
                v = f"{v:.4g}"
            elif isinstance(v, (list, tuple)):
                v = " ".join(str(i) for i in v) if v else "none"
            out[f"gdapp_{k}"] = v
    return out


def export_trajectory(path, structure: api.Structure, buffer) -> Path:
    """Write every frame of a trajectory buffer as multi-frame XYZ or PDB, each frame
    with its t and what it is (its stage: ``polish 40/70``)."""
    _suffix(path, TRAJECTORY_SUFFIXES, "trajectories")
    return api.export_trajectory(path, structure, np.stack(buffer.frames), np.asarray(buffer.times),
                                 labels=[buffer.label(i) for i in range(len(buffer))])


def export_png(path, viewer) -> Path:
    _suffix(path, (".png",), "images")
    viewer.save_image(path)
    return Path(path)


def caption(img: np.ndarray, text: str) -> np.ndarray:
    """``img`` (H, W, 3|4 uint8) with ``text`` in a dark band at its bottom left (what an
    exported animation frame is: its stage and t)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.fromarray(np.ascontiguousarray(img))
    draw = ImageDraw.Draw(image)
    size = max(12, image.height // 28)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:                  # Pillow < 10.1: a fixed bitmap font
        font = ImageFont.load_default()
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = max(3, size // 3)
    y = image.height - (bottom - top) - 3 * pad
    fill = (0, 0, 0, 255) if image.mode == "RGBA" else (0, 0, 0)
    draw.rectangle([0, y, right - left + 2 * pad, image.height], fill=fill)
    draw.text((pad - left, y + pad - top), text, fill=(255, 255, 255) if image.mode != "RGBA"
              else (255, 255, 255, 255), font=font)
    return np.asarray(image)


def export_animation(path, viewer, buffer, fps: float = 20.0, max_frames: int = 400) -> Path:
    """Render the frames of ``buffer`` in the viewer and write a GIF or MP4, every frame
    captioned with what it is (``diffusion 12/50, t=0.420``, ``MMFF94 120/500, …``)."""
    import imageio.v2 as imageio

    suffix = _suffix(path, ANIMATION_SUFFIXES, "animations")
    frames = buffer.frames
    if not len(frames):
        raise api.InputError("the trajectory has no frames", path=path)
    step = max(1, len(frames) // max_frames)
    keep = viewer.coords
    images = []
    try:
        for index in range(0, len(frames), step):
            viewer.set_coords(frames[index], render=False)
            img = caption(viewer.image(), f"{buffer.kind}: {buffer.label(index)}")
            h, w = img.shape[:2]
            images.append(img[: h - h % 2, : w - w % 2])   # even size for H.264
    finally:
        if keep is not None:
            viewer.set_coords(keep)
    if suffix == ".gif":
        # imageio's pillow writer takes the frame duration in milliseconds (a GIF stores
        # centiseconds): 1/fps seconds gave a delay of 0, which viewers ignore
        imageio.mimsave(str(path), images, duration=1000.0 / fps, loop=0)
    else:
        with imageio.get_writer(str(path), fps=fps, codec="libx264", quality=7,
                                macro_block_size=2) as writer:
            for img in images:
                writer.append_data(img)
    return Path(path)
