"""Shared fixtures: paths to the bundled sample data and to ../shared/data when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_shared_data() -> Path | None:
    """The example data folder: $NLP_SHARED_DATA, else ../shared/data beside the repo."""
    candidates = [os.environ.get("NLP_SHARED_DATA"), REPO_ROOT.parent / "shared" / "data"]
    for cand in candidates:
        if cand and (Path(cand) / "mirror-mouse-example").is_dir():
            return Path(cand)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real mirror-mouse and EKS examples); skips the test when absent."""
    path = find_shared_data()
    if path is None:
        pytest.skip("../shared/data not found (set NLP_SHARED_DATA to run this test)")
    return path


@pytest.fixture(scope="session")
def mirror_mouse(shared_data: Path) -> Path:
    """The full Lightning Pose mirror-mouse example folder."""
    return shared_data / "mirror-mouse-example"


@pytest.fixture(scope="session", autouse=True)
def _few_torch_threads() -> None:
    """Keep torch to two threads so tests behave the same on the 2-core CI machine."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(2)
