"""A multi-camera result as layer data: session found from its folder, grid layers, 3-D."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.viewer.camera_layers import (
    GRID_STRIDE,
    camera_grid_layer_data,
    find_camera_session,
    is_camera_folder,
    points_3d_layer_data,
    read_track_3d,
)
from napari_lightning_pose.viewer.layer_styles import POSTERIOR_SD_LIMITS_PX, heat_rgba
from napari_lightning_pose.viewer.reader import get_camera_folder_reader

from .camera_rig import CAMERAS, HOT, KEYPOINTS

# window tests of a few seconds each: the fast lane leaves them to CI
pytestmark = pytest.mark.slow


def test_session_is_found_from_the_output_folder(rig) -> None:
    session = find_camera_session(rig["out_dir"])
    assert session.cameras == CAMERAS  # the project's order of views
    assert session.videos == {c: rig["videos"][c].resolve() for c in CAMERAS}
    assert session.members == rig["members"]  # not the smoother's own .eks.poses.csv
    assert session.table_3d == rig["out_dir"] / "3d.eks.csv"
    assert session.calibration is not None and session.calibration.samefile(rig["calibration"])
    assert is_camera_folder(rig["out_dir"]) and not is_camera_folder(rig["out_dir"].parent)
    assert get_camera_folder_reader(str(rig["out_dir"])) is not None
    assert get_camera_folder_reader(str(rig["members"]["top"][0])) is None


def test_members_in_the_folders_member_folders_are_found(rig, tmp_path) -> None:
    """The Predict + smooth dock writes ``<out_dir>/<member>/<session>_<view>.csv``."""
    out = tmp_path / "predictions" / "s0"
    out.mkdir(parents=True)
    for camera in CAMERAS:
        shutil.copy(rig["out_dir"] / f"{camera}.eks.csv", out)
    expected = {c: [] for c in CAMERAS}
    for camera, members in rig["members"].items():
        for m, csv in enumerate(members):
            (out / f"member{m}").mkdir(exist_ok=True)
            expected[camera].append(Path(shutil.copy(csv, out / f"member{m}" / csv.name)))
    session = find_camera_session(out)
    assert sorted(session.cameras) == sorted(CAMERAS)
    assert {c: sorted(v) for c, v in session.members.items()} == {
        c: sorted(v) for c, v in expected.items()
    }


def test_grid_layers_are_the_single_camera_layers_camera_after_camera(rig) -> None:
    layers = camera_grid_layer_data(find_camera_session(rig["out_dir"]))
    kinds = [kind for _, _, kind in layers]
    assert kinds == ["image", "tracks", "vectors", "points"] * len(CAMERAS)
    assert {kw["metadata"][GRID_STRIDE] for _, kw, _ in layers} == {4}
    points = [(d, kw) for d, kw, kind in layers if kind == "points"]
    assert [kw["name"] for _, kw in points] == list(CAMERAS)
    for camera, (data, kwargs) in zip(CAMERAS, points, strict=True):
        meta = kwargs["metadata"]
        assert meta["camera"] == camera and meta["kind"] == "smoothed"
        assert list(meta["camera_csvs"]) == list(CAMERAS)
        # frame, y, x of the camera's smoothed keypoints: near the true projections
        feats = kwargs["features"]
        k = feats["keypoint"].cat.codes.to_numpy()
        truth = rig["pixels"][camera][data[:, 0].astype(int), k]
        assert np.median(np.abs(data[:, [2, 1]] - truth)) < 0.5
    # the members thrown off in one camera make it that camera's least certain point
    data, kwargs = points[CAMERAS.index(HOT.camera)]
    hottest = int(np.argmax(kwargs["features"]["posterior_sd"].to_numpy()))
    assert data[hottest, 0] == HOT.frame
    assert kwargs["features"]["keypoint"].iloc[hottest] == KEYPOINTS[HOT.keypoint]


def test_cameras_with_different_keypoints_are_refused(rig, tmp_path) -> None:
    out = Path(shutil.copytree(rig["out_dir"], tmp_path / "eks"))
    text = (out / "top.eks.csv").read_text().replace("nose", "snout")
    (out / "top.eks.csv").write_text(text)
    with pytest.raises(LabelsError, match="keypoints"):
        camera_grid_layer_data(find_camera_session(out))
    with pytest.raises(LabelsError, match="camera table"):
        find_camera_session(rig["out_dir"].parent)


def test_3d_layers_hold_the_smoothed_points_coloured_by_their_sd(rig) -> None:
    track = read_track_3d(rig["out_dir"] / "3d.eks.csv")
    assert track.keypoints == KEYPOINTS
    err = np.linalg.norm(track.points - rig["truth"], axis=-1)
    assert np.median(err) < 1.0  # the rig's 3-D truth, within its noise
    vectors, points = points_3d_layer_data(track, [["nose", "ear"], ["ear", "tail"]])
    data, kwargs, kind = points
    assert kind == "points" and data.shape == (30 * 3, 4)
    f = data[:, 0].astype(int)
    k = kwargs["features"]["keypoint"].cat.codes.to_numpy()
    np.testing.assert_allclose(data[:, 1:], track.points[f, k][:, ::-1])  # frame, z, y, x
    np.testing.assert_allclose(kwargs["features"]["posterior_sd"], track.sd[f, k])
    assert kwargs["face_color"] == "posterior_sd"
    assert tuple(kwargs["face_contrast_limits"]) == POSTERIOR_SD_LIMITS_PX
    vdata, vkwargs, vkind = vectors
    assert vkind == "vectors" and vdata.shape == (30 * 2, 2, 4)
    ends = vdata[:, 0, 1:] + vdata[:, 1, 1:]
    first_edge_end = track.points[vdata[0::2, 0, 0].astype(int), 1][:, ::-1]
    np.testing.assert_allclose(ends[0::2], first_edge_end)
    assert vkwargs["edge_color"] == "posterior_sd"
    assert heat_rgba([0.0], POSTERIOR_SD_LIMITS_PX).shape == (1, 4)
