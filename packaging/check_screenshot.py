"""Check that a ``gdapp --self-test`` screenshot shows a rendered molecule.

Standard library only (no numpy, no Pillow), so the smoke test can run it with the
system ``python3`` and no project environment:

    python3 packaging/check_screenshot.py DIR/window.png

The 3D view sits in the middle of the main window (docks left, right and below). In the
central box (``BOX`` fractions of the width and height) the most common colour must be a
dark background (the VTK view). The view's columns are those where at least
``VIEW_COLUMN_FRACTION`` of the box rows have that background colour (the docks next to
the view have none, even where the box reaches into them). Within the view's columns and
the box rows, at least ``MIN_FOREGROUND`` of the pixels must differ from the background
by more than ``COLOUR_DISTANCE`` (sum of |dR|+|dG|+|dB|), and at least ``MIN_LIT_PIXELS``
of those must be bright (max channel > 150: lit atom spheres). Exit code 0 when all
hold, 1 otherwise (the reason is printed).
"""
from __future__ import annotations

import struct
import sys
import zlib
from collections import Counter

BOX = (0.35, 0.30, 0.65, 0.70)  # x0, y0, x1, y1 as fractions of the image
DARK_BACKGROUND = 3 * 90
COLOUR_DISTANCE = 60
BACKGROUND_TOLERANCE = 6  # |dR|+|dG|+|dB| still counted as background
VIEW_COLUMN_FRACTION = 0.3
MIN_FOREGROUND = 0.02
MIN_LIT_PIXELS = 200


class PNGError(ValueError):
    """The file is not a PNG this reader handles (8-bit RGB or RGBA, not interlaced)."""


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(path) -> tuple[int, int, int, list[bytes]]:
    """Decode ``path``: ``(width, height, channels, rows)``, each row ``width*channels`` bytes."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise PNGError(f"{path}: not a PNG file")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        if pos + 8 > len(data):
            raise PNGError(f"{path}: truncated chunk header")
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length:
            raise PNGError(f"{path}: truncated {ctype!r} chunk")
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
        pos += 12 + length
    if ihdr is None or not idat:
        raise PNGError(f"{path}: missing IHDR or IDAT")
    width, height, depth, colour, _comp, _filt, interlace = ihdr
    channels = {2: 3, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise PNGError(f"{path}: need 8-bit RGB/RGBA non-interlaced, got depth {depth}, "
                       f"colour type {colour}, interlace {interlace}")
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise PNGError(f"{path}: image data has {len(raw)} bytes, expected {height * (stride + 1)}")
    rows, prev = [], bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif ftype == 2:
            line = bytearray((u + v) & 0xFF for u, v in zip(line, prev))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                if i >= channels:
                    line[i] = (line[i] + _paeth(line[i - channels], prev[i], prev[i - channels])) & 0xFF
                else:
                    line[i] = (line[i] + prev[i]) & 0xFF
        elif ftype != 0:
            raise PNGError(f"{path}: unknown filter type {ftype} in row {y}")
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


def analyse(path) -> dict:
    """Statistics of the 3D view inside the central box: background colour, the view's
    column range, foreground fraction and lit pixels."""
    width, height, ch, rows = read_png(path)
    x0, y0, x1, y1 = (int(BOX[0] * width), int(BOX[1] * height),
                      int(BOX[2] * width), int(BOX[3] * height))
    if x1 <= x0 or y1 <= y0:
        raise PNGError(f"{path}: image too small ({width}x{height})")
    box = [tuple(rows[y][x * ch:x * ch + 3]) for y in range(y0, y1) for x in range(x0, x1)]
    bg = Counter(box).most_common(1)[0][0]

    def dist(p):
        return abs(p[0] - bg[0]) + abs(p[1] - bg[1]) + abs(p[2] - bg[2])

    band = [[tuple(rows[y][x * ch:x * ch + 3]) for x in range(width)] for y in range(y0, y1)]
    n_rows = len(band)
    view_cols = [x for x in range(width)
                 if sum(dist(r[x]) <= BACKGROUND_TOLERANCE for r in band)
                 >= VIEW_COLUMN_FRACTION * n_rows]
    pixels = [r[x] for r in band for x in view_cols]
    fg = [p for p in pixels if dist(p) > COLOUR_DISTANCE]
    lit = sum(1 for p in fg if max(p) > 150)
    return {"size": (width, height), "box": (x0, y0, x1, y1), "background": bg,
            "view_columns": (view_cols[0], view_cols[-1]) if view_cols else None,
            "foreground_fraction": len(fg) / len(pixels) if pixels else 0.0,
            "lit_pixels": lit}


def check(path) -> tuple[bool, str]:
    """``(ok, message)``: does the screenshot at ``path`` show a rendered molecule?"""
    try:
        s = analyse(path)
    except (OSError, PNGError, zlib.error) as err:
        return False, f"cannot read screenshot: {err}"
    desc = (f"{s['size'][0]}x{s['size'][1]}, central box {s['box']}, background "
            f"{s['background']}, view columns {s['view_columns']}, "
            f"foreground {100 * s['foreground_fraction']:.1f}%, lit pixels {s['lit_pixels']}")
    if sum(s["background"]) > DARK_BACKGROUND:
        return False, f"the centre is not the dark 3D view ({desc})"
    if s["foreground_fraction"] < MIN_FOREGROUND:
        return False, f"no molecule in the 3D view: too few foreground pixels ({desc})"
    if s["lit_pixels"] < MIN_LIT_PIXELS:
        return False, f"no lit atoms in the 3D view ({desc})"
    return True, f"molecule visible ({desc})"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: check_screenshot.py WINDOW.png", file=sys.stderr)
        return 2
    ok, message = check(argv[0])
    print(("ok: " if ok else "FAILED: ") + message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
