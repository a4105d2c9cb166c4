"""Shared test set-up: Qt tests collect Python garbage on the GUI thread only, as the app
does (gdapp.app.collect_garbage_on_the_gui_thread): a collection on a worker thread that
frees a previous test's window deadlocks against the GUI thread."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _gui_thread_garbage_collection(request):
    if "qtbot" in request.fixturenames or "qapp" in request.fixturenames:
        from gdapp.app import collect_garbage_on_the_gui_thread

        collect_garbage_on_the_gui_thread(request.getfixturevalue("qapp"))
    yield
