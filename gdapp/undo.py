"""Undo / redo of the sampling parameters and the fixed atoms, without widgets.

:class:`ParamsHistory` follows an :class:`gdapp.state.AppState`: a change of the fixed
atoms is one step at once; parameter changes are one step per gesture (the changes within
``merge_ms`` of each other, e.g. a slider dragged or stepped with the arrow keys). A new
structure starts a new, empty history. The main window keeps the Undo / Redo actions and
updates them on ``changed``.
"""
from __future__ import annotations

from dataclasses import asdict

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from gdapp.state import AppState

UNDO_MERGE_MS = 500        # parameter changes within this time are one undo step


class _UndoStep(QUndoCommand):
    """One change of the fixed atoms or of the sampling parameters."""

    def __init__(self, history: ParamsHistory, what: str, old, new, text: str):
        super().__init__(text)
        self.history, self.what, self.old, self.new = history, what, old, new
        self._done = True       # the change has already happened when it is pushed

    def undo(self):
        self.history._apply(self.what, self.old)

    def redo(self):
        if self._done:
            self._done = False
            return
        self.history._apply(self.what, self.new)


class ParamsHistory(QObject):
    """The undo history (a QUndoStack, ``stack``) of ``state``'s parameters and fixed atoms."""

    changed = Signal()      # what can be undone / redone (or its text) may have changed

    def __init__(self, state: AppState, merge_ms: int = UNDO_MERGE_MS, parent=None):
        super().__init__(parent)
        self.state = state
        self.stack = QUndoStack(self)
        self.undoing = False                # True while an undo / redo sets the state
        self._params_committed = state.params
        self._fixed_committed: list = []
        self.timer = QTimer(self)           # runs while a parameter gesture is open
        self.timer.setSingleShot(True)
        self.timer.setInterval(merge_ms)
        self.timer.timeout.connect(self.commit)
        for signal in (self.stack.canUndoChanged, self.stack.canRedoChanged,
                       self.stack.indexChanged):
            signal.connect(self._stack_changed)
        state.structureChanged.connect(self._on_structure)
        state.paramsChanged.connect(self._on_params)
        state.fixedChanged.connect(self._on_fixed)

    def _stack_changed(self, *_):
        try:
            self.changed.emit()
        except RuntimeError:        # the stack emits while the history is being destroyed
            pass

    # ------------------------------------------------------------------ following the state
    def _on_structure(self, structure):
        self._fixed_committed = []
        self.commit()
        self.stack.clear()

    def _on_params(self, params):
        if not self.undoing:
            self.timer.start()          # one undo step per slider gesture
            self.changed.emit()

    def _on_fixed(self, fixed):
        fixed = list(fixed)
        if fixed != self._fixed_committed and not self.undoing and self.state.structure is not None:
            n = len(fixed)
            self.stack.push(_UndoStep(self, "fixed", list(self._fixed_committed), fixed,
                                      f"fixed atoms: {n} {'atom' if n == 1 else 'atoms'}"))
        self._fixed_committed = fixed

    def commit(self):
        """Close the parameter gesture still open: it becomes one undo step."""
        self.timer.stop()
        new = self.state.params
        if new != self._params_committed:
            old = asdict(self._params_committed)
            changed = [k for k, v in asdict(new).items() if old[k] != v]
            self.stack.push(_UndoStep(self, "params", self._params_committed, new,
                                      "change " + ", ".join(changed)))
            self._params_committed = new

    def _apply(self, what, value):
        self.undoing = True
        try:
            if what == "params":
                self.state.set_params(**asdict(value))
                self._params_committed = value
            else:
                self.state.set_fixed(value)
                self._fixed_committed = list(value)
        finally:
            self.undoing = False

    # ------------------------------------------------------------------ undo / redo
    def undo(self) -> str | None:
        """Undo the last step (a gesture still open is one too); its text, or None."""
        self.commit()
        if not self.stack.canUndo():
            return None
        text = self.stack.undoText()
        self.stack.undo()
        return text

    def redo(self) -> str | None:
        """Redo the step undone last; its text, or None."""
        self.commit()
        if not self.stack.canRedo():
            return None
        text = self.stack.redoText()
        self.stack.redo()
        return text

    def can_undo(self) -> bool:
        return self.stack.canUndo() or self.timer.isActive()

    def can_redo(self) -> bool:
        return self.stack.canRedo()

    def undo_text(self) -> str:
        return self.stack.undoText() if self.stack.canUndo() else ""

    def redo_text(self) -> str:
        return self.stack.redoText() if self.stack.canRedo() else ""
