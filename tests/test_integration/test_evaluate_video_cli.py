"""``evaluate --video``: predict (or reuse), write the video metrics, print their summary."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from napari_lightning_pose.cli import main
from napari_lightning_pose.inference.video_metrics import read_video_metric
from napari_lightning_pose.io.pose_csv import coords_array, read_pose_csv


@pytest.mark.slow
def test_evaluate_video_writes_metrics_and_reuses_predictions(
    tmp_path: Path, blob_tools, capsys
) -> None:
    config = blob_tools.make_project(
        tmp_path / "blobs",
        n_frames=30,
        resize=32,
        n_video_frames=12,
        **{
            "model.losses_to_use": ["pca_singleview"],
            "data.columns_for_singleview_pca": [0, 1],
            "losses.pca_singleview.components_to_keep": 2,
            "dali.base.train.sequence_length": 4,
        },
    )
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--steps", "2", "--out", str(run)]) == 0
    video = tmp_path / "blobs" / "videos" / "blobs.mp4"
    ckpt = run / "last.ckpt"
    args = ["evaluate", "--checkpoint", str(ckpt), "--config", str(config), "--device", "cpu"]
    capsys.readouterr()
    assert main([*args, "--video", str(video)]) == 0
    printed = capsys.readouterr().out
    pred = run / "video_preds" / "blobs.csv"  # beside the checkpoint by default
    assert f"predictions {pred}" in printed
    assert "| test | all |" in printed  # the held-out labeled frames are still evaluated
    assert "median temporal_norm px" in printed and "median pca_singleview px" in printed

    # the metric files: the temporal norm is the predictions' own frame-to-frame distance
    xy = coords_array(read_pose_csv(pred, ("x", "y", "likelihood")))
    norm = read_video_metric(run / "video_preds" / "blobs_temporal_norm.csv")
    expected = np.linalg.norm(np.diff(xy, axis=0), axis=-1)
    np.testing.assert_allclose(norm.to_numpy()[1:], expected, rtol=1e-6, atol=1e-6)
    single = read_video_metric(run / "video_preds" / "blobs_pca_singleview_error.csv")
    assert single.shape == (12, 2) and np.isfinite(single.to_numpy()).all()
    assert not (run / "video_preds" / "blobs_pca_multiview_error.csv").exists()
    # the summary row of each keypoint is the median of its column
    rows = {line.split("|")[1].strip(): line for line in printed.splitlines() if "|" in line}
    for name in ("red", "green"):
        cells = [c.strip() for c in rows[name].split("|")[2:-1]]
        assert float(cells[0]) == pytest.approx(np.nanmedian(norm[name]), abs=0.006)
        assert float(cells[1]) == pytest.approx(np.median(single[name]), abs=0.006)

    # a second run reuses the predictions; a newer video makes it predict again
    before = pred.stat().st_mtime_ns
    assert main([*args, "--video", str(video)]) == 0
    assert f"reusing predictions {pred}" in capsys.readouterr().out
    assert pred.stat().st_mtime_ns == before
    later = pred.stat().st_mtime + 10
    os.utime(video, (later, later))
    out_dir = tmp_path / "elsewhere"
    assert main([*args, "--video", str(video), "--video-out", str(out_dir)]) == 0
    assert f"predictions {out_dir / 'blobs.csv'}" in capsys.readouterr().out
    assert (out_dir / "blobs_temporal_norm.csv").is_file()
    assert main([*args, "--video", str(video)]) == 0
    assert "reusing" not in capsys.readouterr().out  # the video changed after the CSV
