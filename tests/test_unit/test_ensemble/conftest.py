"""Fixtures for the EKS tests: the reference-package fixture and synthetic ensembles."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from napari_lightning_pose.io.pose_csv import make_pose_frame

EKS_FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "eks"


@pytest.fixture(scope="session")
def eks_fixture() -> Path:
    """``tests/fixtures/eks``: 1000 frames of the 5-member example and the reference output."""
    return EKS_FIXTURE


@pytest.fixture(scope="session")
def eks_members(eks_fixture: Path) -> list[Path]:
    """The five member prediction CSVs (gzip) of the fixture."""
    return sorted((eks_fixture / "members").glob("*.csv.gz"))


@pytest.fixture(scope="session")
def eks_reference_info(eks_fixture: Path) -> dict:
    """What the reference package chose and which versions made the fixture."""
    return json.loads((eks_fixture / "reference.json").read_text())


def read_reference(path: Path) -> pd.DataFrame:
    """A reference output CSV (three header rows)."""
    return pd.read_csv(path, header=[0, 1, 2], index_col=0)


def random_walk_truth(
    n_frames: int, n_keypoints: int, step_sd: float = 1.5, seed: int = 0
) -> np.ndarray:
    """Ground-truth trajectories (T, K, 2): random walks starting around (100, 100)."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, step_sd, size=(n_frames, n_keypoints, 2))
    return 100.0 + rng.uniform(-20, 20, size=(1, n_keypoints, 2)) + np.cumsum(steps, axis=0)


def ensemble_frames(
    member_xy: np.ndarray,
    keypoints: list[str],
    likelihood: float | np.ndarray = 0.9,
) -> list[pd.DataFrame]:
    """Prediction DataFrames (x, y, likelihood) from member coordinates (M, T, K, 2)."""
    n_members, n_frames, n_kp, _ = member_xy.shape
    lik = np.broadcast_to(np.asarray(likelihood, dtype=float), (n_members, n_frames, n_kp))
    lik = np.where(np.isnan(member_xy).any(axis=-1), np.nan, lik)
    frames = []
    for m in range(n_members):
        values = np.concatenate([member_xy[m], lik[m][..., None]], axis=-1)
        frames.append(make_pose_frame(values, keypoints, ("x", "y", "likelihood"), scorer=f"m{m}"))
    return frames


def noisy_members(truth: np.ndarray, n_members: int, noise_sd: float, seed: int = 1) -> np.ndarray:
    """Members (M, T, K, 2) = truth + independent Gaussian noise of ``noise_sd`` px."""
    rng = np.random.default_rng(seed)
    return truth[None] + rng.normal(0.0, noise_sd, size=(n_members, *truth.shape))


@pytest.fixture(scope="session")
def eks_tools() -> SimpleNamespace:
    """Helpers to build synthetic ensembles (test files cannot import conftest)."""
    return SimpleNamespace(
        truth=random_walk_truth,
        members=noisy_members,
        frames=ensemble_frames,
        read_reference=read_reference,
    )
