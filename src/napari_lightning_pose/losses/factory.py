"""Build the active losses from the config, as Lightning Pose's loss factory does.

The supervised heatmap loss (``model.heatmap_loss_type``: ``mse`` or ``kl``) is always on
(``build_losses``), weighted 1/2 (``log_weight`` 0) as in Lightning Pose's loss factory.
``model.losses_to_use`` names Lightning Pose's unsupervised losses (``temporal``,
``pca_singleview``, ``pca_multiview``), built by
``build_unsupervised_losses`` from ``losses.<name>.*`` and, for the PCA losses, a fit to the
training split's labeled poses in original pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.losses.base import Loss
from napari_lightning_pose.losses.heatmap import HeatmapKLLoss, HeatmapMSELoss
from napari_lightning_pose.losses.names import SUPERVISED_LOG_WEIGHT, check_loss_names, pca_columns
from napari_lightning_pose.losses.pca import PCAFit, fit_pose_pca
from napari_lightning_pose.losses.pca_losses import PCAMultiviewLoss, PCASingleviewLoss
from napari_lightning_pose.losses.temporal import TemporalLoss

HEATMAP_LOSSES: dict[str, type[Loss]] = {"mse": HeatmapMSELoss, "kl": HeatmapKLLoss}


def build_losses(cfg: Mapping[str, Any]) -> list[Loss]:
    """The losses to sum during training, supervised heatmap loss first.

    Parameters
    ----------
    cfg
        Validated project config (``io.config.load_config`` / ``validate_config``).

    Returns
    -------
    list[Loss]
        Each returns a weighted scalar from ``loss(outputs, batch)`` and has a ``name``.
    """
    kind = cfg["model"]["heatmap_loss_type"]
    if kind not in HEATMAP_LOSSES:
        raise ConfigError(
            None,
            f"unknown model.heatmap_loss_type {kind!r}.",
            f"Use one of: {', '.join(HEATMAP_LOSSES)}.",
        )
    check_loss_names(cfg)
    return [HEATMAP_LOSSES[kind](SUPERVISED_LOG_WEIGHT)]


def build_unsupervised_losses(
    cfg: Mapping[str, Any], keypoints: np.ndarray, stacked: np.ndarray | None = None
) -> tuple[list[Loss], dict[str, PCAFit]]:
    """The unsupervised losses of ``model.losses_to_use`` and their PCA fits.

    Parameters
    ----------
    cfg
        Validated project config.
    keypoints
        (N, K, 2) labeled poses of the TRAINING split in original image pixels, NaN where
        missing (the PCA losses are fitted to them). Multi-camera: every view's rows.
    stacked
        Multi-camera projects: (F, V * K, 2) the training frames labeled in every view, the
        views side by side (``data.multiview.stacked_poses``); ``pca_multiview`` is fitted
        to them, across the cameras.

    Returns
    -------
    losses : list[Loss]
        In ``model.losses_to_use`` order; each returns its weighted value from
        ``loss(outputs, clip)`` (``clip["scale"]`` maps model pixels to original ones).
    fits : dict[str, PCAFit]
        The PCA fits by loss name (saved in checkpoints, reused by the video metrics).
    """
    data, lcfg = cfg["data"], cfg["losses"]
    k = keypoints.shape[1]
    names = list(data["keypoint_names"]) or [str(i) for i in range(k)]
    losses: list[Loss] = []
    fits: dict[str, PCAFit] = {}
    for name in check_loss_names(cfg):
        sub = lcfg[name]
        if name == "temporal":
            eps = sub["epsilon"] if sub["epsilon"] is not None else 0.0
            if isinstance(eps, list) and len(eps) != k:
                raise ConfigError(
                    None,
                    f"losses.temporal.epsilon lists {len(eps)} values for {k} keypoints.",
                    "Give one number, or one per keypoint in data.keypoint_names order.",
                )
            losses.append(TemporalLoss(sub["log_weight"], eps, sub["prob_threshold"]))
            continue
        views = data.get("view_names")
        if name == "pca_multiview" and views:  # across cameras: the views' poses side by side
            if stacked is None:
                raise ValueError("a multi-camera pca_multiview needs the stacked poses")
            columns = pca_columns(cfg, name, k)
            stacked_names = [f"{view}:{n}" for view in views for n in names]
            fits[name] = fit_pose_pca(stacked, name, columns, sub, stacked_names)
        else:
            columns = pca_columns(cfg, name, k)
            fits[name] = fit_pose_pca(keypoints, name, columns, sub, names)
        cls = PCASingleviewLoss if name == "pca_singleview" else PCAMultiviewLoss
        losses.append(cls(fits[name], sub["log_weight"]))
    return losses, fits
