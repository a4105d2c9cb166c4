"""GUI tests drive the real main window under an X server (Xvfb).

Run: ``xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/pytest tests/gdapp``.
pyvistaqt's QtInteractor needs a real X server: the ``offscreen`` Qt platform does not work.
"""
from __future__ import annotations

import os

import pytest
import torch  # noqa: F401  (before Qt)

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")

NEEDS_X = ("the gdapp GUI tests need an X display (pyvistaqt's QtInteractor does not work "
           "with QT_QPA_PLATFORM=offscreen); run them under Xvfb: "
           "xvfb-run -a -s \"-screen 0 1280x1024x24\" .venv/bin/pytest tests/gdapp")


@pytest.fixture(scope="session", autouse=True)
def _require_display(request):
    gui = any("qtbot" in item.fixturenames or "window" in item.fixturenames
              for item in request.session.items)
    if gui and not os.environ.get("DISPLAY"):
        pytest.fail(NEEDS_X, pytrace=False)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("GDAPP_SETTINGS", str(tmp_path / "settings.ini"))
    # molecules on the exact harmonic-prior predictor: timings and stereo independent of the
    # network (test_app_entry runs the self-test with the bundled molecule model)
    monkeypatch.setenv("GDAPP_MODELS", "lattice")


@pytest.fixture
def window(qtbot):
    """The main window with the demo molecule loaded and its forward trajectory done."""
    from gui_helpers import open_main_window

    yield from open_main_window(qtbot, (1200, 800))
