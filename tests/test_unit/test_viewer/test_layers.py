"""Labels <-> napari layer data (pure functions) and the lazy labeled-frame stack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io import labels as L
from napari_lightning_pose.io import pose_csv
from napari_lightning_pose.io.image_paths import image_path
from napari_lightning_pose.viewer import layers
from napari_lightning_pose.viewer.layer_styles import KeypointsStyle, keypoint_colors

KEYPOINTS = ["nose", "ear_l", "ear_r"]


@pytest.fixture
def labels() -> pd.DataFrame:
    values = np.array(
        [
            [[10.0, 20.0], [30.0, 40.0], [np.nan, np.nan]],
            [[np.nan, np.nan], [np.nan, np.nan], [np.nan, np.nan]],  # picked, not labeled
            [[12.5, 22.5], [32.0, 42.0], [52.0, 62.0]],
        ]
    )
    images = [image_path("m", f) for f in (1, 2, 3)]
    return pose_csv.make_pose_frame(values, KEYPOINTS, index=images, scorer="me")


def test_labels_to_points_swaps_to_frame_y_x(labels: pd.DataFrame) -> None:
    data, features = layers.labels_to_points(labels)
    assert data.shape == (5, 3)  # NaN labels give no point
    np.testing.assert_array_equal(data[0], [0, 20.0, 10.0])
    np.testing.assert_array_equal(data[-1], [2, 62.0, 52.0])
    assert list(features["keypoint"]) == ["nose", "ear_l", "nose", "ear_l", "ear_r"]
    assert list(features["keypoint"].cat.categories) == KEYPOINTS
    assert list(features["frame"]) == [0, 0, 2, 2, 2]
    assert features["image"].iloc[2] == "labeled-data/m/img00003.png"


def test_points_round_trip_to_the_same_labels(labels: pd.DataFrame) -> None:
    data, features = layers.labels_to_points(labels)
    back = layers.points_to_labels(data, features, list(labels.index), KEYPOINTS, scorer="me")
    pd.testing.assert_frame_equal(back, labels)


def test_points_to_labels_follows_the_project_order_and_keeps_empty_frames() -> None:
    data = np.array([[1, 5.0, 6.0], [0, 1.0, 2.0]])
    features = pd.DataFrame({"keypoint": ["b", "a"]})  # plain strings, as after napari edits
    df = layers.points_to_labels(data, features, ["i0.png", "i1.png", "i2.png"], ["a", "b"])
    assert pose_csv.keypoint_names(df) == ["a", "b"]
    np.testing.assert_array_equal(
        pose_csv.coords_array(df),
        [[[2.0, 1.0], [np.nan, np.nan]], [[np.nan, np.nan], [6.0, 5.0]], [[np.nan] * 2] * 2],
    )


def test_points_to_labels_refuses_two_points_of_one_keypoint_on_a_frame() -> None:
    data = np.array([[0, 1.0, 2.0], [0, 3.0, 4.0]])
    features = pd.DataFrame({"keypoint": ["a", "a"]})
    with pytest.raises(LabelsError, match="more than one 'a' point") as err:
        layers.points_to_labels(data, features, ["i0.png"], ["a"], path="out.csv")
    assert "i0.png" in str(err.value) and "out.csv" in str(err.value)


def test_points_to_labels_refuses_unknown_keypoints_and_frames() -> None:
    with pytest.raises(LabelsError, match=r"\['tail'\]"):
        layers.points_to_labels(
            np.array([[0, 1.0, 1.0]]), {"keypoint": ["tail"]}, ["i0.png"], ["a"]
        )
    with pytest.raises(LabelsError, match="frame 3"):
        layers.points_to_labels(np.array([[3, 1.0, 1.0]]), {"keypoint": ["a"]}, ["i0.png"], ["a"])


def test_skeleton_lines_join_labeled_ends_only(labels: pd.DataFrame) -> None:
    data, features = layers.labels_to_points(labels)
    lines = layers.skeleton_lines(data, features, [("nose", "ear_l"), ("ear_l", "ear_r")])
    # frame 0: nose-ear_l only (ear_r missing); frame 2: both edges
    assert lines.shape == (3, 2, 3)
    np.testing.assert_array_equal(lines[0], [[0, 20.0, 10.0], [0, 40.0, 30.0]])
    np.testing.assert_array_equal(lines[2], [[2, 42.0, 32.0], [2, 62.0, 52.0]])
    assert layers.skeleton_lines(data, features, []).shape == (0, 2, 3)


def test_xy_skeleton_vectors_match_the_lines_on_every_frame(labels: pd.DataFrame) -> None:
    edges = [("nose", "ear_l"), ("ear_l", "ear_r"), ("nose", "tail")]  # tail: not a keypoint
    xy = pose_csv.coords_array(labels)  # (frames, keypoints, 2) x, y
    vectors = layers.xy_skeleton_vectors(xy, KEYPOINTS, edges)
    data, features = layers.labels_to_points(labels)
    lines = layers.skeleton_lines(data, features, edges[:2])
    np.testing.assert_allclose(vectors[:, 0], lines[:, 0])  # start: frame, y, x
    np.testing.assert_allclose(vectors[:, 0] + vectors[:, 1], lines[:, 1])  # start + step
    assert np.all(vectors[:, 1, 0] == 0)  # a line stays on its frame
    assert layers.xy_skeleton_vectors(xy, KEYPOINTS, []).shape == (0, 2, 3)


def test_sample_layers_match_the_csv(bundled_sample: Path) -> None:
    csv = bundled_sample / "CollectedData.csv"
    skeleton = [("nose_top", "paw2LF_top")]
    image, points, shapes = layers.labels_layer_data(csv, skeleton=skeleton)
    stack, image_kwargs, kind = image
    assert kind == "image" and stack.shape == (50, 406, 396) and not image_kwargs["rgb"]
    np.testing.assert_array_equal(
        stack[4], np.asarray(Image.open(bundled_sample / "labeled-data/img05.png"))
    )
    data, kwargs, kind = points
    df = L.read_labels(csv)
    assert kind == "points"
    assert len(data) == int(np.isfinite(pose_csv.coords_array(df)).all(axis=2).sum())
    meta = kwargs["metadata"]
    assert meta["images"] == list(df.index) and meta["scorer"] == "rick"
    assert kwargs["face_color_cycle"] == keypoint_colors(pose_csv.keypoint_names(df))
    assert shapes[2] == "shapes" and len(shapes[0]) > 0


def test_labels_outside_images_warn_on_open(bundled_sample: Path, tmp_path: Path) -> None:
    df = L.read_labels(bundled_sample / "CollectedData.csv")
    df.iloc[0, 0] = 5000.0
    (tmp_path / "labeled-data").symlink_to(bundled_sample / "labeled-data")
    csv = L.write_labels(df, tmp_path / "CollectedData.csv")
    with pytest.warns(UserWarning, match="outside their image"):
        out = layers.labels_layer_data(csv)
    assert len(out) == 2


def test_colours_are_distinct_and_stable() -> None:
    names = [f"k{i}" for i in range(17)]
    colours = keypoint_colors(names)
    assert len(set(colours.values())) == 17
    assert keypoint_colors(names) == colours
    kwargs = KeypointsStyle(keypoint_names=names).as_kwargs()
    assert kwargs["face_color"] == "keypoint" and kwargs["face_color_cycle"] == colours
