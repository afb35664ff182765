"""Pose plausibility (singleview PCA) and multi-view consistency (multiview PCA) losses."""

from __future__ import annotations

import torch

from napari_lightning_pose.losses.base import Loss
from napari_lightning_pose.losses.pca import PCAFit
from napari_lightning_pose.losses.unsupervised import clip_keypoints


class _PCALoss(Loss):
    """Per-keypoint distance (original px) between a prediction and its projection onto the
    labeled poses' subspace (``losses.pca``), rectified by the fit's epsilon, averaged."""

    def __init__(self, fit: PCAFit, log_weight: float | None = None) -> None:
        super().__init__(log_weight, fit.epsilon)
        self.fit = fit
        self.register_buffer("mean", torch.as_tensor(fit.mean, dtype=torch.float32), False)
        comps = torch.as_tensor(fit.components, dtype=torch.float32)
        self.register_buffer("components", comps, persistent=False)
        self.register_buffer("columns", torch.as_tensor(fit.columns), persistent=False)

    def design(self, keypoints: torch.Tensor) -> torch.Tensor:
        """Data-matrix rows from poses (T, K, 2)."""
        raise NotImplementedError

    def point_errors(self, keypoints: torch.Tensor) -> torch.Tensor:
        """Reprojection error per (row, point) of poses (..., K, 2) in original pixels."""
        rows = self.design(keypoints.flatten(0, -3))
        centred = rows - self.mean
        recon = centred @ self.components.T @ self.components
        return torch.linalg.vector_norm((centred - recon).unflatten(-1, (-1, 2)), dim=-1)

    def compute(self, outputs: dict[str, torch.Tensor], clip: dict) -> torch.Tensor:
        """Mean rectified reprojection error (scalar)."""
        return self.rectify(self.point_errors(clip_keypoints(outputs, clip))).mean()


class PCASingleviewLoss(_PCALoss):
    """``pca_singleview``: a pose off the subspace of labeled poses is implausible."""

    name = "pca_singleview"

    def design(self, keypoints: torch.Tensor) -> torch.Tensor:
        """(T, 2P) rows: x, y of each PCA keypoint."""
        return keypoints[:, self.columns, :].flatten(1)


class PCAMultiviewLoss(_PCALoss):
    """``pca_multiview``: the views of one body part must agree (a 3-D point seen by affine
    cameras lies on a 3-D subspace of the 2V view coordinates)."""

    name = "pca_multiview"

    def compute(self, outputs: dict[str, torch.Tensor], clip: dict) -> torch.Tensor:
        """Mean rectified reprojection error; a multi-camera clip batch (``clip["views"]``
        = V: C * V clips, each clip's views in a row) is compared frame by frame across the
        views."""
        keypoints = clip_keypoints(outputs, clip)
        n_views = int(clip.get("views", 1))
        if n_views > 1:
            keypoints = stack_views(keypoints, n_views)
        return self.rectify(self.point_errors(keypoints)).mean()

    def design(self, keypoints: torch.Tensor) -> torch.Tensor:
        """(T * P, 2V) rows: x, y of the body part in each view."""
        views = keypoints[:, self.columns, :]  # (T, V, P, 2)
        return views.permute(0, 2, 1, 3).flatten(2).flatten(0, 1)


def stack_views(keypoints: torch.Tensor, n_views: int) -> torch.Tensor:
    """(C * V, T, K, 2) clips, each clip's V views in a row, to (C, T, V * K, 2): every
    frame's views side by side (view-major, the columns of ``data.multiview.stacked_poses``)."""
    c_v, t, k, _ = keypoints.shape
    per = keypoints.reshape(c_v // n_views, n_views, t, k, 2)
    return per.permute(0, 2, 1, 3, 4).reshape(c_v // n_views, t, n_views * k, 2)
