"""The first-run window's layout, checked the way ``packaging/smoke.sh`` checks the bundle,
without building it (issue 14).

The packaged app failed its own smoke check: started with an empty HOME, its mode-energy
dock opened ~80 px wide and the 3D view was pushed out of the centre of the window
(``check_screenshot.py``: "the centre is not the dark 3D view"), while the same self-test
from the checkout passed. The difference was the installation path: the bundle's
resources live under ``/tmp/gdapp-smoke.*/gdapp-linux-x86_64/app/_internal/``, the
training panel listed its configs by full path, and that (hidden) tab's minimum width
decided the right dock's (docs/packaging.md, "First-run layout").

``test_first_run_self_test_in_a_clean_environment`` runs the frozen entry point
(``packaging/launcher.py --self-test``) as smoke.sh runs the bundle: ``env -i``-like
environment, an empty HOME, the working directory outside the checkout, and the
resources copied under a bundle-like path longer than the bundle's own. It then applies
``check_screenshot.py`` to ``window.png`` and requires the 3D view to be the widest part
of the window, near its centre. ``test_wide_text_in_a_dock_tab_does_not_push_the_view_aside``
puts such text into the main window directly (before and after it is shown).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch  # noqa: F401  (before Qt)

ROOT = Path(__file__).resolve().parents[2]
# where packaging/build.sh's archive puts the resources, below the folder it is unpacked in
BUNDLE_RESOURCES = Path("gdapp-linux-x86_64", "app", "_internal", "resources")
# a config path as the bundle listed it in the training panel before the fix
BUNDLE_CONFIG_PATH = ("/tmp/gdapp-smoke.AbC123/gdapp-linux-x86_64/app/_internal/resources/"
                      "configs/lattice_small.yaml")


def _check_screenshot():
    spec = importlib.util.spec_from_file_location("check_screenshot",
                                                  ROOT / "packaging" / "check_screenshot.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _needs_display():
    if not os.environ.get("DISPLAY"):
        pytest.fail("needs an X display: run under xvfb-run (tools/run-tests.sh does)",
                    pytrace=False)


def test_first_run_self_test_in_a_clean_environment(tmp_path):
    _needs_display()
    unpacked = tmp_path / "gdapp-smoke.first-run"        # like smoke.sh's mktemp folder
    resources = unpacked / BUNDLE_RESOURCES
    shutil.copytree(ROOT / "resources", resources)
    home, out = unpacked / "home", unpacked / "out"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "DISPLAY": os.environ["DISPLAY"],
           "QT_QPA_PLATFORM": "xcb",                    # as the archive's gdapp launcher sets
           "GDAPP_RESOURCES": str(resources),           # the bundle's copy, not the checkout's
           "PYTHONPATH": str(ROOT)}                     # the bundle carries gdapp and engine
    xauth = os.environ.get("XAUTHORITY") or str(Path.home() / ".Xauthority")
    if Path(xauth).is_file():                           # xvfb-run's (or the desktop's) cookie
        env["XAUTHORITY"] = xauth
    proc = subprocess.run([sys.executable, str(ROOT / "packaging" / "launcher.py"),
                           "--self-test", str(out)], cwd=unpacked, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0 and "gdapp self-test passed" in proc.stdout, \
        (proc.stdout + proc.stderr)[-3000:]

    cs = _check_screenshot()
    png = out / "window.png"
    ok, message = cs.check(png)
    assert ok, message                       # smoke.sh's check of the packaged app
    stats = cs.analyse(png)
    width = stats["size"][0]
    x0, x1 = stats["view_columns"]
    view, left, right = x1 - x0 + 1, x0, width - 1 - x1
    assert view > left and view > right, f"3D view {view} px, docks {left} / {right} px: {message}"
    assert view >= 0.4 * width, f"3D view {view} of {width} px: {message}"
    assert abs((x0 + x1) / 2 - width / 2) < 0.15 * width, f"3D view off centre: {message}"


def test_wide_text_in_a_dock_tab_does_not_push_the_view_aside(qtbot, monkeypatch, tmp_path):
    """Text wider than the window can give a dock (an installation path, in a tab that is
    not shown) neither widens the right dock nor squeezes the mode-energy dock, before or
    after the window is shown."""
    _needs_display()
    monkeypatch.setenv("GDAPP_SETTINGS", str(tmp_path / "settings.ini"))   # first run
    monkeypatch.setenv("GDAPP_MODELS", "lattice")
    from PySide6.QtWidgets import QLabel

    from engine import api
    from gdapp.views.layout import LEFT_DOCK_MIN, SIDE_DOCK_MAX_MIN
    from gdapp.views.main_window import MainWindow

    # a config whose listed name is as wide as the bundle's full paths were (~600 px)
    shipped = api.training_configs()
    long_config = tmp_path / (BUNDLE_CONFIG_PATH.strip("/").replace("/", "_"))
    shutil.copy(shipped[0], long_config)
    monkeypatch.setattr(api, "training_configs", lambda: [*shipped, long_config])
    win = MainWindow()
    qtbot.addWidget(win)
    assert win.training.config_box.findText(long_config.stem) >= 0

    def layout_ok():
        left, right = win.docks["spectrum"], win.docks["steering"]
        view = win.viewer
        return (win.width() == 1280 and left.width() >= LEFT_DOCK_MIN
                and right.width() <= SIDE_DOCK_MAX_MIN + 20
                and view.width() > max(left.width(), right.width())
                and view.width() >= 0.4 * win.width())

    def describe():
        return (f"window {win.width()}, mode energies {win.docks['spectrum'].width()}, "
                f"3D view {win.viewer.width()}, right dock {win.docks['steering'].width()}")

    with qtbot.waitExposed(win):   # a context manager: called bare it waits for nothing
        win.show()
    for _ in range(50):                                    # up to 5 s for the layout
        if layout_ok():
            break
        qtbot.wait(100)
    qtbot.wait(300)                                        # and it stays so
    assert layout_ok(), describe()

    wide = QLabel(BUNDLE_CONFIG_PATH.replace("/", "_") * 2)   # one unbreakable word, ~1000 px
    win.training.layout().addWidget(wide)
    assert wide.minimumSizeHint().width() > 800
    qtbot.wait(300)
    assert layout_ok(), describe()
    win.close()
