"""Finding an ensemble's members, project and video from one CSV (no Qt, no viewer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_lightning_pose.ensemble.files import (
    find_ensemble_files,
    find_project_config,
    keypoint_mismatch,
)
from napari_lightning_pose.ensemble.smooth import smooth_ensemble, write_smoothed_csv
from napari_lightning_pose.io.pose_csv import make_pose_frame, write_pose_csv


def _predictions(folder: Path, video: str, n_members: int = 3) -> tuple[Path, list[Path]]:
    """``folder/member<m>.csv`` and ``folder/<video>.eks.csv`` as Predict + smooth writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    truth = 50 + np.cumsum(rng.normal(0, 1, (20, 2, 2)), 0)
    members = []
    for m in range(n_members):
        xy = truth + rng.normal(0, 1, truth.shape)
        values = np.concatenate([xy, np.full((20, 2, 1), 0.9)], axis=-1)
        df = make_pose_frame(values, ["nose", "tail"], ("x", "y", "likelihood"), scorer="m")
        members.append(write_pose_csv(df, folder / f"member{m}.csv"))
    smoothed = write_smoothed_csv(smooth_ensemble(members), folder / f"{video}.eks.csv")
    return smoothed, members


def test_docks_layout_smoothed_csv_finds_members_project_and_video(tmp_path):
    project = tmp_path / "proj"
    (project / "videos").mkdir(parents=True)
    (project / "config.yaml").write_text("data: {}\n")
    (project / "videos" / "mouse.mp4").write_bytes(b"")
    (project / "notes.csv").write_text("a,b\n1,2\n")  # not a pose CSV: never a member
    smoothed, members = _predictions(project / "predictions" / "mouse", "mouse")
    found = find_ensemble_files(smoothed)
    assert found.smoothed == smoothed
    assert found.members == members
    assert found.project == project / "config.yaml"
    assert found.video == project / "videos" / "mouse.mp4"
    assert found.missing() == []


def test_demo_layout_project_beside_predictions(tmp_path):
    out = tmp_path / "demo"
    (out / "project").mkdir(parents=True)
    (out / "project" / "config.yaml").write_text("data: {}\n")
    (out / "clip").mkdir()
    (out / "clip" / "test_vid.mp4").write_bytes(b"")
    smoothed, members = _predictions(out / "predictions" / "test_vid", "test_vid")
    found = find_ensemble_files(smoothed)
    assert found.project == (out / "project" / "config.yaml").resolve()
    assert found.members == members
    assert found.video == out / "clip" / "test_vid.mp4"
    # from a member the smoothed file of the folder is found as well
    assert find_ensemble_files(members[1]).smoothed == smoothed
    assert find_ensemble_files(members[1]).members == members


def test_lone_csv_says_what_is_missing(tmp_path):
    smoothed, members = _predictions(tmp_path / "here", "v", n_members=2)
    for m in members:
        m.unlink()
    found = find_ensemble_files(smoothed)
    assert found.members == [] and found.project is None
    assert any("member" in text for text in found.missing())
    assert find_project_config(tmp_path / "nowhere" / "x.csv") is None


def test_keypoint_mismatch_names_the_keypoints():
    assert keypoint_mismatch(["a", "b"], ["b", "a"], "p.csv", "config.yaml") is None
    text = keypoint_mismatch(["nose", "tail"], ["nose", "paw"], "p.csv", "c/config.yaml")
    assert "paw" in text and "tail" in text and "p.csv" in text
