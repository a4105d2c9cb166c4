"""The undo history of the sampling parameters and fixed atoms, driven without a window."""
from __future__ import annotations


def _history(qtbot, merge_ms=10_000):
    from engine import api
    from gdapp.state import AppState
    from gdapp.undo import ParamsHistory

    state = AppState()
    state.set_structure(api.structure_from_smiles("CCO"))
    return state, ParamsHistory(state, merge_ms=merge_ms)


def test_undo_restores_the_previous_params_and_redo_reapplies(qtbot):
    state, history = _history(qtbot)
    before = state.params
    assert not history.can_undo() and history.undo() is None
    state.set_params(lambda_E=before.lambda_E + 0.5)
    state.set_params(lambda_E=before.lambda_E + 1.0, steps=before.steps + 5)   # one gesture
    after = state.params
    assert history.can_undo()           # the gesture is still open: Undo is enabled
    assert history.undo() == "change lambda_E, steps"
    assert state.params == before and history.can_redo()
    assert history.redo() is not None
    assert state.params == after
    assert history.redo() is None       # nothing more to redo


def test_gestures_are_one_step_each_and_fixed_atoms_one_step_at_once(qtbot):
    state, history = _history(qtbot, merge_ms=50)
    texts = []
    history.changed.connect(lambda: texts.append(history.undo_text()))
    p0 = state.params
    state.set_params(seed=p0.seed + 1)
    qtbot.waitUntil(lambda: not history.timer.isActive(), timeout=5000)
    p1 = state.params
    assert history.undo_text() == "change seed"
    state.set_fixed([0, 1])
    assert history.undo_text() == "fixed atoms: 2 atoms" and texts[-1] == "fixed atoms: 2 atoms"
    state.set_params(seed=p1.seed + 1)
    assert history.undo() == "change seed"      # the open gesture is committed, then undone
    assert state.params == p1 and state.fixed == [0, 1]
    assert history.undo() == "fixed atoms: 2 atoms"
    assert state.fixed == [] and state.params == p1
    assert history.undo() == "change seed" and state.params == p0
    assert not history.can_undo()
    assert history.redo() == "change seed" and state.params == p1
    assert history.redo() == "fixed atoms: 2 atoms" and state.fixed == [0, 1]


def test_a_new_structure_starts_an_empty_history(qtbot):
    from engine import api

    state, history = _history(qtbot)
    state.set_fixed([2])
    state.set_params(steps=state.params.steps + 1)
    assert history.can_undo()
    state.set_structure(api.structure_from_smiles("CCN"))
    assert not history.can_undo() and not history.can_redo()
    assert not history.timer.isActive()
