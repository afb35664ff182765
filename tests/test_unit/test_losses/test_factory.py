"""The loss factory builds what the config asks for and refuses what it cannot train."""

from __future__ import annotations

import pytest

from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.io.config import default_config
from napari_lightning_pose.losses.factory import build_losses
from napari_lightning_pose.losses.heatmap import HeatmapKLLoss, HeatmapMSELoss


@pytest.mark.parametrize(("kind", "cls"), [("mse", HeatmapMSELoss), ("kl", HeatmapKLLoss)])
def test_supervised_heatmap_loss_follows_config(kind: str, cls) -> None:
    cfg = default_config()
    cfg["model"]["heatmap_loss_type"] = kind
    losses = build_losses(cfg)
    assert [type(loss) for loss in losses] == [cls]
    assert losses[0].name == f"heatmap_{kind}"
    assert losses[0].weight == 0.5  # Lightning Pose: log_weight 0 for the heatmap loss


def test_unknown_heatmap_loss_type_lists_valid_ones() -> None:
    cfg = default_config()
    cfg["model"]["heatmap_loss_type"] = "wasserstein"
    with pytest.raises(ConfigError, match="mse, kl"):
        build_losses(cfg)


def test_unknown_loss_name_is_refused() -> None:
    cfg = default_config()
    cfg["model"]["losses_to_use"] = ["typo_loss"]
    with pytest.raises(ConfigError, match="unknown loss 'typo_loss'"):
        build_losses(cfg)
