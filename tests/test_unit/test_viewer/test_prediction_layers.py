"""Prediction / smoothed CSV -> layer data: plain pytest, no Qt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_lightning_pose.ensemble.smooth import EKS_COORDS, write_smoothed_csv
from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io.pose_csv import make_pose_frame, write_pose_csv
from napari_lightning_pose.viewer.layer_styles import (
    HEAT_COLORS,
    POSTERIOR_SD_LIMITS_PX,
    heat_rgba,
)
from napari_lightning_pose.viewer.layers import xy_skeleton_vectors
from napari_lightning_pose.viewer.prediction_layers import (
    check_frame_count,
    prediction_layer_data,
    prediction_to_points,
    prediction_to_tracks,
    read_pose_track,
)

KEYPOINTS = ["nose", "paw", "tail"]


def smoothed_csv(path: Path, n: int = 12, hot=(7, 1), hot_var: float = 200.0) -> Path:
    """A smoothed CSV with posterior variance 1 px^2 everywhere except ``hot`` (frame, kp)."""
    rng = np.random.default_rng(0)
    values = np.zeros((n, len(KEYPOINTS), len(EKS_COORDS)))
    values[..., 0] = rng.uniform(10, 90, (n, len(KEYPOINTS)))  # x
    values[..., 1] = rng.uniform(10, 70, (n, len(KEYPOINTS)))  # y
    values[..., 2] = 0.9
    values[..., 3:5] = values[..., 0:2]
    values[..., 5:7] = 4.0  # ensemble variance: sd sqrt(8)
    values[..., 7:9] = 0.5  # posterior variance: sd 1 px
    t, k = hot
    values[t, k, 7:9] = hot_var / 2  # sd sqrt(hot_var)
    frame = make_pose_frame(values, KEYPOINTS, EKS_COORDS, scorer="ensemble-kalman_tracker")
    return write_smoothed_csv(frame, path)


def prediction_csv(path: Path, n: int = 12, low=(3, 2)) -> Path:
    values = np.zeros((n, len(KEYPOINTS), 3))
    values[..., 0], values[..., 1], values[..., 2] = 20.0, 30.0, 0.95
    values[low[0], low[1], 2] = 0.05
    values[5, 0, :2] = np.nan  # not predicted
    return write_pose_csv(make_pose_frame(values, KEYPOINTS, ("x", "y", "likelihood")), path)


def test_smoothed_points_features_and_hottest_colour(tmp_path: Path) -> None:
    track = read_pose_track(smoothed_csv(tmp_path / "v.eks.csv"))
    assert track.smoothed and track.color_by == "posterior_sd"
    data, features = prediction_to_points(track)
    assert list(features.columns) == [
        "keypoint",
        "frame",
        "likelihood",
        "posterior_sd",
        "ensemble_sd",
    ]
    assert data.shape == (12 * 3, 3)
    np.testing.assert_allclose(features["ensemble_sd"], np.sqrt(8.0))
    rgba = heat_rgba(features["posterior_sd"], track.contrast_limits)
    hottest = int(np.argmin(rgba[:, 1]))  # the map goes from yellow to red: least green
    assert features["frame"].iloc[hottest] == 7
    assert features["keypoint"].iloc[hottest] == "paw"
    np.testing.assert_allclose(features["posterior_sd"].iloc[hottest], np.sqrt(200.0))
    # sqrt(200) px is over the 10 px limit: the top colour of the map; 1 px is near the bottom
    np.testing.assert_allclose(rgba[hottest], HEAT_COLORS[-1])
    cold = heat_rgba([1.0], POSTERIOR_SD_LIMITS_PX)[0]
    assert cold[1] > 0.9 and cold[0] == pytest.approx(1.0)


def test_napari_points_layer_maps_the_same_colours(tmp_path: Path) -> None:
    """The layer napari builds from the tuple has the hottest face on the worst keypoint and
    the stated contrast limits (the legend reads these)."""
    from napari.layers import Points

    path = smoothed_csv(tmp_path / "v.eks.csv", hot=(4, 2), hot_var=32.0)  # sd = 5.66 px
    data, kwargs, kind = prediction_layer_data(path)[-1]
    assert kind == "points"
    layer = Points(data, **kwargs)
    assert tuple(layer.face_contrast_limits) == POSTERIOR_SD_LIMITS_PX
    feats = layer.features
    hot = int(np.flatnonzero((feats["frame"] == 4) & (feats["keypoint"] == "tail"))[0])
    expected = heat_rgba(feats["posterior_sd"], POSTERIOR_SD_LIMITS_PX)
    np.testing.assert_allclose(layer.face_color, expected, atol=0.02)
    greenness = layer.face_color[:, 1]
    assert int(np.argmin(greenness)) == hot
    # keypoint names are off at first; the layer's "display text" box shows them
    assert not layer.text.visible
    assert list(layer.text.view_text(np.arange(3))) == list(feats["keypoint"][:3])


def test_tracks_share_the_scale_and_order(tmp_path: Path) -> None:
    track = read_pose_track(smoothed_csv(tmp_path / "v.eks.csv"))
    data, features = prediction_to_tracks(track)
    assert data.shape == (36, 4)
    # sorted by track (keypoint) then frame, as napari's Tracks need
    order = np.lexsort((data[:, 1], data[:, 0]))
    np.testing.assert_array_equal(order, np.arange(len(data)))
    scaled = features["posterior_sd_scaled"].to_numpy()
    hot = np.flatnonzero((data[:, 0] == 1) & (data[:, 1] == 7))[0]
    assert scaled[hot] == 1.0 and scaled.argmax() == hot
    np.testing.assert_allclose(np.delete(scaled, hot), 0.1)


def test_plain_predictions_colour_by_likelihood(tmp_path: Path) -> None:
    track = read_pose_track(prediction_csv(tmp_path / "pred.csv"))
    assert not track.smoothed and track.contrast_limits == (0.0, 1.0)
    data, features = prediction_to_points(track)
    assert len(data) == 12 * 3 - 1  # the NaN prediction gives no point
    assert features["posterior_sd"].isna().all()
    rgba = heat_rgba(features["likelihood"], track.contrast_limits, reverse=True)
    worst = int(np.argmin(rgba[:, 1]))
    assert (features["frame"].iloc[worst], features["keypoint"].iloc[worst]) == (3, "tail")


def test_skeleton_vectors_join_the_two_ends(tmp_path: Path) -> None:
    track = read_pose_track(prediction_csv(tmp_path / "pred.csv"))
    edges = [("nose", "tail"), ("nose", "ghost")]
    vec = xy_skeleton_vectors(track.xy, track.keypoints, edges)
    assert vec.shape == (11, 2, 3)  # frame 5 has no nose; the unknown edge is skipped
    assert 5 not in vec[:, 0, 0]
    # a prediction of a frame range: the vectors sit on the range's frame numbers
    shifted = xy_skeleton_vectors(track.xy, track.keypoints, edges, track.frames + 100)
    np.testing.assert_array_equal(shifted[:, 0, 0], vec[:, 0, 0] + 100)
    np.testing.assert_allclose(vec[:, 1], 0.0)  # all keypoints sit at one place here


def test_layer_tuples_and_frame_count_check(tmp_path: Path) -> None:
    path = smoothed_csv(tmp_path / "v.eks.csv")
    layers = prediction_layer_data(path, skeleton=[("nose", "paw")], n_video_frames=12)
    assert [kind for _, _, kind in layers] == ["tracks", "vectors", "points"]
    assert layers[-1][1]["metadata"]["contrast_limits"] == POSTERIOR_SD_LIMITS_PX
    with pytest.raises(LabelsError, match=r"has 12 frames .* has 20"):
        check_frame_count(read_pose_track(path), 20, "clip.mp4")


def test_labels_csv_is_not_a_prediction(tmp_path: Path) -> None:
    frame = make_pose_frame(np.zeros((2, 1, 2)), ["nose"], index=["a.png", "b.png"])
    path = write_pose_csv(frame, tmp_path / "CollectedData.csv")
    with pytest.raises(LabelsError, match="likelihood"):
        read_pose_track(path)
