"""Labels we write load in ``movement`` (DeepLabCut and Lightning Pose sources) unchanged.

movement 0.15's file loader (``load_dataset``) only takes pose CSVs indexed by frame
number; it refuses every labels CSV indexed by image path, Lightning Pose's own
``CollectedData.csv`` included. So the file is read the way Lightning Pose and DeepLabCut
read labels (``pandas.read_csv(header=[0, 1, 2], index_col=0)``) and handed to movement's
loader for DeepLabCut-style tables, ``load_poses.from_dlc_style_df``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from movement.io import load_poses

from napari_lightning_pose.io import labels as L
from napari_lightning_pose.io import pose_csv
from napari_lightning_pose.io.image_paths import image_path


def movement_xy(path: Path, source: str) -> tuple[np.ndarray, list[str], list[str]]:
    """(frames, keypoints, 2) positions, keypoint names and row labels as movement gets them."""
    table = pd.read_csv(path, header=[0, 1, 2], index_col=0)
    ds = load_poses.from_dlc_style_df(table, source_software=source)
    position = ds["position"].sel(individuals=ds.individuals[0])  # (time, space, keypoints)
    xy = position.transpose("time", "keypoints", "space").values
    return xy, list(ds.keypoints.values), list(table.index)


@pytest.mark.parametrize("source", ["DeepLabCut", "LightningPose"])
def test_sample_labels_we_write_load_in_movement(
    bundled_sample: Path, tmp_path: Path, source: str
) -> None:
    df = L.read_labels(bundled_sample / "CollectedData.csv")
    path = L.write_labels(df, tmp_path / "CollectedData.csv")
    xy, names, rows = movement_xy(path, source)
    assert names == pose_csv.keypoint_names(df)
    assert rows == list(df.index)
    np.testing.assert_array_equal(xy, pose_csv.coords_array(df))


def test_edited_labels_load_in_movement(tmp_path: Path) -> None:
    names = ["snout", "ear_left", "ear_right", "tail_base"]
    images = [image_path("session1", f) for f in (12, 480, 2001)]
    df = L.empty_labels(names, images)  # the middle frame stays unlabeled (all NaN)
    df = L.set_frame_labels(df, images[0], {"snout": (10.25, 20.5), "tail_base": (300, 40)})
    df = L.set_frame_labels(df, images[2], np.arange(8, dtype=float).reshape(4, 2) + 0.125)
    path = L.write_labels(df, tmp_path / "CollectedData.csv")
    xy, loaded_names, rows = movement_xy(path, "DeepLabCut")
    assert loaded_names == names and rows == images
    np.testing.assert_array_equal(xy, pose_csv.coords_array(df))
    assert np.isnan(xy[1]).all()


@pytest.mark.shared_data
def test_full_mirror_mouse_labels_load_in_movement(mirror_mouse: Path, tmp_path: Path) -> None:
    df = L.read_labels(mirror_mouse / "CollectedData.csv")
    path = L.write_labels(df, tmp_path / "CollectedData.csv")
    xy, _, _ = movement_xy(path, "LightningPose")
    assert xy.shape == (90, 17, 2)
    np.testing.assert_array_equal(xy, pose_csv.coords_array(df))
