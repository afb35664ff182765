"""Labeled-video export: decode the mp4 back and find the uncertainty colours at the keypoints."""

from __future__ import annotations

import numpy as np
import pytest

from napari_lightning_pose.cli import main
from napari_lightning_pose.ensemble.smooth import EKS_COORDS, write_smoothed_csv
from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io.pose_csv import make_pose_frame
from napari_lightning_pose.io.video import VideoReader
from napari_lightning_pose.viewer.layer_styles import heat_rgba
from napari_lightning_pose.viewer.prediction_layers import pose_track_from_frame
from napari_lightning_pose.viewer.video_export import (
    ExportProgress,
    bar_panel_width,
    export_video,
    iter_export_video,
)


def _smoothed(n: int) -> object:
    values = np.zeros((n, 2, len(EKS_COORDS)))
    values[:, 0, :2] = (16.0, 24.0)  # certain: posterior SD 0
    values[:, 1, :2] = (32.0, 24.0)  # uncertain: SD 20 px (above the 10 px limit)
    values[:, :, 2] = 0.9
    values[:, 1, 7:9] = 200.0
    return make_pose_frame(values, ["sure", "unsure"], EKS_COORDS, scorer="eks")


@pytest.fixture
def dark_video(tmp_path, blob_tools):
    frames = np.full((12, 48, 64, 3), 30, dtype=np.uint8)
    return blob_tools.write_video(tmp_path / "dark.mp4", frames)


def _rgb(values):
    return np.round(heat_rgba(np.asarray(values), (0.0, 10.0))[:3] * 255)


def test_export_draws_keypoints_in_uncertainty_colours(dark_video, tmp_path):
    out = tmp_path / "labeled.mp4"
    events = list(iter_export_video(dark_video, _smoothed(12), out, tail=3, radius=4))
    assert isinstance(events[-1], ExportProgress) and events[-1].progress() == (12, 12)
    with VideoReader(out) as reader:
        assert len(reader) == 12
        frame = reader[5].astype(int)
    assert np.abs(frame[24, 16] - _rgb(0.0)).max() < 30  # pale yellow
    assert np.abs(frame[24, 32] - _rgb(20.0)).max() < 30  # red
    assert np.abs(frame[5, 24] - 30).max() < 12  # background untouched
    # the colour bar lies in a panel right of the picture: the picture is whole
    assert frame.shape[1] == 64 + bar_panel_width(pose_track_from_frame(_smoothed(12)))
    assert np.abs(frame[:, 40:64] - 30).max() < 12
    # hot at the top, pale at the bottom
    col = 64 + 8 + 6
    assert frame[12, col, 0] > 180 and frame[12, col, 2] < 80
    assert frame[38, col, 2] > frame[12, col, 2]


def test_export_cli_and_missing_frames(dark_video, tmp_path, capsys):
    csv = write_smoothed_csv(_smoothed(12), tmp_path / "s.csv")
    out = tmp_path / "cli.mp4"
    assert main(["export-video", str(dark_video), str(csv), "--out", str(out)]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
    with pytest.raises(LabelsError, match="no predictions for frames"):
        export_video(dark_video, _smoothed(5), tmp_path / "short.mp4")
    assert not (tmp_path / "short.mp4").exists()
