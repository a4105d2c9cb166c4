"""Mode-energy view: follows the player at a bounded rate and ends on the newest frame."""
from __future__ import annotations

import numpy as np

from engine import api


def _trajectory(k=30, n=2000):
    rng = np.random.default_rng(0)
    return api.Trajectory(kind="forward", frames=np.zeros((k, n, 3)),
                          times=np.linspace(0, 1, k), mode_energies=rng.random((k, n)) + 0.1,
                          eigenvalues=np.linspace(0.1, 8, n))


def test_a_burst_of_frames_draws_once_now_and_the_newest_later(qtbot):
    from gdapp.views.spectrum import FRAME_INTERVAL_MS, MAX_CURVE_POINTS, SpectrumView

    view = SpectrumView()
    qtbot.addWidget(view)
    traj = _trajectory()
    view.set_trajectory(traj)
    assert view.frame_index == 0
    drawn = []
    view.curve.sigPlotChanged.connect(lambda *_: drawn.append(view.frame_index))
    for i in range(1, 21):                      # 20 frames far faster than the interval
        view.set_frame(i)
    assert len(drawn) <= 1                      # not one repaint per frame
    qtbot.waitUntil(lambda: view.frame_index == 20, timeout=5 * FRAME_INTERVAL_MS + 2000)
    assert view.cursor.value() == traj.times[20]
    x, y = view.curve.getData()
    log = np.log10(traj.mode_energies[20])
    assert len(x) == MAX_CURVE_POINTS           # 2000 modes binned into 512 points
    # bin i covers [start, start + count) and sits at x = start + (count - 1) / 2
    first = int(round(2 * x[0] + 1))                    # start 0
    last = int(round(2 * x[-1] - (len(log) - 1)))       # ends at the last mode
    assert 3 <= first <= 4 and np.isclose(y[0], log[:first].mean())
    assert np.isclose(y[-1], log[last:].mean())


def test_a_trajectory_without_eigenmodes_is_named_not_plotted(qtbot):
    """Chebyshev-backend trajectories carry zero mode energies: the view says why it is
    empty instead of drawing a flat line at the 1e-12 floor."""
    from gdapp.views.spectrum import SpectrumView

    view = SpectrumView()
    qtbot.addWidget(view)
    view.set_trajectory(_trajectory())
    assert view.trajectory is not None
    traj = api.Trajectory(kind="forward", frames=np.zeros((5, 3000, 3)), times=np.linspace(0, 1, 5),
                          mode_energies=np.zeros((5, 3000)), eigenvalues=np.zeros(3000))
    view.set_trajectory(traj)
    assert view.trajectory is None and "not available for 3,000 nodes" in view.title.text()
    x, _ = view.curve.getData()
    assert x is None or len(x) == 0


def test_modes_without_energy_in_any_frame_are_hidden(qtbot):
    """With λ > 0 the centre-of-mass mode of a molecule has eigenvalue λ (not null) but
    centring leaves it only rounding noise in every frame: it must not show as a spike."""
    from gdapp.views.spectrum import SpectrumView

    view = SpectrumView()
    qtbot.addWidget(view)
    mol = api.structure_from_smiles("CC(=O)Nc1ccc(O)cc1", seed=0)
    traj = api.forward_trajectory(mol, num_frames=8, params=api.ProcessParams(gamma=4.0, lam=0.5))
    assert float(np.asarray(traj.mode_energies).max(axis=0).min()) < 1e-20   # the centred mode
    view.set_trajectory(traj)
    view.flush()
    _, y = view.curve.getData()
    assert len(y) == mol.n - 1 and np.all(y > -8)


def test_a_long_run_is_binned_to_a_bounded_number_of_heat_map_columns(qtbot):
    """3,001 frames (a 3,000-step run) as 3,001 columns stalled the event loop when the run
    finished; the heat map shows at most MAX_IMAGE_COLUMNS column means, in time order."""
    from gdapp.views.spectrum import MAX_IMAGE_COLUMNS, SpectrumView

    view = SpectrumView()
    qtbot.addWidget(view)
    k, n = 3001, 12
    traj = _trajectory(k=k, n=n)
    view.set_trajectory(traj)
    img = view.image.image
    assert img.shape == (n, MAX_IMAGE_COLUMNS)
    log = np.log10(traj.mode_energies).T                  # modes x frames, times ascending
    bins = np.array_split(np.arange(k), MAX_IMAGE_COLUMNS)   # 6 frames a column, then 5
    for c in (0, 1, len(bins) // 2, -1):
        np.testing.assert_allclose(img[:, c], log[:, bins[c]].mean(1))
    short = _trajectory(k=30, n=n)
    view.set_trajectory(short)
    assert view.image.image.shape == (n, 30)              # short runs keep every frame
