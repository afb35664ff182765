"""Pixel errors of a model on labeled frames, always measured in float32.

Training may run under bf16 autocast, but validation (which chooses ``best.ckpt``) and
``evaluate`` never do: bf16 moved keypoints by up to 1.7 px on GPUs (see
``models.pose_model``), more than the differences between the checkpoints it compares.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from napari_lightning_pose.data.transforms import keypoints_to_original
from napari_lightning_pose.models.pose_model import best_head


def pixel_errors(
    model: nn.Module, loader: Iterable[dict[str, Any]], device: torch.device
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Predict labeled frames and measure the error in original image pixels.

    Parameters
    ----------
    model
        A model returning ``"keypoints"`` (B, K, 2) in resized pixels and ``"likelihood"``.
    loader
        Batches of a ``LabeledFramesDataset`` without augmentation.
    device
        Where the model is.

    Returns
    -------
    errors : np.ndarray
        (N, K) Euclidean distance between prediction and label, original pixels; NaN where
        the label is missing.
    predictions : np.ndarray
        (N, K, 3) predicted x, y (original pixels) and likelihood.
    image_paths : list[str]
        The N frames' CSV row labels, in loader order.
    """
    errors, preds, paths = [], [], []
    for batch in loader:
        e, p = batch_errors(model, batch, device)
        errors.append(e)
        preds.append(p)
        paths.extend(batch["image_path"])
    if not errors:
        return np.zeros((0, 0)), np.zeros((0, 0, 3)), []
    return np.concatenate(errors), np.concatenate(preds), paths


def batch_errors(
    model: nn.Module, batch: Mapping[str, Any], device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """Errors (B, K) and predictions (B, K, 3: x, y, likelihood) in original pixels for one
    batch of labeled frames, in float32 (autocast off); the model runs in eval mode and is
    left as it was."""
    was_training = model.training
    model.eval()
    with torch.inference_mode(), torch.autocast(device.type, enabled=False):
        keypoints, likelihood = best_head(model(batch["images"].to(device).float()))
    model.train(was_training)
    scale = batch["scale"][:, None, :].double()  # (B, 1, 2)
    pred = keypoints_to_original(keypoints.double().cpu(), scale)
    true = keypoints_to_original(batch["keypoints"].double(), scale)
    errors = torch.linalg.vector_norm(pred - true, dim=-1).numpy()
    like = likelihood.double().cpu()[..., None]
    return errors, torch.cat([pred, like], dim=-1).numpy()
