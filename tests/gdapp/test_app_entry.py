"""``gdapp --self-test DIR`` end to end, the command line, and persisted settings."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from gui_helpers import foreground_fraction
from PIL import Image


def _run(args, tmp_path, **env):
    e = dict(os.environ, GDAPP_SETTINGS=str(tmp_path / "s.ini"), QT_QPA_PLATFORM="xcb", **env)
    return subprocess.run([sys.executable, "-m", "gdapp", *args], capture_output=True, text=True,
                          timeout=300, env=e)


def test_self_test_writes_window_png_and_exits_0(tmp_path):
    out = tmp_path / "st"
    proc = _run(["--self-test", str(out)], tmp_path, GDAPP_MODELS="molecule,lattice")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "self-test passed" in proc.stdout
    assert "molecule_egnn.pt" in proc.stdout  # the bundled model drove the animation
    img = np.asarray(Image.open(out / "window.png"))[..., :3]
    assert img.shape[0] > 400 and img.shape[1] > 600
    # the composited 3D view shows the dark background with atoms drawn on it
    from gdapp.views.viewer import BACKGROUND
    bg = (np.abs(img.astype(float) - np.array(BACKGROUND) * 255).sum(-1) < 10).mean()
    assert bg > 0.05 and foreground_fraction(img) > 0.5


def test_self_test_fails_with_a_message_when_the_demo_is_missing(tmp_path):
    empty = tmp_path / "res"
    (empty / "molecules").mkdir(parents=True)
    proc = _run(["--self-test", str(tmp_path / "st")], tmp_path, GDAPP_RESOURCES=str(empty))
    assert proc.returncode != 0
    assert "FAILED" in proc.stderr and "celecoxib" in proc.stderr
    assert not (tmp_path / "st" / "window.png").exists()


def test_help_lists_the_self_test_option():
    from gdapp.__main__ import build_parser

    text = build_parser().format_help()
    assert "--self-test" in text and "FILE" in text.upper()


def test_settings_persist_across_windows(qtbot):
    from gdapp.views.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.set_style("licorice")
    win.player.set_fps(12)
    win.player.set_mode("bounce")
    win.menus.act_dynamic.setChecked(False)
    win.menus.toggle_dynamic(False)
    win.settings.last_folder = "/tmp"
    win.close()
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.viewer.style == "licorice" and again.menus.style_actions["licorice"].isChecked()
    assert again.player.speed.value() == 12 and again.player.mode == "bounce"
    assert again.viewer.dynamic is False and not again.menus.act_dynamic.isChecked()
    assert again.settings.last_folder == "/tmp"
    again.close()


def test_python_garbage_is_collected_on_the_gui_thread_only(qapp):
    """Automatic collection is off and a GUI-thread timer collects: a collection on a
    worker thread that frees Qt objects deadlocked the app against the GUI thread."""
    import gc
    import threading

    from gdapp.app import collect_garbage_on_the_gui_thread, make_app

    assert make_app() is qapp
    collector = qapp._gdapp_garbage_collector
    collect_garbage_on_the_gui_thread(qapp)                   # idempotent
    assert qapp._gdapp_garbage_collector is collector
    assert not gc.isenabled() and collector.timer.isActive()
    assert collector.timer.thread() is qapp.thread() and threading.current_thread() is threading.main_thread()
