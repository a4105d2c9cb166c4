"""The event loop keeps beating while sampling or training runs (QTimer heartbeat; the bound
and why it is above the issue's 100 ms: MAX_GAP_S)."""
from __future__ import annotations

from gui_helpers import Heartbeat
from test_training_panel import _setup, tiny_corpus  # noqa: F401  (fixture)

# The bound is 100 ms. On the slower 2-core machines of this project the window's
# own software-rendered frames (VTK on llvmpipe under Xvfb) take 40-60 ms each beside a
# busy worker: with no worker at all, playing the demo's animation showed gaps of up to
# 147 ms (p99 106 ms), an idle window 23 ms; the sampling test below measured 85-186 ms
# over repeated runs and once 219 ms in a fresh-clone run on the quiet machine (cause not
# found; the end-of-run heat-map stall was, and is fixed). So the bound here is 300 ms;
# the stalls these tests were written for still fail it (RDKit calls holding the GIL for
# seconds), and a full garbage collection on the GUI thread (200-320 ms) has its own test.
MAX_GAP_S = 0.300


def test_event_loop_keeps_beating_while_sampling(window, qtbot):
    window.state.set_params(steps=3000)
    qtbot.wait(200)
    with Heartbeat() as hb:
        with qtbot.waitSignal(window.state.trajectoryFinished, timeout=120000,
                              check_params_cb=lambda k: k == "reverse"):
            window.run_reverse()
        qtbot.wait(100)
    assert len(window.state.trajectory("reverse")) == 3001
    assert len(hb.stamps) > 20
    assert hb.max_gap() < MAX_GAP_S, f"event loop stalled for {hb.max_gap() * 1000:.0f} ms"


def test_a_full_garbage_collection_walks_only_what_came_after_start_up(window):
    """A full collection of the ~400,000 objects alive after start-up took 200-320 ms on
    the GUI thread (the stall the sampling test above caught): they are frozen once the
    window is up, and a full collection walks only what was made since."""
    import gc

    assert gc.get_freeze_count() > 100_000
    gc.collect()
    assert len(gc.get_objects()) < 0.25 * gc.get_freeze_count()


def test_event_loop_keeps_beating_while_training(window, qtbot, tiny_corpus, tmp_path):
    panel, overrides = _setup(window, tiny_corpus, tmp_path, steps=100000)
    reports = []
    panel.controller.progressed.connect(reports.append)
    panel.start(overrides=overrides)
    # measure once training is in its loop (the start-up builds data sets)
    qtbot.waitUntil(lambda: any(r.get("loss") is not None for r in reports), timeout=120000)
    with Heartbeat() as hb:
        # at least 15 training reports and a second of heartbeats (on an idle machine the
        # 15 reports alone can come within a quarter of a second)
        qtbot.waitUntil(lambda: sum(1 for r in reports if r.get("loss") is not None) >= 15
                        and len(hb.stamps) > 100, timeout=120000)
    with qtbot.waitSignal(panel.controller.runEnded, timeout=60000):
        panel.stop()
    assert len(hb.stamps) > 20
    assert hb.max_gap() < MAX_GAP_S, f"event loop stalled for {hb.max_gap() * 1000:.0f} ms"
