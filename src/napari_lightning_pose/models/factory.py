"""Build the pose model a project config describes: the model class chosen by name.

``model.model_type`` picks the class (``heatmap``: ``pose_model.PoseHeatmapModel``;
``heatmap_mhcrnn``: ``context.PoseContextModel``, which builds on it), ``model.backbone``
the feature extractor (``backbones``). Kept apart from both classes so that neither module
imports the other's builder.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.models.backbones import build_backbone
from napari_lightning_pose.models.context import PoseContextModel
from napari_lightning_pose.models.pose_model import PoseHeatmapModel
from napari_lightning_pose.models.soft_argmax import peak_radius

MODEL_TYPES = ("heatmap", "heatmap_mhcrnn")
# Lightning Pose model types that later work may add; named here to give a clear error.
PLANNED_MODEL_TYPES = ("regression",)


def resolve_weights(weights: str | None, cfg: Mapping[str, Any]) -> str | Path | None:
    """``model.backbone_weights`` with a relative file path resolved against ``data.data_dir``.

    ``"imagenet"``, ``None`` and the random-init names pass through. A relative path is looked up
    in the project folder first, then in the working directory.
    """
    if weights is None or weights.lower() in ("imagenet", "none", "random", "scratch"):
        return weights
    path = Path(weights).expanduser()
    if not path.is_absolute():
        in_project = Path(cfg["data"]["data_dir"]) / path
        if in_project.exists():
            return in_project
    return path


def build_model(cfg: Mapping[str, Any]) -> nn.Module:
    """Build the pose model that ``cfg`` describes (random head, backbone weights as configured).

    Reads ``model.model_type``, ``model.backbone``, ``model.backbone_weights``,
    ``data.keypoint_names`` / ``data.num_keypoints``, ``data.downsample_factor`` and
    ``losses.heatmap_sigma`` (for the soft-argmax window). Seed torch before calling it for a
    reproducible head initialisation.

    Returns
    -------
    nn.Module
        A ``PoseHeatmapModel`` for ``model_type: heatmap``, a
        ``models.context.PoseContextModel`` for ``heatmap_mhcrnn``.
    """
    model_cfg, data_cfg = cfg["model"], cfg["data"]
    model_type = model_cfg["model_type"]
    if model_type in PLANNED_MODEL_TYPES:
        raise ConfigError(
            None,
            f"model.model_type {model_type!r} is not available yet.",
            f"Use one of: {', '.join(MODEL_TYPES)}.",
        )
    if model_type not in MODEL_TYPES:
        raise ConfigError(
            None,
            f"unknown model.model_type {model_type!r}.",
            f"Use one of: {', '.join(MODEL_TYPES)}.",
        )
    num_keypoints = len(data_cfg["keypoint_names"]) or int(data_cfg["num_keypoints"])
    if num_keypoints < 1:
        raise ConfigError(
            None,
            "the config names no keypoints.",
            "Set data.keypoint_names (or data.num_keypoints) in the project config.",
        )
    weights = resolve_weights(model_cfg["backbone_weights"], cfg)
    backbone = build_backbone(model_cfg["backbone"], weights)
    kwargs = {
        "num_keypoints": num_keypoints,
        "downsample_factor": int(data_cfg["downsample_factor"]),
        "peak_radius": peak_radius(float(cfg["losses"]["heatmap_sigma"])),
    }
    if model_type == "heatmap_mhcrnn":
        grads = bool(model_cfg.get("context_neighbour_gradients", False))
        return PoseContextModel(backbone, neighbour_gradients=grads, **kwargs)
    return PoseHeatmapModel(backbone, **kwargs)
