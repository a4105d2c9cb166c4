"""Issue 14: the Quality tab shows the seed's lattice metrics per frame."""
from __future__ import annotations

import numpy as np

from engine import api
from engine.metrics.lattice import lattice_frame_metrics


def _numbers(table, column):
    return [float(table.item(r, column).text()) for r in range(table.rowCount())]


def test_lattice_metrics_table_is_filled_per_frame(window, qtbot):
    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=60000,
                          check_params_cb=lambda k: k == "forward"):
        window.build_lattice((12, 12), "spin", seed=1)
    section = window.quality.lattice
    frames = window.state.trajectories["forward"].frames
    qtbot.waitUntil(lambda: section.table.rowCount() == len(frames), timeout=30000)
    assert section.isVisibleTo(window.quality)
    table = section.table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == ["#", "t", "MSE", "‖LS‖²", "energy", "align", "|‖v‖−1|"]
    assert "input" in table.horizontalHeaderItem(2).toolTip()
    assert _numbers(table, 0) == list(range(len(frames)))
    mse, smooth, energy = _numbers(table, 2), _numbers(table, 3), _numbers(table, 4)
    align, norm = _numbers(table, 5), _numbers(table, 6)
    assert mse[0] == 0 and energy[0] == 0 and norm[0] < 1e-6        # frame 0 is the input
    assert mse[-1] > 0.1 and energy[-1] > 0 and smooth[-1] > smooth[0]  # noise: rough, off-unit
    assert align[-1] > align[0] and norm[-1] > 0.05
    assert all(np.isfinite(v) for col in (mse, smooth, energy, align, norm) for v in col)
    # the numbers are the engine's, frame by frame
    s = window.state.structure
    ref = lattice_frame_metrics(frames, s.positions, s.laplacian, s.edges, spin=True)
    assert np.allclose(mse, [r["mse"] for r in ref], rtol=6e-3, atol=1e-6)   # 3 significant digits shown
    assert np.allclose(smooth, [r["smoothness"] for r in ref], rtol=6e-3)

    # a molecule hides the section again
    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=60000,
                          check_params_cb=lambda k: k == "forward"):
        window.open_demo()
    assert not section.isVisibleTo(window.quality) and section.table.rowCount() == 0


def test_non_spin_lattices_have_no_norm_column_values():
    s = api.build_lattice((6, 6), "elastic", seed=0)
    rows = api.lattice_frame_quality(s, [s.positions, s.positions * 2])
    assert rows[0]["mse"] == 0 and rows[1]["mse"] > 0
    assert all(r["norm_error"] is None for r in rows)
