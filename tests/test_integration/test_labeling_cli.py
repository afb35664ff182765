"""The labeling start from the command line: init a project, pick frames, open them in napari."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from napari_lightning_pose import cli
from napari_lightning_pose.io.image_paths import image_path, parse_image_path
from napari_lightning_pose.io.video import VideoReader
from napari_lightning_pose.labeling.project import Project
from napari_lightning_pose.viewer.reader import get_labels_reader


def test_init_then_select_frames_twice(
    bundled_sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = bundled_sample / "videos" / "test_vid.mp4"
    folder = tmp_path / "mouse"
    keypoints = ["--keypoints", "nose", "paw-left", "paw-right"]
    skeleton = ["--skeleton", "nose:paw-left", "nose:paw-right"]
    assert cli.main(["init", str(folder), *keypoints, *skeleton, "--video", str(video)]) == 0
    assert "created" in capsys.readouterr().out
    project = Project.open(folder)
    assert project.keypoint_names == ["nose", "paw-left", "paw-right"]
    assert project.skeleton == [("nose", "paw-left"), ("nose", "paw-right")]
    assert [p.name for p in project.video_paths()] == ["test_vid.mp4"]

    assert cli.main(["select-frames", "--config", str(folder), "-n", "4", "--context", "1"]) == 0
    first = list(project.read_labels().index)
    assert len(first) == 4
    assert all(parse_image_path(im)[0] == "test_vid" for im in first)
    with VideoReader(video) as reader:
        for im in first:
            frame = parse_image_path(im)[1]
            np.testing.assert_array_equal(np.asarray(Image.open(folder / im)), reader[frame])
            assert (folder / image_path("test_vid", frame + 1)).is_file()  # context frame

    args = ["select-frames", "--config", str(folder / "config.yaml"), "--video", str(video)]
    assert cli.main([*args, "-n", "3", "--method", "uniform", "--context", "0"]) == 0
    rows = list(project.read_labels().index)
    assert rows[:4] == first and len(rows) == 7 and len(set(rows)) == 7
    assert "added 3 frames" in capsys.readouterr().out

    # the picked frames open in napari as a stack with no points yet
    layers = get_labels_reader(str(project.csv_path))(str(project.csv_path))
    stack, points = layers[0][0], layers[1][0]
    assert stack.shape == (7, 406, 396, 3) and len(points) == 0


def test_init_skeleton_with_dashed_keypoint_names(tmp_path: Path) -> None:
    """Names with '-' (DeepLabCut projects have them) work on the command line as in the
    Project widget: split where both ends are keypoints, or at ':'."""
    keypoints = ["--keypoints", "nose", "ear-left", "ear-right", "tail-base"]
    skeleton = ["--skeleton", "ear-left-ear-right", "nose - ear-left", "nose:tail-base"]
    assert cli.main(["init", str(tmp_path / "p"), *keypoints, *skeleton]) == 0
    assert Project.open(tmp_path / "p").skeleton == [
        ("ear-left", "ear-right"),
        ("nose", "ear-left"),
        ("nose", "tail-base"),
    ]


def test_init_errors_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["init", str(tmp_path / "p"), "--keypoints", "a", "b"]) == 0
    capsys.readouterr()
    assert cli.main(["init", str(tmp_path / "p"), "--keypoints", "a"]) == 2
    assert "a project already exists here" in capsys.readouterr().err
    assert cli.main(["init", str(tmp_path / "q"), "--keypoints", "a", "--skeleton", "a"]) == 2
    assert "skeleton edge 'a'" in capsys.readouterr().err
    assert cli.main(["init", str(tmp_path / "r")]) == 2
    assert "no keypoint names" in capsys.readouterr().err
    assert not (tmp_path / "q").exists() and not (tmp_path / "r").exists()


def test_select_frames_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["select-frames", "--config", str(tmp_path), "-n", "3"]) == 2
    assert "config file not found" in capsys.readouterr().err
    cli.main(["init", str(tmp_path / "p"), "--keypoints", "a"])
    assert cli.main(["select-frames", "--config", str(tmp_path / "p"), "-n", "3"]) == 2
    assert "has no videos" in capsys.readouterr().err
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    args = ["select-frames", "--config", str(tmp_path / "p"), "--video", str(bad), "-n", "3"]
    assert cli.main(args) == 2
    assert "bad.mp4" in capsys.readouterr().err


def test_init_from_a_lightning_pose_config(
    bundled_sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = yaml.safe_load((bundled_sample / "config.yaml").read_text())
    raw["data"]["data_dir"] = "/data/mirror-mouse"
    raw["eval"] = {"conf_thresh": 0.9}
    lp_config = tmp_path / "config_mirror-mouse-example.yaml"
    lp_config.write_text(yaml.safe_dump(raw))
    assert cli.main(["init", str(tmp_path / "new"), "--from-config", str(lp_config)]) == 0
    assert "not taken from" in capsys.readouterr().out
    project = Project.open(tmp_path / "new")
    assert project.keypoint_names == raw["data"]["keypoint_names"]
    assert project.data_dir == (tmp_path / "new").resolve()
    assert project.config["eval"] == {"conf_thresh": 0.9}
