"""Smoke test of `napari-lightning-pose demo` with tiny settings: every stage runs and writes
what the README promises (smoothed CSV, traces.png, qc.png with the coloured overlay)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_lightning_pose.demo import run_demo
from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.io.pose_csv import read_pose_csv

pytestmark = pytest.mark.slow


def test_demo_runs_end_to_end_with_tiny_settings(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = run_demo(
        out,
        members=2,
        steps=3,
        resize=64,
        n_pick=2,
        max_frames=24,
        device="cpu",
        progress=False,
        log=lambda _: None,
    )
    assert result.smoothed_csv == out / "predictions" / "test_vid" / "test_vid.eks.csv"
    table = read_pose_csv(result.smoothed_csv, ("x", "y", "x_posterior_var", "y_posterior_var"))
    assert len(table) == 24
    assert [p.name for p in result.member_csvs] == ["member0.csv", "member1.csv"]
    assert len(result.test_errors) == 2 and all(np.isfinite(result.test_errors))
    assert set(result.seconds) >= {"training", "prediction + EKS", "evaluation"}
    assert result.qc_note == ""
    traces = np.asarray(Image.open(result.traces_png))
    assert traces.shape[0] > 600  # two keypoints' panels
    qc = np.asarray(Image.open(result.qc_png))[..., :3]
    assert qc.shape[0] >= 700 and qc.shape[1] >= 1000
    # the legend's colour bar is in the window picture: its pale-yellow and red ends
    red = (qc[..., 0] > 200) & (qc[..., 1] < 40) & (qc[..., 2] < 60)
    pale = (qc[..., 0] > 240) & (qc[..., 1] > 240) & (qc[..., 2] > 150) & (qc[..., 2] < 200)
    assert red.sum() > 30 and pale.sum() > 30


def test_demo_refuses_a_one_member_ensemble_and_a_foreign_folder(tmp_path: Path) -> None:
    with pytest.raises(LightningPoseInputError, match="at least 2"):
        run_demo(tmp_path, members=1, log=lambda _: None)
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(LightningPoseInputError, match="not made by the demo"):
        run_demo(tmp_path, members=2, log=lambda _: None)
    assert (tmp_path / "mine.txt").read_text() == "keep me"
