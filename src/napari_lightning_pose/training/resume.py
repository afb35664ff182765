"""Resuming a run: check that ``last.ckpt`` fits the config, then restore its state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from napari_lightning_pose.training import checkpoints as ck


@dataclass
class ResumePoint:
    """Where a resumed run carries on: the step and the validation errors it had."""

    step: int
    best_val: float | None
    last_val: float | None
    warm_started: bool = False


def restore_run(
    out_dir: Path,
    cfg: Mapping[str, Any],
    keypoint_names: Sequence[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
) -> ResumePoint:
    """Load ``out_dir/last.ckpt`` into the model, optimizer, scaler and the RNGs.

    Raises
    ------
    CheckpointError
        No usable checkpoint, or one trained with another backbone, model type, keypoints
        or optimizer layout (the message names the file and says to train elsewhere).
    """
    ckpt, path = ck.read_checkpoint(out_dir / ck.LAST_CKPT, ck.REQUIRED_KEYS + ck.RESUME_KEYS)
    theirs = ckpt["config"]
    for section, key in (("model", "backbone"), ("model", "model_type")):
        if cfg[section][key] != theirs[section][key]:
            raise ck.CheckpointError(
                path,
                f"was trained with {section}.{key} = {theirs[section][key]!r}, the config "
                f"says {cfg[section][key]!r}.",
                "Resume with the same config, or train into a new --out folder.",
            )
    if list(ckpt["keypoint_names"]) != list(keypoint_names):
        raise ck.CheckpointError(
            path,
            "was trained on other keypoints than the project's labels.",
            "Train into a new --out folder.",
        )
    model.load_state_dict(ckpt["state_dict"])
    try:
        optimizer.load_state_dict(ckpt["optimizer"])
    except ValueError as err:  # e.g. written before the backbone / head groups existed
        raise ck.CheckpointError(
            path,
            f"its optimizer state does not fit this version's optimizer ({err}).",
            "Train into a new --out folder.",
        ) from err
    if ckpt.get("scaler"):
        scaler.load_state_dict(ckpt["scaler"])
    ck.set_rng_state(ckpt["rng"])
    return ResumePoint(
        int(ckpt["step"]),
        ckpt.get("best_val_pixel_error"),
        ckpt.get("val_pixel_error"),
        bool(ckpt.get("init_from")),
    )
