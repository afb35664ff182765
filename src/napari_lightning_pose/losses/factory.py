"""Build the active losses from the config, as Lightning Pose's loss factory does.

The supervised heatmap loss (``model.heatmap_loss_type``: ``mse`` or ``kl``) is always on.
``model.losses_to_use`` names Lightning Pose's unsupervised losses; they are not implemented
yet, so naming one fails with a ``ConfigError`` instead of silently training without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.losses.base import Loss
from napari_lightning_pose.losses.heatmap import HeatmapKLLoss, HeatmapMSELoss

HEATMAP_LOSSES: dict[str, type[Loss]] = {"mse": HeatmapMSELoss, "kl": HeatmapKLLoss}
# Lightning Pose's unsupervised losses (model.losses_to_use): planned, not yet available.
UNSUPERVISED_LOSSES = ("temporal", "pca_singleview", "pca_multiview")


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
    losses: list[Loss] = [HEATMAP_LOSSES[kind]()]
    for name in cfg["model"]["losses_to_use"]:
        if name in UNSUPERVISED_LOSSES:
            raise ConfigError(
                None,
                f"model.losses_to_use names {name!r}, an unsupervised loss that this version "
                "cannot train yet.",
                "Remove it from model.losses_to_use (set it to []) to train supervised only.",
            )
        raise ConfigError(
            None,
            f"unknown loss {name!r} in model.losses_to_use.",
            f"Lightning Pose's losses are {', '.join(UNSUPERVISED_LOSSES)}.",
        )
    return losses
