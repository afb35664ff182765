"""Held-out evaluation: which frames, which numbers, and the CSV it writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_lightning_pose.data.labeled import LabeledFrames
from napari_lightning_pose.data.splits import split_indices
from napari_lightning_pose.inference.evaluate import evaluate, format_summary, summarize
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.pose_csv import coords_array
from napari_lightning_pose.training import CheckpointError, train


@pytest.fixture(scope="module")
def trained(module_tmp: Path, blob_tools) -> tuple[Path, dict]:
    """A 2-step model on a 20-frame blob project (16 train, 2 val, 2 test frames)."""
    root = module_tmp
    cfg = load_config(
        blob_tools.make_project(
            root / "proj", n_frames=20, resize=32, n_video_frames=2, **{"data.skeleton": []}
        )
    )
    list(train(cfg, root / "run", steps=2))
    return root / "run" / "last.ckpt", cfg


def test_errors_cover_exactly_the_held_out_frames(trained) -> None:
    ckpt, cfg = trained
    result = evaluate(ckpt, cfg, device="cpu")
    frames = LabeledFrames(cfg)
    split = split_indices(len(frames), 0.8, 0.1, seed=0)
    expected = [frames.image_paths[i] for i in [*split["test"], *split["val"]]]
    assert list(result.errors.index) == expected
    assert list(result.errors["split"]) == ["test"] * 2 + ["val"] * 2
    assert list(result.errors.columns) == ["split", "red", "green"]

    # the error is the distance between the predicted and the labeled position, original px
    labels = coords_array(frames.labels.loc[expected])
    predicted = coords_array(result.predictions.loc[expected])
    distance = np.linalg.norm(predicted - labels, axis=-1)
    np.testing.assert_allclose(result.errors[["red", "green"]].to_numpy(), distance, rtol=1e-5)
    assert result.overall("test") == pytest.approx(distance[:2].mean())


def test_held_out_frames_come_from_the_checkpoint_not_the_config(trained) -> None:
    ckpt, cfg = trained
    changed = {**cfg, "training": {**cfg["training"], "train_prob": 0.5, "rng_seed_data_pt": 9}}
    a = evaluate(ckpt, cfg, device="cpu")
    b = evaluate(ckpt, changed, device="cpu")
    assert list(a.errors.index) == list(b.errors.index)
    c = evaluate(ckpt, device="cpu")  # the config stored in the checkpoint
    assert list(c.errors.index) == list(a.errors.index)


def test_frames_are_resized_as_the_model_was_trained(trained) -> None:
    """A project config changed since training (another input size) does not change what
    the model sees: label QC and evaluation judge the model, not a mis-sized input."""
    ckpt, cfg = trained
    resized = {**cfg, "data": {**cfg["data"], "image_resize_dims": {"height": 64, "width": 64}}}
    a = evaluate(ckpt, cfg, device="cpu")
    b = evaluate(ckpt, resized, device="cpu")
    np.testing.assert_allclose(b.errors[["red", "green"]], a.errors[["red", "green"]])


def test_writes_per_frame_csv(trained, tmp_path: Path) -> None:
    ckpt, cfg = trained
    out = tmp_path / "errors.csv"
    result = evaluate(ckpt, cfg, out_csv=out, splits=("test",), device="cpu")
    back = pd.read_csv(out, index_col=0)
    assert back.index.name == "image_path"
    assert list(back["split"]) == ["test", "test"]
    np.testing.assert_allclose(back[["red", "green"]].to_numpy(), result.errors[["red", "green"]])


def test_keypoints_other_than_the_models_are_refused(trained) -> None:
    ckpt, cfg = trained
    other = {**cfg, "data": {**cfg["data"], "keypoint_names": ["green", "red"]}}
    with pytest.raises(CheckpointError, match="keypoints"):
        evaluate(ckpt, other, device="cpu")


def test_summary_statistics() -> None:
    errors = pd.DataFrame(
        {
            "split": ["test", "test", "test", "val"],
            "a": [1.0, 2.0, 3.0, 10.0],
            "b": [np.nan, 4.0, 5.0, np.nan],
        },
        index=["f0", "f1", "f2", "f3"],
    )
    summary = summarize(errors)
    assert summary.loc[("test", "a"), "mean"] == pytest.approx(2.0)
    assert summary.loc[("test", "a"), "median"] == pytest.approx(2.0)
    assert summary.loc[("test", "a"), "p95"] == pytest.approx(np.percentile([1, 2, 3], 95))
    assert summary.loc[("test", "b"), "n"] == 2  # NaN (unlabeled) does not count
    assert summary.loc[("test", "all"), "mean"] == pytest.approx(np.mean([1, 2, 3, 4, 5]))
    assert summary.loc[("val", "b"), "n"] == 0 and np.isnan(summary.loc[("val", "b"), "mean"])
    table = format_summary(summary)
    assert "| test | all | 3.00 | 3.00 |" in table


def test_bundled_sample_evaluates_in_original_pixels(sample_copy: Path) -> None:
    """Real labels with missing keypoints: errors are NaN exactly where a label is."""
    cfg = load_config(sample_copy / "config.yaml")
    cfg["data"]["image_resize_dims"] = {"height": 64, "width": 64}
    cfg["model"].update(backbone="resnet18", backbone_weights=None)
    cfg["training"].update(num_workers=0, num_threads=1, train_batch_size=4)
    list(train(cfg, sample_copy / "run", steps=1))
    result = evaluate(sample_copy / "run", cfg, device="cpu")
    assert len(result.errors) == 10  # 50 frames: 40 train, 5 val, 5 test
    names = cfg["data"]["keypoint_names"]
    labels = LabeledFrames(cfg).labels.loc[result.errors.index]
    missing = np.isnan(coords_array(labels)[..., 0])
    assert missing.any()  # the sample has occluded keypoints
    assert (np.isnan(result.errors[names].to_numpy()) == missing).all()
    # an untrained model is off by about the frame size (396 x 406), not the resized 64 px
    assert 20 < np.nanmean(result.errors[names].to_numpy()) < 600
