import math

import numpy as np
import pytest
import scipy.integrate
import torch

from engine.graphs import grid_edges, grid_laplacian, laplacian_from_edges
from engine.process import CosineSchedule, LinearSchedule, make_schedule


@pytest.mark.parametrize("shape", [(6,), (4, 5), (3, 4, 2)])
def test_grid_laplacian_matches_edge_list_construction(shape):
    L = grid_laplacian(shape)
    n = int(np.prod(shape))
    ref = laplacian_from_edges(n, grid_edges(shape))
    assert abs(L - ref).max() == 0
    assert np.allclose(np.asarray(L.sum(axis=1)).ravel(), 0)
    # Neumann: a corner site has one neighbour per axis
    assert L[0, 0] == len(shape) - sum(1 for s in shape if s == 1)


def test_grid_laplacian_accepts_int_and_rejects_bad_shapes():
    assert grid_laplacian(5).shape == (5, 5)
    for bad in [(0,), (2, 3, 4, 5), (-1, 2)]:
        with pytest.raises(ValueError):
            grid_laplacian(bad)


def test_laplacian_from_edges_weights_and_duplicates():
    L = laplacian_from_edges(3, [(0, 1), (1, 2), (0, 1)], [1.0, 2.0, 0.5]).toarray()
    assert np.allclose(L, [[1.5, -1.5, 0], [-1.5, 3.5, -2.0], [0, -2.0, 2.0]])
    assert laplacian_from_edges(4, []).nnz == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n=3, edges=[(0, 1)], weights=[-1.0]), "negative"),
        (dict(n=3, edges=[(1, 1)]), "self-loop"),
        (dict(n=3, edges=[(0, 3)]), "outside"),
        (dict(n=3, edges=[(0, -1)]), "outside"),
        (dict(n=3, edges=[(0, 1, 2)]), "shape"),
        (dict(n=3, edges=[(0, 1)], weights=[1.0, 2.0]), "weights"),
        (dict(n=3, edges=[(0, 1)], weights=[float("nan")]), "not finite"),
        (dict(n=3, edges=[(0, 1)], weights=[1.0], symmetric_input=True), "not symmetric"),
        (dict(n=3, edges=[(0, 1), (1, 0)], weights=[1.0, 2.0], symmetric_input=True), "not symmetric"),
    ],
)
def test_laplacian_from_edges_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        laplacian_from_edges(**kwargs)


def test_symmetric_input_accepted_when_symmetric():
    L = laplacian_from_edges(3, [(0, 1), (1, 0)], [2.0, 2.0], symmetric_input=True).toarray()
    assert np.allclose(L, [[2, -2, 0], [-2, 2, 0], [0, 0, 0]])


@pytest.mark.parametrize("schedule", [LinearSchedule(0.1, 20.0), LinearSchedule(3.0, 3.0),
                                      CosineSchedule(), CosineSchedule(0.0, 25.0)])
def test_schedule_integral_is_integral_of_beta(schedule):
    for t in [0.0, 0.1, 0.5, 0.93, 1.0]:
        quad, _ = scipy.integrate.quad(schedule.beta, 0.0, t, epsabs=1e-13, epsrel=1e-12)
        assert math.isclose(schedule.integral(t), quad, rel_tol=1e-9, abs_tol=1e-12)
        assert schedule.beta(t) > 0 or (t == 0 and isinstance(schedule, CosineSchedule) and schedule.s == 0)
    tt = torch.linspace(0, 1, 11, dtype=torch.float64)
    assert torch.allclose(schedule.integral(tt), torch.tensor([schedule.integral(float(x)) for x in tt],
                                                              dtype=torch.float64))


def test_cosine_schedule_reaches_its_end_and_bad_schedules_fail():
    assert math.isclose(CosineSchedule(0.008, 12.0).integral(1.0), 12.0, rel_tol=1e-12)
    assert isinstance(make_schedule("cosine", integral_end=5.0), CosineSchedule)
    with pytest.raises(ValueError):
        LinearSchedule(0.0, 1.0)
    with pytest.raises(ValueError):
        make_schedule("exponential")
