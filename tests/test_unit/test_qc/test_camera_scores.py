"""Outlier scores of several cameras: the worst camera per frame, and reprojection error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_lightning_pose.ensemble.projection import project
from napari_lightning_pose.ensemble.synthetic_rig import random_walk_3d, ring_rig
from napari_lightning_pose.qc.camera_scores import (
    camera_scores_from_files,
    combine_cameras,
    reprojection_error,
)
from napari_lightning_pose.qc.outlier_ranking import rank_outliers
from napari_lightning_pose.qc.scores import OutlierScores

from ..test_viewer.camera_rig import CAMERAS, HOT, KEYPOINTS, SHIFT


def test_reprojection_error_is_zero_for_consistent_views_and_finds_the_odd_one() -> None:
    rig = ring_rig(["a", "b", "c", "d"])
    truth = random_walk_3d(20, 2, seed=1)
    pixels = np.stack([project(cam, truth) for cam in rig])
    worst, _ = reprojection_error(rig, pixels)
    assert np.nanmax(worst) < 1e-6
    pixels[2, 5, 1] += (20.0, 0.0)  # camera c sees keypoint 1 elsewhere at frame 5
    pixels[0, 9, 0] = np.nan  # camera a misses a point: the other three still triangulate
    pixels[:3, 11, 0] = np.nan  # only one camera: no error
    worst, which = reprojection_error(rig, pixels)
    assert np.nanargmax(worst) == 5 * 2 + 1 and which[5, 1] == 2
    assert 5 < worst[5, 1] < 20  # least squares shares the error with the other views
    assert worst[9, 0] < 1e-6 and np.isnan(worst[11, 0]) and which[11, 0] == -1


def _scores(values: np.ndarray, name: str = "posterior_sd") -> OutlierScores:
    table = pd.DataFrame(values, columns=["a", "b"])
    return OutlierScores({name: table}, table, [], {name: table})


def test_each_frame_takes_its_worst_camera() -> None:
    top = _scores(np.array([[1.0, 0.0], [0.0, 0.0], [5.0, np.nan]]))
    side = _scores(np.array([[0.0, 0.0], [0.0, 3.0], [2.0, np.nan]]))
    out = combine_cameras({"top": top, "side": side})
    np.testing.assert_array_equal(out.combined.to_numpy(), [[1, 0], [0, 3], [5, np.nan]])
    assert out.views.loc[1, "b"] == "side" and out.views.loc[2, "a"] == "top"
    ranked = rank_outliers(out)
    assert list(ranked["frame"]) == [2, 1, 0] and list(ranked["camera"]) == ["top", "side", "top"]
    assert "worst of 2 cameras" in out.notes[0] and "no reprojection" in out.notes[-1]
    other = OutlierScores({}, pd.DataFrame(np.zeros((3, 1)), columns=["c"]))
    with pytest.raises(Exception, match="keypoints"):
        combine_cameras({"top": top, "front": other})


def test_rig_frames_rank_by_worst_camera_and_by_reprojection(rig) -> None:
    from napari_lightning_pose.viewer.camera_layers import find_camera_session

    session = find_camera_session(rig["out_dir"])
    plain = camera_scores_from_files(session.smoothed, session.members)
    assert "reprojection_error" not in plain.scores
    top = rank_outliers(plain).iloc[0]
    assert (top["frame"], top["camera"]) == (HOT.frame, HOT.camera)  # the members disagree
    scores = camera_scores_from_files(session.smoothed, session.members, session.calibration)
    repro = scores.scores["reprojection_error"]
    assert repro.shape == (30, len(KEYPOINTS))
    # the shifted camera's medians cannot be the same 3-D point as the others'
    assert repro.stack().idxmax() == (SHIFT.frame, KEYPOINTS[SHIFT.keypoint])
    assert SHIFT.px / 3 < repro.iloc[SHIFT.frame, SHIFT.keypoint] < SHIFT.px
    assert np.median(repro.to_numpy()) < 1.0  # elsewhere within the members' noise
    by_repro = rank_outliers(scores, by="reprojection_error").iloc[0]
    assert (by_repro["frame"], by_repro["camera"]) == (SHIFT.frame, SHIFT.camera)
    ranked = rank_outliers(scores)
    assert {HOT.frame, SHIFT.frame} == set(ranked["frame"].iloc[:2])
    assert set(ranked["camera"]) <= set(CAMERAS)
