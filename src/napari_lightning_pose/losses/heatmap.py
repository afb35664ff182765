"""Supervised heatmap losses between predicted and target heatmaps, skipping missing keypoints.

Both compare the model's ``outputs["heatmaps"]`` (B, K, h, w; spatial-softmax maps that sum to
1) with the batch's Gaussian targets ``batch["heatmaps"]`` (same shape and normalisation, from
``data.heatmaps.gaussian_heatmaps``). A keypoint is left out when its target map is all zero or
its label ``batch["keypoints"]`` is NaN; a batch without any labeled keypoint gives a loss of
exactly 0 with zero (not NaN) gradients.
"""

from __future__ import annotations

import torch

from napari_lightning_pose.losses.base import Loss


def valid_keypoints(batch: dict) -> torch.Tensor:
    """Boolean mask (B, K): keypoints with a label and a non-empty target map."""
    targets = batch["heatmaps"]
    valid = targets.flatten(-2).sum(dim=-1) > 0
    if "keypoints" in batch:
        valid &= ~torch.isnan(batch["keypoints"]).any(dim=-1)
    return valid


def _mean_over_valid(per_map: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of per-map losses (B, K) over valid maps; 0 (in the graph) when none is valid."""
    per_map = torch.where(valid, per_map, torch.zeros_like(per_map))
    return per_map.sum() / valid.sum().clamp_min(1)


class HeatmapMSELoss(Loss):
    """Squared error between predicted and target heatmaps (``heatmap_mse``).

    Summed over the pixels of each labeled keypoint's map (the per-pixel mean times h * w, as
    Lightning Pose scales it), then averaged over labeled keypoints. Maps that sum to 1 have
    per-pixel errors of ~1e-5: without the scaling their gradients fall below Adam's epsilon
    and training barely moves.
    """

    name = "heatmap_mse"

    def compute(self, outputs: dict[str, torch.Tensor], batch: dict) -> torch.Tensor:
        """Unweighted MSE over labeled keypoints (scalar)."""
        pred, target = outputs["heatmaps"], batch["heatmaps"].to(outputs["heatmaps"].dtype)
        valid = valid_keypoints(batch)
        # zero the targets of invalid maps before subtracting so NaN can never leak in
        target = torch.where(valid[..., None, None], target, torch.zeros_like(target))
        per_map = self.rectify((pred - target) ** 2).flatten(-2).sum(dim=-1)  # (B, K)
        return _mean_over_valid(per_map, valid)


class HeatmapKLLoss(Loss):
    """KL divergence KL(target || predicted) per heatmap (``heatmap_kl``).

    Treats both maps as distributions over pixels; summed over the pixels of each labeled
    keypoint's map, then averaged over labeled keypoints.
    """

    name = "heatmap_kl"

    def compute(self, outputs: dict[str, torch.Tensor], batch: dict) -> torch.Tensor:
        """Unweighted KL over labeled keypoints (scalar)."""
        pred, target = outputs["heatmaps"], batch["heatmaps"].to(outputs["heatmaps"].dtype)
        valid = valid_keypoints(batch)
        target = torch.where(valid[..., None, None], target, torch.zeros_like(target))
        log_ratio = torch.log(target.clamp_min(1e-12)) - torch.log(pred.clamp_min(1e-12))
        per_pixel = torch.where(target > 0, target * log_ratio, torch.zeros_like(target))
        per_map = self.rectify(per_pixel).flatten(-2).sum(dim=-1)  # (B, K)
        return _mean_over_valid(per_map, valid)
