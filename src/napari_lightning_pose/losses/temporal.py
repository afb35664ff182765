"""Temporal continuity: consecutive frames of a clip should not jump."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from napari_lightning_pose.losses.base import Loss
from napari_lightning_pose.losses.unsupervised import clip_keypoints


class TemporalLoss(Loss):
    """Per keypoint, the distance (original px) between consecutive frames' predictions.

    Pairs where either frame's confidence is below ``prob_threshold`` are ignored; the
    distances are rectified by ``epsilon`` (one number, or one per keypoint) and averaged over
    the remaining pairs. A clip without any confident pair gives exactly 0.

    Parameters
    ----------
    log_weight, epsilon
        As for every loss (``losses.base.Loss``); epsilon in original pixels.
    prob_threshold
        Confidence below which a frame's keypoint takes no part.
    """

    name = "temporal"

    def __init__(
        self,
        log_weight: float | None = None,
        epsilon: float | Sequence[float] = 0.0,
        prob_threshold: float = 0.0,
    ) -> None:
        per_keypoint = not isinstance(epsilon, int | float)
        super().__init__(log_weight, 0.0 if per_keypoint else float(epsilon))
        eps = torch.as_tensor(epsilon if per_keypoint else [float(epsilon)], dtype=torch.float32)
        self.register_buffer("epsilons", eps, persistent=False)
        self.prob_threshold = float(prob_threshold)

    def per_pair(self, outputs: dict[str, torch.Tensor], clip: dict) -> torch.Tensor:
        """Unrectified jumps (C, T - 1, K) in original pixels, NaN where a pair is ignored.

        ``outputs``: ``"keypoints"`` (C, T, K, 2) and ``"likelihood"`` (C, T, K) of C clips.
        """
        kp = clip_keypoints(outputs, clip)
        jump = torch.linalg.vector_norm(kp[:, 1:] - kp[:, :-1], dim=-1)
        like = outputs["likelihood"]
        ok = (like[:, 1:] >= self.prob_threshold) & (like[:, :-1] >= self.prob_threshold)
        return torch.where(ok, jump, torch.full_like(jump, float("nan")))

    def compute(self, outputs: dict[str, torch.Tensor], clip: dict) -> torch.Tensor:
        """Mean rectified jump over confident pairs (scalar)."""
        jump = self.per_pair(outputs, clip)
        ok = ~torch.isnan(jump)
        rect = torch.relu(torch.nan_to_num(jump) - self.epsilons.to(jump))
        rect = torch.where(ok, rect, torch.zeros_like(rect))
        return rect.sum() / ok.sum().clamp_min(1)
