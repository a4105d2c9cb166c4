"""QApplication set-up, the main window, and ``--self-test``."""
from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

import torch  # noqa: F401  (before Qt, see gdapp.__main__)

SELF_TEST_TIMEOUT_S = 240


def _configure_torch():
    """Leave one core to the GUI thread on small machines, and hand the GIL over more
    often (1 ms instead of 5 ms) so a Python-heavy worker cannot delay the event loop."""
    cores = os.cpu_count() or 2
    torch.set_num_threads(max(1, min(8, cores - 1)))
    sys.setswitchinterval(0.001)


def make_app():
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("gdapp")
    app.setOrganizationName("gdapp")
    collect_garbage_on_the_gui_thread(app)
    return app


def collect_garbage_on_the_gui_thread(app) -> None:
    """Python's cyclic garbage collector runs on whichever thread allocates when its
    threshold is crossed. If that is a worker thread and the garbage holds Qt objects
    (a closed window's wrappers), their C++ destructors run there while the GUI thread
    destroys related objects: each waits for the other (a Qt mutex against the GIL), and the
    app hangs; seen in the GUI tests with the "training plan" worker. So automatic
    collection is switched off and a timer on the GUI thread collects instead
    (pyqtgraph's GarbageCollector). Idempotent."""
    if getattr(app, "_gdapp_garbage_collector", None) is not None:
        return
    from pyqtgraph.util.garbage_collector import GarbageCollector

    app._gdapp_garbage_collector = GarbageCollector(interval=0.5)


def freeze_startup_objects() -> None:
    """Take what exists once the window is up out of the garbage collector's reach.

    A full collection traverses every tracked object: ~430,000 after start-up (torch, VTK,
    RDKit, Qt wrappers), 200-320 ms on the GUI thread of a 2-core machine, a stall the user
    sees each time the oldest generation fills (the Denoise responsiveness test caught
    one). Those objects live as long as the app, so they are collected once and frozen
    (``gc.freeze``); a full collection then walks only what was made later. Objects still
    die by reference counting; only cycles among frozen objects are never collected. Once
    per process."""
    import gc

    if getattr(freeze_startup_objects, "done", False):
        return
    gc.collect()
    gc.freeze()
    freeze_startup_objects.done = True  # type: ignore[attr-defined]


def make_window(settings=None):
    from gdapp.views.main_window import MainWindow

    return MainWindow(settings=settings)


def run(file: str | None = None, self_test: str | None = None) -> int:
    _configure_torch()
    try:
        app = make_app()
    except Exception as err:  # noqa: BLE001
        print(f"gdapp: cannot start the GUI: {err}", file=sys.stderr)
        return 2
    window = make_window()
    freeze_startup_objects()
    window.show()
    if self_test:
        return SelfTest(app, window, Path(self_test)).run()
    if file:
        window.open_path(file)
    else:
        window.open_demo()
    return app.exec()


class SelfTest:
    """Load the demo, run one reverse-diffusion animation, save ``DIR/window.png``."""

    def __init__(self, app, window, out_dir: Path):
        self.app, self.window, self.out_dir = app, window, Path(out_dir)
        self.error: str | None = None
        self.code = 1

    def fail(self, message: str):
        if self.error is None:
            self.error = message
        self.app.exit(1)

    def run(self) -> int:
        from PySide6.QtCore import QTimer

        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            print(f"gdapp --self-test: cannot create {self.out_dir}: {err}", file=sys.stderr)
            return 1
        w = self.window
        w.loadFailed.connect(lambda msg: self.fail(f"loading the demo failed: {msg}"))
        w.errorShown.connect(lambda msg: self.fail(f"error: {msg}"))
        w.structureLoaded.connect(lambda _s: QTimer.singleShot(0, self._sample))
        w.structureLoaded.connect(self._watch_first_frame)
        QTimer.singleShot(SELF_TEST_TIMEOUT_S * 1000,
                          lambda: self.fail(f"timed out after {SELF_TEST_TIMEOUT_S} s"))
        QTimer.singleShot(0, w.open_demo)
        self.t0 = time.monotonic()
        code = self.app.exec()
        if code == 0 and self.error is None:
            print(f"gdapp self-test passed: {self.summary}")
            w.close()
            return 0
        print(f"gdapp self-test FAILED: {self.error or f'exit code {code}'}", file=sys.stderr)
        w.close()
        return 1

    def _watch_first_frame(self, _structure):
        """Print the wall-clock time of the first rendered frame showing the structure to
        stderr (packaging/smoke.sh measures the cold start from it)."""
        self.window.structureLoaded.disconnect(self._watch_first_frame)
        ren_win = self.window.viewer.plotter.ren_win

        def done(*_):
            ren_win.RemoveObserver(tag)
            print(f"first frame rendered at unix time {time.time():.3f}", file=sys.stderr)

        tag = ren_win.AddObserver("EndEvent", done)

    def _sample(self):
        w = self.window
        job = w.run_reverse()
        if job is None:
            self.fail("could not start reverse sampling")
            return
        w.state.trajectoryFinished.connect(self._on_finished)

    def _on_finished(self, kind):
        if kind != "reverse":
            return
        buf = self.window.state.trajectory("reverse")
        if buf is None or not buf.complete:
            self.fail("reverse sampling did not complete")
            return
        player = self.window.player
        player.select("reverse")
        player.set_mode("once")
        player.seek(0)
        self.frames_seen = 0
        self.window.state.frameShown.connect(self._count_frame)
        player.timer.timeout.connect(self._check_done)
        player.set_fps(120)
        player.play()

    def _count_frame(self, kind, index):
        self.frames_seen += 1

    def _check_done(self):
        player = self.window.player
        if player.is_playing():
            return
        try:
            player.timer.timeout.disconnect(self._check_done)
        except (RuntimeError, TypeError):
            pass
        buf = self.window.state.trajectory("reverse")
        if player.index != len(buf) - 1:
            self.fail(f"animation stopped at frame {player.index + 1} of {len(buf)}")
            return
        try:
            from gdapp.views.snapshot import grab_window

            path = self.out_dir / "window.png"
            image = grab_window(self.window)
            if not image.save(str(path)):
                raise OSError(f"could not write {path}")
        except Exception as err:  # noqa: BLE001
            self.fail(f"writing window.png failed: {err}\n{traceback.format_exc()}")
            return
        traj = buf.trajectory
        self.summary = (f"{len(buf)} frames ({self.frames_seen} shown), model "
                        f"{traj.model_name!r}, {time.monotonic() - self.t0:.1f} s, wrote {path}")
        self.app.exit(0)
