"""Issue 14: a SMILES with a counter-ion opens its largest fragment and the status bar says so."""
from __future__ import annotations


def test_a_salt_opens_its_largest_fragment_and_the_status_bar_says_so(window, qtbot):
    window.smiles_edit.setText("C[NH3+].[Cl-]")
    with qtbot.waitSignal(window.structureLoaded, timeout=30000):
        window.smiles_edit.returnPressed.emit()
    assert window.state.structure.n == 8                    # methylammonium with its hydrogens
    assert 17 not in window.state.structure.atomic_numbers.tolist()
    message = window.statusBar().currentMessage()
    assert "kept the largest fragment" in message and "removed [Cl-]" in message
