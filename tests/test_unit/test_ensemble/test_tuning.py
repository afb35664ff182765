"""The smoothing-parameter search finds the likelihood maximum within its bounds."""

from __future__ import annotations

import numpy as np
import pytest

from napari_lightning_pose.ensemble.tuning import (
    LOG_SMOOTHING_BOUNDS,
    MIN_SEARCH_VAR,
    constant_search_variance,
    fit_smoothing,
)


def test_finds_an_interior_maximum():
    fit = fit_smoothing(lambda s: -((np.log(s) - np.log(3.7)) ** 2) + 12.0)
    assert fit.smoothing == pytest.approx(3.7, rel=0.01)
    assert fit.log_likelihood == pytest.approx(12.0, abs=1e-4)
    assert fit.n_evaluations < 30


def test_stops_at_the_bounds():
    fit = fit_smoothing(lambda s: np.log(s))  # always wants more
    assert np.log(fit.smoothing) == pytest.approx(LOG_SMOOTHING_BOUNDS[1], abs=0.01)


def test_non_finite_likelihood_is_avoided():
    fit = fit_smoothing(lambda s: -np.inf if s < 1 else -((np.log(s) - 2.0) ** 2))
    assert np.log(fit.smoothing) == pytest.approx(2.0, abs=0.01)


def test_constant_search_variance():
    var = np.array(
        [[[1.0], [5.0], [3.0], [np.nan], [np.inf]], [[0.0], [0.0], [0.0], [0.0], [0.0]]]
    )
    out = constant_search_variance(var)
    np.testing.assert_array_equal(out[0, :3, 0], 3.0)  # median over observed frames
    assert np.isinf(out[0, 3:, 0]).all()  # unobserved stays unobserved
    np.testing.assert_array_equal(out[1, :, 0], MIN_SEARCH_VAR)  # floored
