"""A mirrored project split into two cameras (``split-mirror``): labels, frames, videos, config."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from napari_lightning_pose.cli import main
from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.interop.mirror_split import paired_keypoints, split_mirrored_project
from napari_lightning_pose.io import pose_csv
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.labels import read_labels
from napari_lightning_pose.io.video import VideoReader
from napari_lightning_pose.io.views import group_sessions, project_views

SHARED = ["paw1LH", "paw2LF", "paw3RF", "paw4RH", "tailBase", "tailMid", "nose"]


def test_split_sample_has_two_views_with_the_shared_keypoints(split_sample, bundled_sample):
    cfg = load_config(split_sample.config)
    views = project_views(cfg)
    assert views is not None and views.names == ("top", "bottom")
    assert cfg["data"]["keypoint_names"] == SHARED == split_sample.keypoint_names
    assert split_sample.dropped == ["obs_top", "obsHigh_bot", "obsLow_bot"]
    assert cfg["data"]["mirrored_column_matches"] is None
    assert ["nose", "paw2LF"] in cfg["data"]["skeleton"] and len(cfg["data"]["skeleton"]) == 7
    source = read_labels(bundled_sample / "CollectedData.csv")
    src_xy = pose_csv.coords_array(source)
    for view, cols, shift in (("top", range(0, 7), 0), ("bottom", range(8, 15), 168)):
        df = read_labels(views.csv_for(view), SHARED)
        assert len(df) == len(source) == 50
        assert all(im.startswith(f"labeled-data/mirror-mouse_{view}/img") for im in df.index)
        expected = src_xy[:, list(cols)] - [0, shift]
        np.testing.assert_allclose(pose_csv.coords_array(df), expected)
        # the labels sit on the cropped image: the same pixels as in the source frame
        image = df.index[4]
        crop = np.asarray(Image.open(split_sample.config.parent / image))
        full = np.asarray(Image.open(bundled_sample / "labeled-data" / Path(image).name))
        assert crop.shape[0] == (168 if view == "top" else 406 - 168)
        np.testing.assert_array_equal(crop, full[:168] if view == "top" else full[168:])
    # context neighbours (img00, img51: not in the CSV) are cropped too
    assert (split_sample.config.parent / "labeled-data/mirror-mouse_top/img51.png").is_file()


def test_split_videos_are_crops_grouped_into_one_session(split_sample, bundled_sample):
    videos = sorted((split_sample.config.parent / "videos").iterdir())
    sessions = group_sessions(videos, ("top", "bottom"))
    assert list(sessions) == ["test_vid"] and sessions == split_sample.videos
    with VideoReader(bundled_sample / "videos" / "test_vid.mp4") as full:
        source = full[5].astype(float)
    for view, rows in (("top", slice(0, 168)), ("bottom", slice(168, 406))):
        with VideoReader(sessions["test_vid"][view]) as reader:
            assert reader.shape == (12, rows.stop - rows.start, 396, 3)
            # near-lossless re-encode: the crop of the same frame, up to codec error
            assert np.abs(reader[5].astype(float) - source[rows]).mean() < 3.0


def test_pairs_must_share_a_name():
    assert paired_keypoints(["a_top", "a_bot"], [[0], [1]]) == ["a"]
    with pytest.raises(ConfigError, match="do not share a name"):
        paired_keypoints(["a_top", "b_bot"], [[0], [1]])


def test_bad_input_writes_nothing(sample_copy: Path, tmp_path: Path):
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="split row 500"):
        split_mirrored_project(sample_copy, out, split_row=500)
    (out / "x").mkdir(parents=True)
    with pytest.raises(ConfigError, match="not empty"):
        split_mirrored_project(sample_copy, out)
    shutil.rmtree(out)
    cfg = yaml.safe_load((sample_copy / "config.yaml").read_text())
    cfg["data"]["mirrored_column_matches"] = None
    (sample_copy / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="mirrored_column_matches"):
        split_mirrored_project(sample_copy, out)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["mirror-mouse"]


def test_cli_split_mirror(sample_copy: Path, tmp_path: Path, capsys):
    shutil.rmtree(sample_copy / "videos")  # labels only: fast
    out = tmp_path / "split"
    assert main(["split-mirror", str(sample_copy), str(out), "--views", "up", "down"]) == 0
    assert f"created {out / 'config.yaml'}" in capsys.readouterr().out
    assert load_config(out)["data"]["view_names"] == ["up", "down"]
    assert (out / "CollectedData_down.csv").is_file()
