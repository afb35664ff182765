"""One optimiser step: forward, the weighted losses by name, backward, Adam.

The total loss is ``supervised + anneal * sum_i weight_i * loss_i`` over the unsupervised
losses, ``weight = 1 / (2 exp(log_weight))`` (``losses.base.Loss.weight``). For a context
model both heads (the single-frame one and the context one) get every loss: the
supervised losses on the labeled frames and the unsupervised ones on the unlabeled clip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from napari_lightning_pose.losses.base import Loss
from napari_lightning_pose.models.pose_model import head_outputs, head_prefixes
from napari_lightning_pose.training.precision import autocast


def to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Move a batch's tensors to ``device``; 4-D images go channels-last."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device, non_blocking=True)
            if key == "images" and value.dim() == 4:
                value = value.contiguous(memory_format=torch.channels_last)
        out[key] = value
    return out


def loss_terms(
    outputs: Mapping[str, Any],
    batch: Mapping[str, Any],
    supervised: Sequence[Loss],
    unsupervised: Sequence[Loss],
    anneal: float,
    prefixes: Sequence[str] = ("",),
    clip: Mapping[str, Any] | None = None,
) -> dict[str, torch.Tensor]:
    """Each loss's contribution to the total, by name (summed over the model's heads).

    Parameters
    ----------
    outputs
        The model's output dict; with an unlabeled clip its ``"unlabeled"`` entry holds the
        clip's outputs (same keys).
    batch
        The labeled batch (``"heatmaps"``, ``"keypoints"``, ...).
    supervised, unsupervised
        Loss modules; each returns its weighted value.
    anneal
        Factor on the unsupervised losses (``callbacks.anneal_weight``).
    prefixes
        Output-name prefixes of the model's heads (``models.pose_model.head_prefixes``).
    clip
        The unlabeled clips' batch (``"scale"`` (C, 2) for original pixels).
    """
    terms: dict[str, torch.Tensor] = {}
    for prefix in prefixes:
        head = head_outputs(outputs, prefix)
        for loss in supervised:
            terms[loss.name] = terms.get(loss.name, 0.0) + loss(head, batch)
    clip_out = outputs.get("unlabeled")
    if clip_out is not None and clip is not None:
        for prefix in prefixes:
            head = head_outputs(clip_out, prefix)
            for loss in unsupervised:
                value = anneal * loss(head, clip)
                terms[loss.name] = terms.get(loss.name, 0.0) + value
    return terms


def forward(
    net: nn.Module,
    batch: Mapping[str, Any],
    clip: torch.Tensor | None,
    amp_dtype: torch.dtype | None,
    device: torch.device,
) -> dict[str, Any]:
    """The model's outputs (float32) for a labeled batch and, if given, an unlabeled clip."""
    with autocast(device, amp_dtype):
        outputs = net(batch["images"]) if clip is None else net(batch["images"], clip=clip)
    return _as_float(outputs)


def _as_float(outputs: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in outputs.items():
        if isinstance(value, Mapping):
            out[key] = _as_float(value)
        elif isinstance(value, torch.Tensor) and value.is_floating_point():
            out[key] = value.float()
        else:
            out[key] = value
    return out


__all__ = ["forward", "head_prefixes", "loss_terms", "to_device"]
