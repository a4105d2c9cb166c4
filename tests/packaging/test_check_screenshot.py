"""packaging/check_screenshot.py: the stdlib PNG reader and the "molecule visible" check
the packaged-app smoke test relies on (packaging/smoke.sh)."""
from __future__ import annotations

import importlib.util
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
# A real `gdapp --self-test` screenshot (demo molecule after the reverse animation).
SELF_TEST_PNG = DATA / "self_test_window.png"


def _load():
    spec = importlib.util.spec_from_file_location("check_screenshot",
                                                  ROOT / "packaging" / "check_screenshot.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


cs = _load()


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _encode_png(path: Path, img: np.ndarray, filters: list[int]):
    """Write ``img`` (H, W, C) uint8 with the given per-row PNG filter types."""
    h, w, c = img.shape
    raw = bytearray()
    prev = np.zeros(w * c, dtype=np.int64)
    for y in range(h):
        row = img[y].reshape(-1).astype(np.int64)
        left = np.concatenate([np.zeros(c, np.int64), row[:-c]])
        upleft = np.concatenate([np.zeros(c, np.int64), prev[:-c]])
        f = filters[y % len(filters)]
        if f == 0:
            out = row
        elif f == 1:
            out = row - left
        elif f == 2:
            out = row - prev
        elif f == 3:
            out = row - (left + prev) // 2
        else:
            out = row - np.array([_paeth(a, b, d) for a, b, d in zip(left, prev, upleft)])
        raw += bytes([f]) + bytes((out & 0xFF).astype(np.uint8))
        prev = row

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    colour = {3: 2, 4: 6}[c]
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [3, 4])
def test_reader_decodes_all_five_filter_types_like_pillow(tmp_path, channels):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(11, 7, channels), dtype=np.uint8)
    path = tmp_path / "filters.png"
    _encode_png(path, img, filters=[0, 1, 2, 3, 4])
    w, h, ch, rows = cs.read_png(path)
    got = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(h, w, ch)
    ref = np.asarray(Image.open(path))  # independent decoder
    assert (w, h, ch) == (7, 11, channels)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(got, img)


def test_reader_matches_pillow_on_a_real_qt_screenshot():
    w, h, ch, rows = cs.read_png(SELF_TEST_PNG)
    ref = np.asarray(Image.open(SELF_TEST_PNG))
    got = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(h, w, ch)
    np.testing.assert_array_equal(got, ref)


# A wider window: the central box reaches into the steering dock right of the view.
SELF_TEST_WIDE_PNG = DATA / "self_test_window_wide.png"
VIEW_COLUMNS = (415, 834)  # the 3D view in both screenshots (by inspection)


@pytest.mark.parametrize("png", [SELF_TEST_PNG, SELF_TEST_WIDE_PNG])
def test_real_self_test_screenshots_pass(png):
    ok, message = cs.check(png)
    assert ok, message
    assert "molecule visible" in message
    assert cs.analyse(png)["view_columns"] == VIEW_COLUMNS


def _blank_view(png, tmp_path):
    """The screenshot with the 3D view painted over in its background colour."""
    img = np.array(Image.open(png).convert("RGB"))
    s = cs.analyse(png)
    _x0, y0, _x1, y1 = s["box"]
    img[y0 - 20:y1 + 20, VIEW_COLUMNS[0]:VIEW_COLUMNS[1] + 1] = s["background"]
    return img, s


@pytest.mark.parametrize("png", [SELF_TEST_PNG, SELF_TEST_WIDE_PNG])
def test_empty_3d_view_fails(tmp_path, png):
    """Also when the central box reaches into the (light, busy) dock next to the view."""
    img, _s = _blank_view(png, tmp_path)
    path = tmp_path / "empty.png"
    Image.fromarray(img).save(path)
    ok, message = cs.check(path)
    assert not ok
    assert "no molecule" in message


def test_dim_unlit_blob_fails(tmp_path):
    """Foreground that is not lit atoms (a dim grey patch) is not accepted."""
    img, s = _blank_view(SELF_TEST_PNG, tmp_path)
    _x0, y0, _x1, y1 = s["box"]
    cx, cy = sum(VIEW_COLUMNS) // 2, (y0 + y1) // 2
    img[cy - 40:cy + 40, cx - 40:cx + 40] = (90, 90, 90)
    path = tmp_path / "dim.png"
    Image.fromarray(img).save(path)
    ok, message = cs.check(path)
    assert not ok
    assert "no lit atoms" in message


def test_light_window_without_3d_view_fails(tmp_path):
    path = tmp_path / "grey.png"
    Image.new("RGB", (640, 480), (239, 239, 239)).save(path)
    ok, message = cs.check(path)
    assert not ok
    assert "not the dark 3D view" in message


def test_unreadable_files_give_a_clear_reason(tmp_path):
    not_png = tmp_path / "x.png"
    not_png.write_bytes(b"GIF89a....")
    ok, message = cs.check(not_png)
    assert not ok and "not a PNG" in message
    grey16 = tmp_path / "g16.png"
    Image.new("I;16", (8, 8)).save(grey16)
    ok, message = cs.check(grey16)
    assert not ok and "need 8-bit RGB/RGBA" in message
    ok, message = cs.check(tmp_path / "missing.png")
    assert not ok and "cannot read" in message


def test_command_line_exit_codes(tmp_path, capsys):
    assert cs.main([str(SELF_TEST_PNG)]) == 0
    grey = tmp_path / "grey.png"
    Image.new("RGB", (64, 48), (239, 239, 239)).save(grey)
    assert cs.main([str(grey)]) == 1
    assert cs.main([]) == 2
    assert "FAILED" in capsys.readouterr().err
