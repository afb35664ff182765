"""Multi-camera project layout: view keys, sessions from video names, calibrations."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_lightning_pose.errors import ConfigError, LabelsError
from napari_lightning_pose.io.config import validate_config
from napari_lightning_pose.io.views import (
    calibration_file,
    check_calibration_names,
    check_frame_counts,
    group_sessions,
    project_views,
    session_name,
)


def _cfg(tmp_path: Path, **data) -> dict:
    base = {"view_names": ["top", "bottom"], "csv_file": ["top.csv", "bottom.csv"]}
    cfg = validate_config({"data": {**base, **data}}, tmp_path / "config.yaml")
    cfg["data"]["data_dir"] = str(tmp_path)
    return cfg


def test_lightning_pose_multiview_keys_give_views(tmp_path):
    views = project_views(_cfg(tmp_path))
    assert views.names == ("top", "bottom")
    assert views.csv_for("bottom") == tmp_path / "bottom.csv"


def test_single_view_config_has_no_views(tmp_path):
    cfg = validate_config({"data": {"csv_file": "CollectedData.csv"}})
    assert project_views(cfg) is None


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"view_names": ["top", "bottom"], "csv_file": ["top.csv"]}, "has 1"),
        ({"view_names": ["top", "bottom"], "csv_file": "labels.csv"}, "has one file"),
        ({"view_names": ["top"], "csv_file": ["top.csv"]}, "needs two"),
        ({"view_names": ["top", "top"], "csv_file": ["a.csv", "b.csv"]}, "distinct"),
        ({"view_names": None, "csv_file": ["a.csv", "b.csv"]}, "view_names is not set"),
        ({"view_names": ["cam", "cam_2"], "csv_file": ["a.csv", "b.csv"]}, "inside another"),
    ],
)
def test_bad_view_keys_are_refused_naming_the_file(tmp_path, data, says):
    with pytest.raises(ConfigError, match=says) as err:
        validate_config({"data": data}, tmp_path / "config.yaml")
    assert "config.yaml" in str(err.value)


def test_sessions_are_grouped_by_the_view_in_the_file_name():
    videos = ["v/s0_top.mp4", "v/s0_bottom.mp4", "v/mouse-2.top.avi", "v/mouse-2.bottom.avi"]
    sessions = group_sessions([*videos, "v/notes.mp4"], ["top", "bottom"])
    assert list(sessions) == ["mouse-2", "s0"]
    assert sessions["s0"] == {"top": Path("v/s0_top.mp4"), "bottom": Path("v/s0_bottom.mp4")}
    assert session_name("top_session3", "top") == "session3"


def test_a_session_missing_a_view_is_refused_naming_it():
    with pytest.raises(LabelsError, match=r"no video for view\(s\) \['bottom'\]"):
        group_sessions(["v/s0_top.mp4", "v/s0_bottom.mp4", "v/s1_top.mp4"], ["top", "bottom"])


def test_views_with_different_frame_counts_are_refused():
    session = {"top": Path("s0_top.mp4"), "bottom": Path("s0_bottom.mp4")}
    check_frame_counts(session, {"top": 100, "bottom": 100})
    with pytest.raises(LabelsError, match=r"s0_top\.mp4: 100, s0_bottom\.mp4: 99"):
        check_frame_counts(session, {"top": 100, "bottom": 99})


def test_calibration_per_session_before_the_shared_one(tmp_path):
    (tmp_path / "rig.toml").write_text("")
    cfg = _cfg(tmp_path, camera_params_file="rig.toml")
    assert calibration_file(cfg, "s0") == tmp_path / "rig.toml"
    (tmp_path / "calibrations").mkdir()
    (tmp_path / "calibrations" / "s0.toml").write_text("")
    assert calibration_file(cfg, "s0") == tmp_path / "calibrations" / "s0.toml"
    assert calibration_file(_cfg(tmp_path), "s1") is None
    with pytest.raises(ConfigError, match="does not exist"):
        calibration_file(_cfg(tmp_path, camera_params_file="gone.toml"), "s1")


def test_calibration_cameras_must_be_the_views():
    check_calibration_names(Path("c.toml"), ["bottom", "top", "side"], ["top", "bottom"])
    with pytest.raises(ConfigError, match=r"view\(s\) \['bottom'\]"):
        check_calibration_names(Path("c.toml"), ["top", "side"], ["top", "bottom"])
    with pytest.raises(ConfigError, match="3D needs two"):
        check_calibration_names(Path("c.toml"), ["top"], ["top", "bottom"])
