"""Multi-camera projects: ``init --views``, per-view projects, refusals (issue 23)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_lightning_pose.cli import main
from napari_lightning_pose.errors import ConfigError, LabelsError
from napari_lightning_pose.io import pose_csv
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.labels import empty_labels, read_labels, write_labels
from napari_lightning_pose.labeling.project import Project
from napari_lightning_pose.labeling.project_setup import add_video, init_project


def test_init_views_writes_one_empty_csv_per_view(tmp_path: Path, capsys) -> None:
    out = tmp_path / "rig"
    assert main(["init", str(out), "--views", "top", "side", "--keypoints", "nose", "tail"]) == 0
    cfg = load_config(out)
    assert cfg["data"]["view_names"] == ["top", "side"]
    assert cfg["data"]["csv_file"] == ["CollectedData_top.csv", "CollectedData_side.csv"]
    project = Project.open(out)
    for view in ("top", "side"):
        labels = read_labels(out / f"CollectedData_{view}.csv")
        assert pose_csv.keypoint_names(labels) == ["nose", "tail"] and len(labels) == 0
        assert project.for_view(view).csv_path == out / f"CollectedData_{view}.csv"
    assert project.views is not None and project.views.names == ("top", "side")
    with pytest.raises(ConfigError, match="multi-camera projects are not supported by"):
        project.csv_path  # noqa: B018 - single-CSV code refuses, naming the files
    with pytest.raises(ConfigError, match="not a view"):
        project.for_view("front")


def test_init_views_takes_session_videos(split_sample, tmp_path: Path) -> None:
    videos = sorted((split_sample.config.parent / "videos").iterdir())
    config = init_project(tmp_path / "rig", ["nose"], videos=videos, views=("top", "bottom"))
    assert sorted(p.name for p in Project.open(config).video_paths()) == [
        "test_vid_bottom.mp4",
        "test_vid_top.mp4",
    ]
    shutil.copy(videos[0], tmp_path / "clip.mp4")
    with pytest.raises(LabelsError, match="none of the project's views"):
        add_video(config, tmp_path / "clip.mp4")


def test_init_views_refuses_bad_sessions_and_writes_nothing(split_sample, tmp_path: Path):
    videos = {p.stem: p for p in (split_sample.config.parent / "videos").iterdir()}
    out = tmp_path / "rig"
    with pytest.raises(LabelsError, match=r"no video for view\(s\) \['bottom'\]"):
        init_project(out, ["nose"], videos=[videos["test_vid_top"]], views=("top", "bottom"))
    shutil.copy(videos["test_vid_top"], tmp_path / "clip.mp4")
    with pytest.raises(LabelsError, match="holds none of the views"):
        init_project(out, ["nose"], videos=[tmp_path / "clip.mp4"], views=("top", "bottom"))
    # a bottom video with fewer frames than the top one
    from napari_lightning_pose.interop.mirror_split import _crop_video

    short = tmp_path / "cut" / "test_vid_bottom.mp4"
    _crop_video(videos["test_vid_top"], short, 84, 1, 5)
    with pytest.raises(LabelsError, match="different frame counts"):
        init_project(
            out, ["nose"], videos=[videos["test_vid_top"], short], views=("top", "bottom")
        )
    with pytest.raises(ConfigError, match="needs two"):
        init_project(out, ["nose"], views=("top",))
    assert not out.exists()


def test_init_views_refuses_views_whose_keypoints_differ(tmp_path: Path) -> None:
    out = tmp_path / "rig"
    out.mkdir()
    write_labels(empty_labels(["nose", "tail"]), out / "CollectedData_top.csv", 0)
    write_labels(empty_labels(["nose", "ear"]), out / "CollectedData_side.csv", 0)
    with pytest.raises(LabelsError, match=r"CollectedData_side\.csv.*CollectedData_top\.csv"):
        init_project(out, views=("top", "side"))
    assert not (out / "config.yaml").exists()
    write_labels(empty_labels(["nose", "tail"]), out / "CollectedData_side.csv", 0)
    config = init_project(out, views=("top", "side"))  # keypoints from the CSVs
    assert Project.open(config).keypoint_names == ["nose", "tail"]


def test_importers_stay_single_view(split_sample, tmp_path: Path, capsys) -> None:
    from napari_lightning_pose.interop.dlc import export_dlc_labels

    with pytest.raises(ConfigError, match="single-camera projects only"):
        export_dlc_labels(split_sample.config, tmp_path / "dlc")
    assert not (tmp_path / "dlc").exists()
    code = main(["init", str(tmp_path / "x"), "--views", "a", "b", "--from-dlc", "cfg.yaml"])
    assert code == 2 and "single-camera projects" in capsys.readouterr().err


def test_select_frames_picks_the_same_frames_in_every_view(split_sample, tmp_path, capsys):
    videos = sorted((split_sample.config.parent / "videos").iterdir())
    config = init_project(tmp_path / "rig", ["nose"], videos=videos, views=("top", "bottom"))
    assert main(["select-frames", "--config", str(config), "-n", "3", "--context", "1"]) == 0
    out = capsys.readouterr().out
    assert "test_vid (top): added 3 frames" in out and "test_vid (bottom): added 3" in out
    project = Project.open(config)
    rows = {v: list(project.for_view(v).read_labels().index) for v in ("top", "bottom")}
    assert [r.replace("_top", "") for r in rows["top"]] == [
        r.replace("_bottom", "") for r in rows["bottom"]
    ]
    assert all(r.startswith("labeled-data/test_vid_top/") for r in rows["top"])
    for row in rows["bottom"]:  # the bottom view's own pixels (238 rows high)
        image = np.asarray(Image.open(config.parent / row))
        assert image.shape[0] == 238
    # again: three new frames, none of the first three
    assert main(["select-frames", "--config", str(config), "-n", "3", "--context", "0"]) == 0
    again = list(project.for_view("top").read_labels().index)
    assert len(again) == 6 and len(set(again)) == 6


def test_file_open_of_a_views_csv_uses_its_project(split_sample) -> None:
    from napari_lightning_pose.viewer.reader import _project_options

    csv = split_sample.config.parent / "CollectedData_bottom.csv"
    options = _project_options(csv)
    assert options["keypoint_names"] == split_sample.keypoint_names
    assert ("nose", "paw2LF") in options["skeleton"]
