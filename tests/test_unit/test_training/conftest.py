"""The tiny blob project the training tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_lightning_pose.io.config import load_config

# 12 frames: 10 train (batch 4 -> 2 steps per pass), 1 val, 1 test; 32 x 32 input keeps a
# ResNet-18 step at a few tens of milliseconds.
TINY = {
    "n_frames": 12,
    "height": 40,
    "width": 48,
    "resize": 32,
    "n_video_frames": 4,
    "training.train_batch_size": 4,
}


@pytest.fixture
def tiny_cfg(tmp_path: Path, blob_tools) -> dict:
    """The config of a fresh tiny blob project (see ``TINY``)."""
    return load_config(blob_tools.make_project(tmp_path / "proj", **TINY))
