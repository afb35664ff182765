"""suggest-frames on a project: uncertain frames, appended, never replacing earlier ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_lightning_pose.cli import main
from napari_lightning_pose.ensemble import write_smoothed_csv
from napari_lightning_pose.errors import ConfigError, LightningPoseInputError
from napari_lightning_pose.io.image_paths import image_path
from napari_lightning_pose.labeling.project import Project
from napari_lightning_pose.qc.suggest_project import find_smoothed, suggest_frames


def _plant(smoothed: pd.DataFrame, frames: list[int]) -> pd.DataFrame:
    out = smoothed.copy()
    for f in frames:
        out.loc[f, (slice(None), "green", "x_posterior_var")] = 100.0 + f
    return out


def test_without_smoothed_predictions_says_which_command(blob_project):
    with pytest.raises(ConfigError, match="napari-lightning-pose smooth"):
        suggest_frames(blob_project, 2)


def test_suggestions_are_uncertain_appended_and_kept(blob_smoothed):
    config, video, smoothed = blob_smoothed
    project = Project.open(config)
    csv = write_smoothed_csv(
        _plant(smoothed, [8, 9, 20]), project.root / "predictions" / "blobs.smoothed.csv"
    )
    assert find_smoothed(project, video) == csv
    before = project.csv_path.read_bytes()
    first = suggest_frames(project, 2, min_gap=3, context=1)
    assert [s.frame for s in first] == [20, 9]  # 8 is a neighbour of 9
    assert project.csv_path.read_bytes().startswith(before)
    labels = project.read_labels()
    assert list(labels.index[-2:]) == [image_path("blobs", 20), image_path("blobs", 9)]
    for f in (8, 9, 10, 19, 20, 21):
        assert (project.data_dir / image_path("blobs", f)).is_file()

    second = suggest_frames(project, 3, min_gap=3, context=0)
    frames = [s.frame for s in second]
    assert all(abs(f - g) >= 3 for f in frames for g in (9, 20))  # not next to earlier ones
    labels = project.read_labels()
    assert {image_path("blobs", f) for f in (9, 20, *frames)} <= set(labels.index)
    log = pd.read_csv(project.csv_path.with_name("suggestions.csv"))
    assert log["round"].tolist() == [1, 1, 2, 2, 2]
    assert log["frame"].tolist()[:2] == [20, 9]


def test_more_frames_than_the_videos_have(blob_smoothed):
    config, _, smoothed = blob_smoothed
    project = Project.open(config)
    write_smoothed_csv(smoothed, project.root / "predictions" / "blobs.smoothed.csv")
    with pytest.raises(LightningPoseInputError, match="asked for 31 frames but only 30"):
        suggest_frames(project, 31, min_gap=0)
    assert "blobs" not in project.csv_path.read_text()


def test_suggest_frames_cli(blob_smoothed, capsys):
    config, _, smoothed = blob_smoothed
    project = Project.open(config)
    write_smoothed_csv(_plant(smoothed, [14]), project.root / "predictions" / "blobs.smoothed.csv")
    assert main(["suggest-frames", "--config", str(config), "-n", "1", "--context", "0"]) == 0
    out = capsys.readouterr().out
    assert image_path("blobs", 14) in out and "added 1 frames" in out
    assert main(["suggest-frames", "--config", str(config), "-n", "100"]) == 2
    assert "asked for 100 frames" in capsys.readouterr().err
    assert np.isnan(project.read_labels().loc[image_path("blobs", 14)].to_numpy()).all()
