"""Ensemble statistics: what the smoother observes and how much it trusts each frame."""

from __future__ import annotations

import numpy as np
import pytest

from napari_lightning_pose.ensemble.stats import LONE_MEMBER_PERCENTILE, ensemble_stats


@pytest.fixture
def members():
    rng = np.random.default_rng(0)
    xy = 50 + 3 * rng.normal(size=(5, 40, 3, 2))
    lik = rng.uniform(0.5, 1.0, size=(5, 40, 3))
    return xy, lik


def test_median_variance_and_confidence(members):
    xy, lik = members
    st = ensemble_stats(xy, lik)
    np.testing.assert_allclose(st.center, np.median(xy, axis=0))
    np.testing.assert_allclose(st.median, np.median(xy, axis=0))
    np.testing.assert_allclose(st.mean, xy.mean(axis=0))
    conf = lik.mean(axis=0)
    np.testing.assert_allclose(st.likelihood, conf)
    # the reference's "confidence weighted" variance: spread divided by mean confidence
    np.testing.assert_allclose(st.variance, xy.var(axis=0) / conf[..., None])
    assert (st.n_valid == 5).all()


def test_mean_and_plain_variance(members):
    xy, lik = members
    st = ensemble_stats(xy, lik, center="mean", confidence_weighted=False)
    np.testing.assert_allclose(st.center, xy.mean(axis=0))
    np.testing.assert_allclose(st.variance, xy.var(axis=0))
    with pytest.raises(ValueError, match="median"):
        ensemble_stats(xy, lik, center="mode")


def test_missing_members_are_left_out_and_count_as_no_confidence(members):
    xy, lik = members
    xy, lik = xy.copy(), lik.copy()
    xy[0, 5, 1] = np.nan  # member 0 made no prediction for keypoint 1 in frame 5
    lik[1, 5, 1] = np.nan  # member 1's confidence is missing: the prediction is dropped too
    st = ensemble_stats(xy, lik)
    assert st.n_valid[5, 1] == 3
    np.testing.assert_allclose(st.center[5, 1], np.median(xy[2:, 5, 1], axis=0))
    assert st.likelihood[5, 1] == pytest.approx(lik[2:, 5, 1].sum() / 5)
    np.testing.assert_allclose(st.variance[5, 1], xy[2:, 5, 1].var(axis=0) / st.likelihood[5, 1])
    # other cells untouched
    np.testing.assert_allclose(st.center[4], np.median(xy[:, 4], axis=0))


def test_frame_without_any_prediction_is_nan(members):
    xy, lik = members
    xy = xy.copy()
    xy[:, 7, 2] = np.nan
    st = ensemble_stats(xy, lik)
    assert np.isnan(st.center[7, 2]).all() and np.isnan(st.variance[7, 2]).all()
    assert st.likelihood[7, 2] == 0.0 and st.n_valid[7, 2] == 0


def test_lone_member_gets_a_high_typical_variance_not_zero(members):
    xy, lik = members
    xy = xy.copy()
    xy[1:, 9, 0] = np.nan  # only member 0 predicted keypoint 0 in frame 9
    st = ensemble_stats(xy, lik)
    others = np.delete(st.variance[:, 0], 9, axis=0)
    np.testing.assert_allclose(
        st.variance[9, 0], np.percentile(others, LONE_MEMBER_PERCENTILE, axis=0)
    )
    np.testing.assert_allclose(st.center[9, 0], xy[0, 9, 0])


def test_single_member_uses_inverse_confidence(members):
    xy, lik = members
    st = ensemble_stats(xy[:1], lik[:1])
    np.testing.assert_allclose(st.center, xy[0])
    np.testing.assert_allclose(st.variance, np.repeat(1.0 / lik[0][..., None], 2, axis=-1))


def test_disagreement_raises_variance(members):
    xy, lik = members
    xy = xy.copy()
    xy[0, 20, 1] += 80.0  # one member far off
    st = ensemble_stats(xy, lik)
    assert st.variance[20, 1, 0] > 20 * np.median(st.variance[:, 1, 0])
    # the median barely moves: one outlier does not drag the observation
    assert abs(st.center[20, 1, 0] - np.median(xy[1:, 20, 1, 0])) < 6


@pytest.mark.parametrize("n_members", [2, 4, 5, 7])
def test_long_ensembles_match_plain_numpy(n_members):
    """Many frames (processed in chunks), any ensemble size, some missing predictions."""
    rng = np.random.default_rng(n_members)
    xy = 100 + 5 * rng.normal(size=(n_members, 9000, 2, 2))
    lik = rng.uniform(0.2, 1.0, size=(n_members, 9000, 2))
    st = ensemble_stats(xy, lik, confidence_weighted=False)
    np.testing.assert_allclose(st.center, np.median(xy, axis=0))
    np.testing.assert_allclose(st.variance, xy.var(axis=0))
    xy[0, 4090:4100, 1] = np.nan  # across a chunk boundary
    st = ensemble_stats(xy, lik, confidence_weighted=False)
    masked = np.where(np.isnan(xy), np.nan, xy)
    np.testing.assert_allclose(st.center, np.nanmedian(masked, axis=0))
    if n_members > 2:
        np.testing.assert_allclose(st.variance, np.nanvar(masked, axis=0))
    assert (st.n_valid[4090:4100, 1] == n_members - 1).all()
