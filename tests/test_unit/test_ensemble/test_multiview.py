"""Multi-view EKS: views of one keypoint constrain each other through a shared latent."""

from __future__ import annotations

import numpy as np
import pytest

from napari_lightning_pose.ensemble.multiview import build_view_model, smooth_multiview
from napari_lightning_pose.ensemble.singleview import smooth_singleview
from napari_lightning_pose.ensemble.stats import ensemble_stats


@pytest.fixture
def two_views():
    """Two paws in 3-D seen from the top (x, z) and in a mirror from below (x, y).

    Keypoints: 0, 1 = top view of paws A, B; 2, 3 = bottom view of paws A, B.
    Returns truth (T, 4, 2), members (5, T, 4, 2), likelihood (5, T, 4).
    """
    rng = np.random.default_rng(7)
    n = 800
    pos = np.cumsum(rng.normal(0, 0.6, size=(n, 2, 3)), axis=0) + np.array([100.0, 60.0, 30.0])
    top = np.stack([pos[..., 0], pos[..., 2]], axis=-1)  # (T, 2 paws, 2)
    bottom = np.stack([pos[..., 0] + 5.0, 250.0 - pos[..., 1]], axis=-1)
    truth = np.concatenate([top, bottom], axis=1)
    members = truth[None] + rng.normal(0, 2.0, size=(5, *truth.shape))
    return truth, members, np.full(members.shape[:-1], 0.9)


VIEWS = [[0, 1], [2, 3]]


def test_model_finds_the_shared_three_dimensional_latent(two_views):
    _, members, lik = two_views
    model = build_view_model(ensemble_stats(members, lik), VIEWS)
    assert model.emission.shape == (2, 4, 3) and model.obs.shape == (2, 800, 4)
    # the x of both views is the same physical x: PCA must tie the two columns together
    for g in range(2):
        c = model.emission[g]
        x_top, x_bottom = c[0], c[2]
        cos = x_top @ x_bottom / np.linalg.norm(x_top) / np.linalg.norm(x_bottom)
        assert cos > 0.99
        assert np.abs(model.step_cov[g]).max() == pytest.approx(1.0)


def test_a_hidden_view_is_recovered_from_the_other(two_views):
    truth, members, lik = two_views
    members = members.copy()
    members[:, 400:440, 2] = np.nan  # paw A vanishes from the bottom view for 40 frames
    lik = np.where(np.isnan(members[..., 0]), np.nan, lik)
    stats = ensemble_stats(members, lik)
    multi = smooth_multiview(stats, VIEWS, 1.0)
    single = smooth_singleview(stats, 1.0)
    assert multi.keypoints == [0, 2, 1, 3]
    col = multi.keypoints.index(2)
    gap = slice(400, 440)
    # bottom-view x equals top-view x + 5: the top view pins it down
    err_multi = np.abs(multi.xy[gap, col, 0] - truth[gap, 2, 0]).mean()
    err_single = np.abs(single.xy[gap, 2, 0] - truth[gap, 2, 0]).mean()
    assert err_multi < 0.5 * err_single
    assert multi.posterior_var[gap, col, 0].mean() < 0.3 * single.posterior_var[gap, 2, 0].mean()
    # its y is seen in no view: both can only bridge it, and both say so
    assert multi.posterior_var[420, col, 1] > 3 * np.median(multi.posterior_var[:, col, 1])


def test_views_improve_on_the_median_everywhere(two_views):
    truth, members, lik = two_views
    stats = ensemble_stats(members, lik)
    multi = smooth_multiview(stats, VIEWS, "auto")
    order = multi.keypoints
    err = np.sqrt(((multi.xy - truth[:, order]) ** 2).sum(-1).mean())
    err_median = np.sqrt(((stats.center - truth) ** 2).sum(-1).mean())
    assert err < 0.6 * err_median
    assert len(multi.fits) == 2 and multi.smoothing.shape == (4,)
    np.testing.assert_array_equal(multi.smoothing[:2], multi.fits[0].smoothing)


def test_group_without_complete_frames_is_refused(two_views):
    _, members, lik = two_views
    members = members.copy()
    members[:, :, 3] = np.nan
    with pytest.raises(ValueError, match="no frame where every view"):
        smooth_multiview(ensemble_stats(members, lik), VIEWS, 1.0)


def test_a_view_that_copies_another_exactly_is_still_smoothed(two_views):
    """Rank-deficient views (the mirror adds no information) must not break the model."""
    _, members, lik = two_views
    copied = members.copy()
    copied[:, :, 2:] = members[:, :, :2] + 50.0  # bottom view = top view shifted
    out = smooth_multiview(ensemble_stats(copied, lik), VIEWS, 1.0)
    assert np.isfinite(out.xy).all() and np.isfinite(out.posterior_var).all()
    np.testing.assert_allclose(out.xy[:, 1], out.xy[:, 0] + 50.0, atol=1e-6)
