"""Steering EKS: new smoothing values re-fit; a correction pulls the track through itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_lightning_pose.ensemble import smooth_ensemble
from napari_lightning_pose.ensemble.members import EnsembleMembers
from napari_lightning_pose.ensemble.steer import SteerableSmoother, per_keypoint_smoothing
from napari_lightning_pose.errors import LightningPoseInputError


def _ensemble(n_frames: int = 300, n_kp: int = 4, seed: int = 0) -> EnsembleMembers:
    rng = np.random.default_rng(seed)
    truth = 150 + np.cumsum(rng.normal(0, 1.0, (n_frames, n_kp, 2)), axis=0)
    xy = truth[None] + rng.normal(0, 2.0, (4, n_frames, n_kp, 2))
    lik = np.full((4, n_frames, n_kp), 0.9)
    names = [f"k{i}" for i in range(n_kp)]
    return EnsembleMembers(xy, lik, names, pd.RangeIndex(n_frames), [f"m{i}" for i in range(4)])


def _xy(result, keypoint):
    sub = result.frame.xs(keypoint, axis=1, level="bodyparts")
    return sub.xs("x", axis=1, level="coords").iloc[:, 0].to_numpy(), sub.xs(
        "y", axis=1, level="coords"
    ).iloc[:, 0].to_numpy()


def test_same_result_as_smooth_ensemble_and_smoothing_changes_it():
    ens = _ensemble()
    steer = SteerableSmoother(ens)
    a = steer.smooth(2.0).frame
    pd.testing.assert_frame_equal(a, smooth_ensemble(ens, smoothing=2.0).frame)
    b = steer.smooth(0.05).frame
    # smaller s = smoother: smaller frame-to-frame steps
    step_a = np.abs(np.diff(_xy(steer.smooth(2.0), "k0")[0])).mean()
    step_b = np.abs(np.diff(_xy(steer.smooth(0.05), "k0")[0])).mean()
    assert step_b < 0.5 * step_a
    assert not np.allclose(a.to_numpy(), b.to_numpy())
    factors = per_keypoint_smoothing(2.0, {"k1": 0.025}, steer.keypoints)
    c = steer.smooth(factors)
    assert c.smoothing["k1"] == pytest.approx(0.05) and c.smoothing["k0"] == 2.0
    assert np.allclose(_xy(c, "k1")[0], _xy(steer.smooth(0.05), "k1")[0])
    assert np.allclose(_xy(c, "k0")[0], _xy(steer.smooth(2.0), "k0")[0])


def test_correction_pulls_track_through_point_and_fades_with_distance():
    ens = _ensemble()
    steer = SteerableSmoother(ens, image_size=(400, 400))
    before_x, before_y = _xy(steer.smooth(1.0), "k2")
    t = 150
    target = (before_x[t] + 25.0, before_y[t] - 15.0)
    steer.correct(t, "k2", *target)
    after_x, after_y = _xy(steer.smooth(1.0), "k2")
    assert abs(after_x[t] - target[0]) < 0.2 and abs(after_y[t] - target[1]) < 0.2
    change = np.hypot(after_x - before_x, after_y - before_y)
    for d in (1, 3, 10):
        assert change[t - d] < change[t - d + 1] and change[t + d] < change[t + d - 1]
    assert change[t + 60] < 0.05 * change[t]  # far frames untouched
    other = _xy(steer.smooth(1.0), "k1")[0]
    assert np.allclose(other, _xy(SteerableSmoother(ens).smooth(1.0), "k1")[0])
    steer.remove_correction(t, "k2")
    assert np.allclose(_xy(steer.smooth(1.0), "k2")[0], before_x)


def test_correction_in_multiview_moves_the_other_view_too():
    rng = np.random.default_rng(1)
    n = 200
    z = 100 + np.cumsum(rng.normal(0, 1.0, (n, 2)), axis=0)
    top = z
    bot = np.stack([z[:, 0], 300 - 0.8 * z[:, 1]], axis=-1)
    xy = np.stack([top, bot], axis=1)[None] + rng.normal(0, 1.5, (3, n, 2, 2))
    ens = EnsembleMembers(
        xy, np.full((3, n, 2), 0.9), ["a_top", "a_bot"], pd.RangeIndex(n), ["0", "1", "2"]
    )
    steer = SteerableSmoother(ens, views=[["a_top"], ["a_bot"]])
    bx, _ = _xy(steer.smooth(1.0), "a_bot")
    tx, _ = _xy(steer.smooth(1.0), "a_top")
    steer.correct(100, "a_top", tx[100] + 20, z[100, 1])
    ax, _ = _xy(steer.smooth(1.0), "a_bot")
    assert ax[100] - bx[100] > 2  # the bottom view follows the shared latent (partly)


def test_bad_corrections_are_clear_errors():
    steer = SteerableSmoother(_ensemble(), image_size=(200, 100))
    with pytest.raises(LightningPoseInputError, match="outside the 200 x 100 image"):
        steer.correct(10, "k0", 250.0, 50.0)
    with pytest.raises(LightningPoseInputError, match="outside"):
        steer.correct(10, "k0", 50.0, -1.0)
    with pytest.raises(LightningPoseInputError, match="unknown keypoint"):
        steer.correct(10, "nose", 5.0, 5.0)
    with pytest.raises(LightningPoseInputError, match="not in the video"):
        steer.correct(9999, "k0", 5.0, 5.0)
    assert not steer.corrections
