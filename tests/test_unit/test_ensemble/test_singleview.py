"""Single-view EKS on synthetic ensembles whose ground truth we know."""

from __future__ import annotations

import numpy as np
import pytest

from napari_lightning_pose.ensemble import kalman
from napari_lightning_pose.ensemble.singleview import series_from_stats, smooth_singleview
from napari_lightning_pose.ensemble.stats import ensemble_stats
from napari_lightning_pose.ensemble.tuning import constant_search_variance


def rmse(a, b):
    return float(np.sqrt(np.nanmean(np.sum((a - b) ** 2, axis=-1))))


@pytest.fixture
def scene(eks_tools):
    truth = eks_tools.truth(600, 3, step_sd=0.7, seed=0)
    members = eks_tools.members(truth, 5, noise_sd=3.0, seed=1)
    return truth, members, np.full(members.shape[:-1], 0.9)


@pytest.mark.parametrize("smoothing", ["auto", 2.0])
def test_smoothed_error_is_below_the_ensemble_median_error(scene, smoothing):
    truth, members, lik = scene
    stats = ensemble_stats(members, lik)
    out = smooth_singleview(stats, smoothing)
    assert out.xy.shape == truth.shape and out.posterior_var.shape == truth.shape
    assert rmse(out.xy, truth) < 0.75 * rmse(stats.center, truth)


def test_posterior_variance_covers_the_actual_error(scene):
    truth, members, lik = scene
    out = smooth_singleview(ensemble_stats(members, lik), "auto")
    z = np.abs(out.xy - truth) / np.sqrt(out.posterior_var)
    assert np.mean(z < 2) > 0.9  # at least the nominal 95 % minus slack


def test_nan_run_is_bridged_with_growing_variance(scene):
    truth, members, lik = scene
    members = members.copy()
    members[:, 300:330, 0] = np.nan  # no member sees keypoint 0 for 30 frames
    out = smooth_singleview(ensemble_stats(members, lik), "auto")
    assert np.isfinite(out.xy).all() and np.isfinite(out.posterior_var).all()
    var = out.posterior_var[:, 0, 0]
    assert var[315] > 3 * np.median(var)
    assert (np.diff(var[300:315]) > 0).all() and (np.diff(var[315:330]) < 0).all()
    # the bridge stays within a few posterior sd of the truth
    err = np.abs(out.xy[300:330, 0] - truth[300:330, 0])
    assert (err < 4 * np.sqrt(out.posterior_var[300:330, 0])).all()
    # keypoints 1, 2 are unaffected by keypoint 0's gap
    ref = smooth_singleview(ensemble_stats(np.delete(members, 0, 2), lik[..., 1:]), "auto")
    np.testing.assert_allclose(out.xy[:, 1:], ref.xy, atol=1e-9)


def test_members_that_disagree_wildly_raise_the_variance(scene):
    truth, members, lik = scene
    members = members.copy()
    members[0, 400:406, 1] += 60.0  # one member jumps to another paw
    members[1, 400:406, 1] -= 45.0
    out = smooth_singleview(ensemble_stats(members, lik), 2.0)
    var = out.posterior_var[:, 1].sum(axis=-1)
    assert var[400:406].min() > 2 * np.median(var)
    assert 400 <= np.argmax(var[10:-10]) + 10 < 406  # the most uncertain stretch
    assert np.abs(out.xy[400:406, 1] - truth[400:406, 1]).max() < 8.0


def test_one_member_is_smoothed_by_its_confidence(scene):
    truth, members, _ = scene
    single = members[:1].copy()
    lik = np.full(single.shape[:-1], 0.95)
    single[0, 200, 2] += 50.0  # a glitch the network itself doubted
    lik[0, 200, 2] = 0.001
    out = smooth_singleview(ensemble_stats(single, lik), "auto")
    assert np.abs(out.xy[200, 2] - truth[200, 2]).max() < 6.0
    assert out.posterior_var[200, 2].min() > 2 * np.median(out.posterior_var[:, 2])


def test_auto_smoothing_is_the_likelihood_maximum(scene):
    _, members, lik = scene
    stats = ensemble_stats(members, lik)
    out = smooth_singleview(stats, "auto")
    obs, var = series_from_stats(stats, [0])
    search = constant_search_variance(var)
    mean, prior_var = np.nanmean(obs[..., 0], axis=1), np.nanvar(obs[..., 0], axis=1)

    def loglik(s):
        model = kalman.scalar_model(np.full(2, s), mean, prior_var)
        return kalman.log_likelihood(model, obs, search).sum()

    s = out.smoothing[0]
    assert out.fits[0].smoothing == s
    assert out.fits[0].log_likelihood == pytest.approx(loglik(s))
    assert loglik(s) >= max(loglik(1.1 * s), loglik(s / 1.1))
    assert out.fits[0].n_evaluations <= 20


def test_per_keypoint_values_and_subset(scene):
    _, members, lik = scene
    stats = ensemble_stats(members, lik)
    both = smooth_singleview(stats, [1.0, 50.0], keypoints=[2, 0])
    assert both.keypoints == [2, 0]
    alone = smooth_singleview(stats, 50.0, keypoints=[0])
    np.testing.assert_allclose(both.xy[:, 1], alone.xy[:, 0])
    # smaller s -> smoother: less frame-to-frame motion
    rough = np.abs(np.diff(smooth_singleview(stats, 50.0, [2]).xy, axis=0)).mean()
    smooth = np.abs(np.diff(both.xy[:, 0], axis=0)).mean()
    assert smooth < rough
