"""Training across cameras (issue 23): each view's frame is a sample, a frame's views share a
split, and ``pca_multiview`` compares the views of synchronised clips frame by frame."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from napari_lightning_pose.data.labeled import build_datasets
from napari_lightning_pose.data.multiview import (
    describe_view_labels,
    labeled_frame_counts,
    read_view_labels,
    stacked_poses,
)
from napari_lightning_pose.data.transforms import normalize, resize_frames
from napari_lightning_pose.data.unlabeled_views import SessionClips
from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.video import VideoReader
from napari_lightning_pose.losses.names import pca_columns
from napari_lightning_pose.losses.pca import fit_pose_pca
from napari_lightning_pose.losses.pca_losses import PCAMultiviewLoss
from napari_lightning_pose.training import LAST_CKPT, METRICS_CSV, train

TINY = {
    "image_resize_dims": {"height": 32, "width": 64},
    "train_batch_size": 4,
    "steps_per_epoch": 2,
    "sequence_length": 4,
}


def _tiny_cfg(root: Path, losses: list[str]) -> dict:
    cfg = load_config(root)
    cfg["data"]["image_resize_dims"] = TINY["image_resize_dims"]
    cfg["training"].update(
        train_batch_size=TINY["train_batch_size"], steps_per_epoch=TINY["steps_per_epoch"],
        num_workers=0, imgaug="none", accelerator="cpu", num_threads=1,
        freeze_batchnorm=False, unfreezing_epoch=0,
    )  # fmt: skip
    cfg["model"].update(backbone="resnet18", backbone_weights=None, losses_to_use=losses)
    cfg["dali"] = {"base": {"train": {"sequence_length": TINY["sequence_length"]}}}
    cfg["callbacks"] = {"anneal_weight": {"init_val": 1.0}}
    return cfg


@pytest.fixture
def split_copy(split_sample, tmp_path: Path) -> Path:
    """A writable copy of the two-camera sample."""
    return Path(shutil.copytree(split_sample.config.parent, tmp_path / "split"))


def test_every_views_frame_is_a_sample_and_a_frames_views_share_a_split(split_sample):
    cfg = load_config(split_sample.config)
    sets = build_datasets(cfg)
    frames = sets["train"].frames
    assert frames.views == ("top", "bottom") and len(frames) == 100  # 50 frames x 2 views
    assert {frames.images[i].shape[0] for i in range(len(frames))} == {168, 238}
    split_of: dict[str, set[str]] = {}
    for name, dataset in sets.items():
        for row in dataset.indices:
            split_of.setdefault(frames.frame_keys[row], set()).add(name)
    assert len(split_of) == 50 and all(len(s) == 1 for s in split_of.values())
    for dataset in sets.values():  # both views of every frame of a split
        views = pd.Series(frames.view_of[dataset.indices]).value_counts()
        assert views.get(0, 0) == views.get(1, 0) == len(dataset) // 2
    item = sets["val"][0]
    assert item["images"].shape == (3, 256, 256) and item["keypoints"].shape == (7, 2)


def test_labeled_frames_are_counted_per_camera_and_in_every_camera(split_copy: Path):
    from napari_lightning_pose.io.labels import read_labels, write_labels

    csv = split_copy / "CollectedData_bottom.csv"
    labels = read_labels(csv)
    labels.iloc[:3] = np.nan  # three frames labeled only in the top camera
    write_labels(labels, csv, backups=0)
    found = read_view_labels(load_config(split_copy))
    assert labeled_frame_counts(found) == ({"top": 50, "bottom": 47}, 47)
    assert describe_view_labels(found) == (
        "2 cameras: top 50, bottom 47 labeled frames; 47 labeled in every camera"
    )
    rows = np.arange(len(found.frame_keys))
    stacked = stacked_poses(found.keypoints, found.view_of, found.frame_keys, rows, 2)
    assert len(stacked) == 47  # what the cross-camera PCA is fitted to


def test_views_whose_keypoints_differ_are_refused_naming_both(split_copy: Path):
    csv = split_copy / "CollectedData_bottom.csv"
    csv.write_text(csv.read_text().replace("nose", "snout"))
    with pytest.raises(LabelsError, match=r"CollectedData_bottom\.csv.*CollectedData_top\.csv"):
        build_datasets(load_config(split_copy))


def _two_affine_views(n: int, seed: int = 0) -> np.ndarray:
    """(n, 2 views, 3 keypoints, 2) projections of random 3-D points by two affine cameras."""
    rng = np.random.default_rng(seed)
    points = rng.normal(0, 20, size=(n, 3, 3))  # frames, body parts, x y z
    cams = [
        (np.array([[1.0, 0.2, 0.0], [0.0, 0.3, 1.0]]), np.array([100.0, 50.0])),
        (np.array([[0.9, 0.0, 0.4], [0.1, 1.0, 0.0]]), np.array([120.0, 90.0])),
    ]
    return np.stack([points @ a.T + b for a, b in cams], axis=1)


def test_multiview_loss_is_zero_when_cameras_agree_and_not_when_one_is_shifted():
    train_views = _two_affine_views(60)
    stacked = train_views.reshape(60, 6, 2)  # view-major: view v's keypoint p is v * 3 + p
    cfg = {"components_to_keep": 3, "epsilon": 0.0}
    columns = pca_columns({"data": {"view_names": ["a", "b"]}}, "pca_multiview", 3)
    assert columns == [[0, 1, 2], [3, 4, 5]]
    fit = fit_pose_pca(stacked, "pca_multiview", columns, cfg, list("abcdef"))
    loss = PCAMultiviewLoss(fit, log_weight=None)
    clips = _two_affine_views(8, seed=1).reshape(2, 4, 2, 3, 2)  # 2 clips of 4 frames
    # the clip batch a multi-camera run builds: C * V clips, each clip's views in a row
    per_view = torch.as_tensor(clips.transpose(0, 2, 1, 3, 4).reshape(4, 4, 3, 2)).float()
    batch = {"scale": torch.ones(4, 2), "views": 2}
    agree = float(loss.compute({"keypoints": per_view}, batch))
    shifted = per_view.clone()
    shifted[1::2] += torch.tensor([6.0, -4.0])  # the second camera's predictions off by 7 px
    off = float(loss.compute({"keypoints": shifted}, batch))
    assert agree < 1e-3 and off > 1.0
    # without the views the clips are not compared across cameras: the design would not fit
    with pytest.raises(IndexError):
        loss.compute({"keypoints": per_view}, {"scale": torch.ones(4, 2)})


def test_session_clips_are_the_same_frames_of_every_view(split_sample):
    cfg = load_config(split_sample.config)
    clips = SessionClips(cfg["data"]["video_dir"], ("top", "bottom"), 4, (32, 64))
    assert clips.sessions == ["test_vid"] and clips.starts == [12 - 4 + 1]
    item = clips[(0, 3, 0)]
    assert item["images"].shape == (2, 4, 3, 32, 64)
    for v, view in enumerate(("top", "bottom")):  # frames 3..6 of that view's own video
        with VideoReader(split_sample.videos["test_vid"][view]) as reader:
            expected = normalize(resize_frames(reader[3:7], (32, 64)))
        torch.testing.assert_close(item["images"][v], expected)
    assert item["scale"][0, 1] != item["scale"][1, 1]  # heights 168 and 238


@pytest.mark.slow
def test_semi_supervised_run_across_cameras(split_sample, tmp_path: Path):
    cfg = _tiny_cfg(split_sample.config, ["pca_multiview", "temporal", "pca_singleview"])
    events = list(train(cfg, tmp_path / "run", steps=2))
    start = next(e for e in events if e.kind == "start")
    assert "from 2 video(s)" in start.message and "pca_multiview epsilon" in start.message
    steps = [e for e in events if e.kind == "step"]
    assert len(steps) == 2 and all(np.isfinite(e.losses["pca_multiview"]) for e in steps)
    pca = torch.load(tmp_path / "run" / LAST_CKPT, weights_only=False)["pca"]
    assert tuple(pca["pca_multiview"]["columns"].shape) == (2, 7)  # 2 cameras x 7 parts
    assert pca["pca_multiview"]["mean"].shape == (4,)  # x, y in each camera
    assert set(pd.read_csv(tmp_path / "run" / METRICS_CSV).columns) >= {"pca_multiview"}
    frames = build_datasets(load_config(split_sample.config))["train"].frames
    rows = np.arange(len(frames))
    both = stacked_poses(frames.keypoints, frames.view_of, frames.frame_keys, rows, 2)
    assert both.shape == (50, 14, 2)


@pytest.mark.slow
def test_context_model_across_cameras_takes_neighbours_from_the_same_view(split_sample, tmp_path):
    cfg = _tiny_cfg(split_sample.config, ["pca_multiview", "temporal"])
    cfg["model"]["model_type"] = "heatmap_mhcrnn"
    cfg["dali"] = {"context": {"train": {"batch_size": 4}}}
    frames = build_datasets(cfg)["train"].frames
    assert frames.windows is not None
    for row in (0, len(frames) - 1):  # a top and a bottom row: their windows are their crops
        window = frames.windows[row]
        assert {w.shape for w in window} == {frames.images[row].shape}
    events = list(train(cfg, tmp_path / "run", steps=1))
    step = next(e for e in events if e.kind == "step")
    assert np.isfinite(step.losses["pca_multiview"]) and np.isfinite(step.losses["temporal"])


def test_availability_counts_the_cameras_stacked_poses(split_copy: Path):
    from napari_lightning_pose.io.labels import read_labels, write_labels
    from napari_lightning_pose.losses.availability import project_availability

    cfg = load_config(split_copy)
    found = project_availability(cfg)
    assert found["pca_multiview"].ok and found["pca_singleview"].ok
    # no frame labeled in the bottom view: no frame in both views for the cross-camera PCA,
    # while the top view's 50 frames still fit the per-view pose PCA
    csv = split_copy / "CollectedData_bottom.csv"
    write_labels(read_labels(csv).iloc[:0], csv)
    found = project_availability(load_config(split_copy))
    assert not found["pca_multiview"].ok and found["pca_multiview"].more_frames > 0
    assert found["pca_singleview"].ok


def test_unlabeled_sessions_must_be_complete_and_in_step(split_copy: Path, tmp_path: Path):
    from napari_lightning_pose.interop.mirror_split import _crop_video

    videos = split_copy / "videos"
    cfg = _tiny_cfg(split_copy, ["pca_multiview"])
    full = tmp_path / "test_vid_top.mp4"
    shutil.copy(videos / "test_vid_top.mp4", full)
    _crop_video(full, videos / "test_vid_bottom.mp4", 84, 1, 8)  # 8 frames, top has 12
    with pytest.raises(LabelsError, match="different frame counts"):
        list(train(cfg, tmp_path / "run", steps=1))
    (videos / "test_vid_bottom.mp4").unlink()
    with pytest.raises(LabelsError, match=r"no video for view\(s\) \['bottom'\]"):
        list(train(cfg, tmp_path / "run", steps=1))
    assert not (tmp_path / "run" / LAST_CKPT).exists()
