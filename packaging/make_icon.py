"""Draw the application icon (a ball-and-stick molecule on a dark rounded square).

Writes ``resources/icons/gdapp.png`` (256 px), ``gdapp-512.png``, ``gdapp.ico`` (Windows,
16-256 px) and ``gdapp.icns`` (macOS, up to 1024 px). Only Pillow is needed. Run once; the results are committed:

    .venv/bin/python packaging/make_icon.py
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
S = 1024  # drawing size; downsampled for anti-aliasing

# Atoms (x, y in [0, 1], radius, RGB) and bonds (i, j): a hexagonal ring with substituents.
_RING = [(0.5 + 0.22 * math.cos(a), 0.5 + 0.22 * math.sin(a))
         for a in (math.pi / 6 + k * math.pi / 3 for k in range(6))]
ATOMS = [(*p, 0.075, (150, 156, 166)) for p in _RING] + [
    (0.5 + 0.40 * math.cos(math.pi / 6), 0.5 + 0.40 * math.sin(math.pi / 6), 0.085, (220, 50, 47)),
    (0.5 + 0.40 * math.cos(-math.pi / 2), 0.5 + 0.40 * math.sin(-math.pi / 2), 0.085, (52, 101, 224)),
    (0.5 + 0.40 * math.cos(5 * math.pi / 6), 0.5 + 0.40 * math.sin(5 * math.pi / 6), 0.06, (235, 235, 235)),
]
BONDS = [(k, (k + 1) % 6) for k in range(6)] + [(0, 6), (4, 7), (2, 8)]


def _sphere(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, rgb):
    """A shaded sphere: concentric discs brightening toward an off-centre highlight."""
    steps = 40
    for i in range(steps):
        f = i / steps
        rr = r * (1 - f)
        ox, oy = cx - 0.35 * r * f, cy - 0.35 * r * f
        light = 0.55 + 0.45 * f
        col = tuple(min(255, int(c * light + 255 * 0.5 * f ** 3)) for c in rgb)
        draw.ellipse([ox - rr, oy - rr, ox + rr, oy + rr], fill=col)


def draw_icon() -> Image.Image:
    img = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([24, 24, S - 24, S - 24], radius=180, fill=(31, 36, 48, 255))
    # diffusion "halo": soft noise cloud behind the molecule
    halo = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    hd = ImageDraw.Draw(halo)
    hd.ellipse([180, 180, S - 180, S - 180], fill=(80, 170, 200, 90))
    img.alpha_composite(halo.filter(ImageFilter.GaussianBlur(90)))
    d = ImageDraw.Draw(img)
    for i, j in BONDS:
        (x1, y1), (x2, y2) = ATOMS[i][:2], ATOMS[j][:2]
        d.line([x1 * S, y1 * S, x2 * S, y2 * S], fill=(205, 208, 214, 255), width=int(0.035 * S))
    for x, y, r, rgb in ATOMS:
        _sphere(d, x * S, y * S, r * S, rgb)
    return img


def main(out_dir: Path = ROOT / "resources" / "icons") -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    big = draw_icon()
    big.resize((512, 512), Image.LANCZOS).save(out_dir / "gdapp-512.png")
    big.resize((256, 256), Image.LANCZOS).save(out_dir / "gdapp.png")
    big.resize((256, 256), Image.LANCZOS).save(
        out_dir / "gdapp.ico", sizes=[(16, 16), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    big.save(out_dir / "gdapp.icns")
    print(f"wrote {out_dir}/gdapp.png, gdapp-512.png, gdapp.ico, gdapp.icns")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "resources" / "icons"))
