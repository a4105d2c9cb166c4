"""The analysis controller (ETKDG comparison, quality checks) driven without a window."""
from __future__ import annotations

import numpy as np


def _controller(qtbot):
    from engine import api
    from gdapp.controller import AnalysisController
    from gdapp.state import AppState

    state = AppState()
    state.set_structure(api.structure_from_smiles("CC(=O)Oc1ccccc1C(=O)O"))
    controller = AnalysisController(state)
    return state, controller


def test_quality_check_without_a_window(qtbot):
    state, controller = _controller(qtbot)
    coords = state.structure.positions
    with qtbot.waitSignal(controller.qualityReady, timeout=60000) as ready:
        job = controller.check_quality(coords, "input", posebusters=False)
    assert job is not None
    structure, checked, label, rows = ready.args
    assert structure is state.structure and label == "input"
    assert np.array_equal(checked, coords)
    names = {r.name: r for r in rows}
    rmsd = next(r for n, r in names.items() if "RMSD" in n)
    assert float(rmsd.value) < 1e-3
    assert any("clashes" in n for n in names)
    controller.runner.shutdown(10.0)


def test_etkdg_comparison_without_a_window(qtbot):
    state, controller = _controller(qtbot)
    texts = []
    controller.rmsdChanged.connect(texts.append)
    with qtbot.waitSignal(state.referenceChanged, timeout=60000):
        assert controller.set_compare(True) is not None
    assert state.reference is not None and state.reference.shape == state.structure.positions.shape
    qtbot.waitUntil(lambda: any("RMSD" in t for t in texts), timeout=30000)
    assert "input ↔ ETKDG" in texts[-1] and "Å" in texts[-1]
    controller.set_compare(False)
    assert state.reference is None and texts[-1] == "—"
    controller.runner.shutdown(10.0)
