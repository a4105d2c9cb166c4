"""The app in its corners (issue 27): long names fit the Quality title and the status bar, a
lattice opens framed, a SMILES that fails to open is marked, the loss plot's key covers no
curve, the fast config's button says what its description says, and the packaged app's
corpus cache lies in the user's cache directory (as Qt's QStandardPaths names it)."""
from __future__ import annotations

import numpy as np
from gui_helpers import make_active
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

PEPTIDE = ("CC(C)(C)OC(=O)N[C@@H](Cc1ccccc1)C(=O)N[C@@H](CC(C)C)C(=O)N[C@@H](Cc1c[nH]c2ccccc12)"
           "C(=O)N1CCC[C@H]1C(=O)OCc1ccccc1")


def _open_smiles(window, qtbot, smiles):
    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=120000,
                          check_params_cb=lambda kind: kind == "forward"):
        window.open_smiles(smiles)


def _words_fit(label) -> bool:
    fm = label.fontMetrics()
    return all(fm.horizontalAdvance(word) <= label.width() for word in label.text().split())


def test_a_long_smiles_fits_the_quality_title_and_the_status_bar(window, qtbot):
    bar = window.statusBar()
    said = []       # the message as the structure opens (it times out after 10 s)
    window.structureLoaded.connect(lambda s: said.append(bar.currentMessage()))
    _open_smiles(window, qtbot, PEPTIDE)
    name = window.state.structure.name
    assert len(name) > 80                                   # a SMILES opens under its SMILES
    # the status bar: the message ends with what was opened, and fits beside the labels
    message = said[-1]
    assert message.startswith("opened ") and message.endswith("108 atoms"), message
    room = bar.width() - sum(w.width() for w in window.statusBar().permanent if w.isVisible())
    assert bar.fontMetrics().horizontalAdvance(message) <= room
    # the Quality title: every word fits its width, the full name is its tooltip
    window.docks["quality"].raise_()
    job = window.run_quality(posebusters=False)
    with qtbot.waitSignal(job.finished, timeout=60000):
        pass
    title = window.quality.title
    qtbot.waitUntil(lambda: title.isVisible() and title.width() > 50, timeout=5000)
    assert "frame 1" in title.text() and "…" in title.text() and name not in title.text()
    assert _words_fit(title), (title.width(), title.text())
    assert title.toolTip() == name
    dock = window.docks["quality"]
    assert window.quality.width() <= dock.width()
    # a message longer than the room is cut at its end, the whole text in the tooltip
    long = "wrote " + "/very/long/folder" * 30 + "/file.sdf"
    window.status(long)
    shown = bar.currentMessage()
    assert shown.endswith("…") and shown[:-1] in long and bar.toolTip() == long
    assert bar.fontMetrics().horizontalAdvance(shown) <= room
    # the last run's description keeps to its share of the bar
    window.set_run_status("reverse: " + "ancestral: 2 steps + energy polish + MMFF94, " * 8)
    assert window.run_status.fontMetrics().horizontalAdvance(window.run_status.text()) <= \
        0.36 * window.width()
    assert window.run_status.toolTip().startswith("reverse: ancestral")


def _view_extent(viewer) -> float:
    """How far the scene's bounds reach in view coordinates (1 = the edge of the view)."""
    ren = viewer.plotter.renderer
    b = ren.ComputeVisiblePropBounds()
    reach = 0.0
    for x in b[0:2]:
        for y in b[2:4]:
            for z in b[4:6]:
                ren.SetWorldPoint(x, y, z, 1.0)
                ren.WorldToView()
                reach = max(reach, *np.abs(ren.GetViewPoint()[:2]))
    return reach


def test_a_lattice_opens_framed_in_a_narrow_view(window, qtbot):
    window.steering.auto.setChecked(False)
    window.resize(1000, 900)                   # the 3D view is taller than wide
    qtbot.waitUntil(lambda: window.viewer.height() > window.viewer.width(), timeout=5000)
    with qtbot.waitSignal(window.state.trajectoryFinished, timeout=60000,
                          check_params_cb=lambda kind: kind == "forward"):
        window.build_lattice((16, 16), "spin")
    qtbot.wait(100)
    assert _view_extent(window.viewer) <= 0.95           # nothing cut off at the edges
    assert _view_extent(window.viewer) >= 0.8            # and not lost in the middle
    # the window grows: the framing follows while the camera was not moved
    window.resize(1500, 700)
    qtbot.waitUntil(lambda: window.viewer.width() > window.viewer.height(), timeout=5000)
    qtbot.wait(100)
    assert 0.8 <= _view_extent(window.viewer) <= 0.95
    # moved by the user: kept as it is
    window.viewer.plotter.camera.Azimuth(20)
    moved = window.viewer._camera_state()
    window.resize(1300, 750)
    qtbot.wait(100)
    assert window.viewer._camera_state() == moved


