"""Shared plumbing of the unsupervised losses: predictions of a clip in original pixels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from napari_lightning_pose.data.transforms import keypoints_to_original


def clip_keypoints(outputs: Mapping[str, torch.Tensor], clip: Mapping[str, Any]) -> torch.Tensor:
    """The clips' predicted keypoints (C, T, K, 2) in original video pixels.

    ``outputs["keypoints"]`` (C, T, K, 2) is in model-input pixels; ``clip["scale"]`` (C, 2)
    holds the original -> resized factors (x, y) of each clip's video.
    """
    kp = outputs["keypoints"]
    scale = clip["scale"].to(kp).reshape(-1, 1, 1, 2)
    return keypoints_to_original(kp, scale)
