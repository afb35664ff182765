"""Synthetic ensembles with planted outliers, shared by the QC tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from napari_lightning_pose.io.pose_csv import make_pose_frame

KEYPOINTS = ["nose", "ear", "paw", "tail"]


@dataclass
class Planted:
    members: list[pd.DataFrame]
    truth: np.ndarray  # (T, K, 2)
    jumps: list[int]  # frames where every member jumps away (one keypoint)
    disagree: list[int]  # frames where members disagree strongly


def make_members(
    n_frames: int = 400,
    n_members: int = 4,
    jumps: tuple[int, ...] = (60, 250),
    disagree: tuple[int, ...] = (150, 330),
    seed: int = 0,
) -> Planted:
    """Members = smooth truth + small noise, with planted jumps and disagreements."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.5, (n_frames, len(KEYPOINTS), 2))
    truth = 100 + np.cumsum(steps, axis=0) + np.arange(len(KEYPOINTS))[None, :, None] * 40
    members = []
    for _ in range(n_members):
        xy = truth + rng.normal(0, 0.5, truth.shape)
        for f in jumps:
            xy[f, 1] += (40.0, -30.0)  # the whole ensemble jumps: ear, one frame
        for f in disagree:
            xy[f, 2] += rng.normal(0, 25.0, 2)  # members disagree on the paw
        lik = np.full((*truth.shape[:2], 1), 0.9)
        values = np.concatenate([xy, lik], axis=-1)
        members.append(make_pose_frame(values, KEYPOINTS, ("x", "y", "likelihood"), scorer="m"))
    return Planted(members, truth, list(jumps), list(disagree))


@pytest.fixture
def planted() -> Planted:
    return make_members()


@pytest.fixture(scope="session")
def make_planted():
    """``make_members`` itself, for tests that plant their own (test files cannot import
    conftest)."""
    return make_members


@pytest.fixture
def blob_smoothed(blob_project):
    """(project config, video, smoothed table) for the blob project's video."""
    from napari_lightning_pose.ensemble import smooth_ensemble

    root = blob_project.parent
    truth = np.load(root / "videos" / "blobs_positions.npy")  # (T, 2, 2)
    rng = np.random.default_rng(3)
    members = []
    for _ in range(3):
        xy = truth + rng.normal(0, 0.3, truth.shape)
        lik = np.full((*truth.shape[:2], 1), 0.9)
        values = np.concatenate([xy, lik], axis=-1)
        members.append(
            make_pose_frame(values, ["red", "green"], ("x", "y", "likelihood"), scorer="m")
        )
    smoothed = smooth_ensemble(members, smoothing=4.0).frame
    return blob_project, root / "videos" / "blobs.mp4", smoothed
