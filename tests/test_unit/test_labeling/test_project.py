"""Projects: creating one, refusing to overwrite, resolving paths, videos, LP configs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from napari_lightning_pose.errors import (
    ConfigError,
    LabelsError,
    LightningPoseInputError,
    VideoError,
)
from napari_lightning_pose.io import labels as L
from napari_lightning_pose.io import pose_csv
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.labeling.project import Project
from napari_lightning_pose.labeling.project_setup import add_video, config_from_file, init_project
from napari_lightning_pose.labeling.skeleton import parse_skeleton

KEYPOINTS = ["nose", "ear_l", "ear_r"]


def test_init_creates_the_layout_and_a_valid_config(tmp_path: Path) -> None:
    config = init_project(
        tmp_path / "proj",
        KEYPOINTS,
        skeleton=[("nose", "ear_l"), ("nose", "ear_r")],
        image_resize_dims={"height": 128, "width": 160},
    )
    assert config == tmp_path / "proj" / "config.yaml"
    assert (tmp_path / "proj" / "labeled-data").is_dir()
    assert (tmp_path / "proj" / "videos").is_dir()
    raw = yaml.safe_load(config.read_text())
    assert raw["data"]["data_dir"] == "." and raw["data"]["video_dir"] == "videos"
    cfg = load_config(config)
    assert cfg["data"]["keypoint_names"] == KEYPOINTS
    assert cfg["data"]["num_keypoints"] == 3
    assert cfg["data"]["skeleton"] == [["nose", "ear_l"], ["nose", "ear_r"]]
    assert cfg["data"]["image_resize_dims"] == {"height": 128, "width": 160}


def test_project_resolves_its_paths(tmp_path: Path) -> None:
    init_project(tmp_path / "p", KEYPOINTS, skeleton=[("nose", "ear_l")])
    project = Project.open(tmp_path / "p")
    root = (tmp_path / "p").resolve()
    assert project.root == root and project.data_dir == root
    assert project.csv_path == root / "CollectedData.csv"
    assert project.labeled_data_dir == root / "labeled-data"
    assert project.video_dir == root / "videos"
    assert project.frames_dir("/some/where/mouse1.mp4") == root / "labeled-data" / "mouse1"
    assert project.keypoint_names == KEYPOINTS and project.skeleton == [("nose", "ear_l")]
    assert Project.open(tmp_path / "p" / "config.yaml") == project
    labels = project.read_labels()  # no CSV yet: empty, with the project's keypoints
    assert len(labels) == 0 and pose_csv.keypoint_names(labels) == KEYPOINTS


def test_init_writes_our_loss_defaults_a_lightning_pose_config_keeps_its_own(
    tmp_path: Path,
) -> None:
    """A project from scratch gets the kl heatmap loss and each unsupervised loss at the
    default strength (losses.balance); a Lightning Pose base config keeps its weights."""
    from napari_lightning_pose.losses.balance import DEFAULT_STRENGTHS, strength_of

    cfg = load_config(init_project(tmp_path / "new", keypoint_names=["a", "b"]))
    assert cfg["model"]["heatmap_loss_type"] == "kl"
    for name, strength in DEFAULT_STRENGTHS.items():
        assert strength_of(cfg["losses"][name]["log_weight"], cfg) == pytest.approx(strength, 0.02)
    base = {"model": {"heatmap_loss_type": "mse"}, "losses": {"temporal": {"log_weight": 10.7}}}
    cfg = load_config(init_project(tmp_path / "lp", keypoint_names=["a"], base_config=base))
    assert cfg["model"]["heatmap_loss_type"] == "mse"
    assert cfg["losses"]["temporal"]["log_weight"] == 10.7


def test_init_refuses_an_existing_project(tmp_path: Path) -> None:
    config = init_project(tmp_path / "p", KEYPOINTS)
    before = config.read_bytes()
    with pytest.raises(ConfigError, match="a project already exists here") as err:
        init_project(tmp_path / "p", ["other"])
    assert str(config) in str(err.value)
    assert config.read_bytes() == before


def test_init_without_keypoints_or_with_a_bad_skeleton_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no keypoint names"):
        init_project(tmp_path / "a")
    with pytest.raises(ConfigError, match=r"not in data\.keypoint_names"):
        init_project(tmp_path / "b", KEYPOINTS, skeleton=[("nose", "tail")])
    with pytest.raises(ConfigError, match=r"unknown key 'data\.resize'"):
        init_project(tmp_path / "c", KEYPOINTS, resize=3)
    assert not any((tmp_path / name).exists() for name in "abc")


def test_init_over_lightning_pose_data_takes_the_csv_keypoints(
    bundled_sample: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "lp"
    folder.mkdir()
    shutil.copy(bundled_sample / "CollectedData.csv", folder)
    init_project(folder)
    project = Project.open(folder)
    df = project.read_labels()
    assert project.keypoint_names == pose_csv.keypoint_names(df)
    assert len(df) == 50


def test_init_refuses_data_with_other_keypoints(bundled_sample: Path, tmp_path: Path) -> None:
    folder = tmp_path / "lp"
    folder.mkdir()
    shutil.copy(bundled_sample / "CollectedData.csv", folder)
    with pytest.raises(LabelsError, match="lacks the project's keypoints"):
        init_project(folder, KEYPOINTS)
    assert not (folder / "config.yaml").exists()


def test_videos_are_copied_or_linked(bundled_sample: Path, tmp_path: Path) -> None:
    video = bundled_sample / "videos" / "test_vid.mp4"
    init_project(tmp_path / "copy", KEYPOINTS, videos=[video])
    copied = tmp_path / "copy" / "videos" / "test_vid.mp4"
    assert copied.is_file() and not copied.is_symlink()
    assert copied.read_bytes() == video.read_bytes()
    init_project(tmp_path / "link", KEYPOINTS, videos=[video], copy_videos=False)
    linked = tmp_path / "link" / "videos" / "test_vid.mp4"
    assert linked.is_symlink() and linked.resolve() == video.resolve()
    assert Project.open(tmp_path / "link").video_paths() == [linked]


def test_add_video_is_idempotent_and_refuses_a_name_clash(
    bundled_sample: Path, tmp_path: Path, blob_tools
) -> None:
    init_project(tmp_path / "p", KEYPOINTS)
    project = Project.open(tmp_path / "p")
    video = bundled_sample / "videos" / "test_vid.mp4"
    placed = add_video(project, video)
    assert add_video(tmp_path / "p", video) == placed
    other = tmp_path / "elsewhere" / "test_vid.mp4"
    other.parent.mkdir()
    frames = blob_tools.frames(blob_tools.positions(5, 32, 32), 32, 32)
    blob_tools.write_video(other, frames)  # same name, another video
    with pytest.raises(LightningPoseInputError, match="different video with this name"):
        add_video(project, other)
    assert placed.read_bytes() == video.read_bytes()


def test_add_video_refuses_a_file_that_is_not_a_video(tmp_path: Path) -> None:
    init_project(tmp_path / "p", KEYPOINTS)
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video")
    with pytest.raises(VideoError):
        add_video(tmp_path / "p", fake)
    assert not (tmp_path / "p" / "videos" / "notes.mp4").exists()


def test_read_labels_with_bounds_check(sample_copy: Path) -> None:
    project = Project.open(sample_copy)
    df = project.read_labels(check_bounds=True)
    assert len(df) == 50
    moved = L.set_frame_labels(df, df.index[3], {"nose_top": (396.0, 10.0)})
    project.write_labels(moved)
    with pytest.raises(LabelsError, match=r"img04\.png nose_top") as err:
        project.read_labels(check_bounds=True)
    assert "outside their image" in str(err.value)
    (sample_copy / "labeled-data" / "img05.png").unlink()
    with pytest.raises(LabelsError, match="missing or unreadable"):
        project.read_labels(check_bounds=True)


def test_write_labels_takes_any_keypoint_order(sample_copy: Path) -> None:
    project = Project.open(sample_copy)
    df = project.read_labels()
    reordered = L.read_labels(project.csv_path, project.keypoint_names[::-1])
    project.write_labels(reordered)
    again = project.read_labels()
    assert pose_csv.keypoint_names(again) == project.keypoint_names
    np.testing.assert_array_equal(pose_csv.coords_array(again), pose_csv.coords_array(df))
    assert (sample_copy / "CollectedData.csv.bak1").exists()


def test_config_from_a_lightning_pose_config(bundled_sample: Path, tmp_path: Path) -> None:
    raw = yaml.safe_load((bundled_sample / "config.yaml").read_text())
    raw["data"]["data_dir"] = "/home/someone/mirror-mouse"
    raw["data"]["header_rows"] = [1, 2]
    raw["training"]["min_epochs"] = 300
    lp = tmp_path / "config_mirror-mouse.yaml"
    lp.write_text(yaml.safe_dump(raw))
    base, ignored = config_from_file(lp)
    assert sorted(ignored) == [
        "data.data_dir",
        "data.header_rows",
        "data.video_dir",
        "training.min_epochs",
    ]
    config = init_project(tmp_path / "new", base_config=base)
    cfg = load_config(config)
    assert cfg["data"]["keypoint_names"] == raw["data"]["keypoint_names"]
    assert cfg["data"]["mirrored_column_matches"] == raw["data"]["mirrored_column_matches"]
    assert cfg["data"]["data_dir"] == str((tmp_path / "new").resolve())
    with pytest.raises(ConfigError, match="not found"):
        config_from_file(tmp_path / "absent.yaml")


def test_parse_skeleton_splits_dashed_names_at_a_colon_without_the_names() -> None:
    assert parse_skeleton("ear-left:ear-right, nose > tail-base") == [
        ("ear-left", "ear-right"),
        ("nose", "tail-base"),
    ]
    assert parse_skeleton("nose-tail") == [("nose", "tail")]
    with pytest.raises(ValueError, match="a:b:c"):
        parse_skeleton("a:b:c")