def test_a_smiles_that_fails_stays_marked_until_edited(window, qtbot):
    make_active(qtbot, window)
    box = window.smiles_edit
    box.setFocus()
    box.selectAll()
    QTest.keyClicks(box, "C1CC(")
    with qtbot.waitSignal(window.errorShown, timeout=30000):
        QTest.keyClick(box, Qt.Key_Return)
    window._error_box.close()
    assert window.state.structure.name == "celecoxib"            # the old structure stays ...
    assert box.text() == "C1CC(" and box.property("failed")     # ... and the box says so
    assert "#d23232" in box.styleSheet()
    assert "not opened" in box.toolTip() and "still shows celecoxib" in box.toolTip()
    assert "still shows celecoxib" in window.statusBar().currentMessage()
    # editing the text clears the mark
    box.setFocus()
    QTest.keyClick(box, Qt.Key_Backspace)
    assert not box.property("failed") and box.styleSheet() == "" and box.toolTip() == ""
    # a bad one again, then a good one: the box shows what opened, unmarked
    box.setText("C1CC(")
    with qtbot.waitSignal(window.errorShown, timeout=30000):
        box.returnPressed.emit()
    window._error_box.close()
    assert box.property("failed")
    _open_smiles(window, qtbot, "CCO")
    assert box.text() == "CCO" and not box.property("failed") and box.styleSheet() == ""


def test_the_loss_key_is_above_the_plot_and_the_fast_config_trains_in_seconds(window):
    import pyqtgraph as pg

    panel = window.training
    item = panel.plot.getPlotItem()
    assert item.legend is None
    assert not [i for i in item.vb.allChildren() if isinstance(i, pg.LegendItem)]
    title = item.titleLabel.text
    assert "train" in title and "validation" in title
    assert item.titleLabel.isVisible() and item.titleLabel.sceneBoundingRect().bottom() <= \
        item.vb.sceneBoundingRect().top() + 1
    # "Use small_test" says what small_test's description says
    from engine import api

    info = api.training_config_info(api.resource_path("configs", api.DEFAULT_TRAINING_CONFIG))
    assert "seconds" in info.description
    assert "seconds" in panel.fast_btn.text() and "minutes" not in panel.fast_btn.text()
    assert "corpus" in panel.fast_btn.toolTip()


def test_a_built_corpus_is_named_by_its_last_folders(tmp_path):
    """The plan named a built corpus by its whole path, a word too long for the panel."""
    from engine import api
    from gdapp.views.training import plan_text

    info = api.training_config_info(api.resource_path("configs", "small_test.yaml"))
    folder = tmp_path / ("very-long-folder-name" * 4) / "corpus" / "9eaef8bdd6180984"
    text = plan_text(api.TrainingPlan(info, corpus_dir=folder, corpus_built=True))
    assert text == "Start will train 150 steps on the corpus …/corpus/9eaef8bdd6180984 (built)."


def test_the_user_cache_directory_is_qts(monkeypatch, tmp_path, qapp):
    """engine.resources.user_cache_dir is the folder QStandardPaths.GenericCacheLocation
    names, plus gdapp (the engine cannot ask Qt itself)."""
    from PySide6.QtCore import QStandardPaths

    from engine.resources import user_cache_dir

    monkeypatch.delenv("GDAPP_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    qt = QStandardPaths.writableLocation(QStandardPaths.GenericCacheLocation)
    assert user_cache_dir() == (tmp_path / "xdg" / "gdapp") and qt == str(tmp_path / "xdg")
    monkeypatch.delenv("XDG_CACHE_HOME")
    qt = QStandardPaths.writableLocation(QStandardPaths.GenericCacheLocation)
    assert str(user_cache_dir()) == qt + "/gdapp"
