"""Shared test set-up for Qt tests.

- Python garbage is collected on the GUI thread only, as the app does
  (gdapp.app.collect_garbage_on_the_gui_thread): a collection on a worker thread that frees
  a previous test's window deadlocks against the GUI thread.
- The windows a test opened are destroyed in its own teardown. pytest-qt closes them and
  calls ``deleteLater``, and only an event loop deletes them: that was the next test's
  first ``waitSignal``, while its own window was being built and drawn (CI once died there
  with a segmentation fault, in ``open_main_window``).
"""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _qt_set_up_and_tear_down(request):
    gui = "qtbot" in request.fixturenames or "qapp" in request.fixturenames
    if gui:
        from gdapp.app import collect_garbage_on_the_gui_thread

        collect_garbage_on_the_gui_thread(request.getfixturevalue("qapp"))
    yield
    if gui:
        _destroy_closed_widgets()


def _destroy_closed_widgets():
    """Run the deferred deletions pytest-qt's teardown queued (its widgets were closed and
    ``deleteLater``-ed before the fixtures' teardown, which ends with this), then collect
    the Python wrappers' cycles, which the GUI-thread collector's timer would otherwise
    free during the next test."""
    import gc

    from PySide6.QtCore import QCoreApplication, QEvent

    app = QCoreApplication.instance()
    if app is None:
        return
    app.processEvents()
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    gc.collect()
    app.processEvents()
