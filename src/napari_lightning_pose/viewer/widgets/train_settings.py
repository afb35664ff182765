"""What the Train dock's choices mean, without Qt: the model types, the config a run trains
with (loss strengths written as Lightning Pose's log_weight) and the dock's short texts."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.losses.balance import log_weight_for

#: Dock choice -> (model.model_type, unsupervised losses on?)
MODEL_TYPES = {
    "supervised": ("heatmap", False),
    "semi-supervised": ("heatmap", True),
    "context": ("heatmap_mhcrnn", False),
    "semi-supervised + context": ("heatmap_mhcrnn", True),
}


def run_config(project: str, model_choice: str, strengths: Mapping[str, float]) -> dict[str, Any]:
    """The config of ``project`` (its folder or config.yaml) with the dock's model type and
    the ticked unsupervised losses (name -> strength) filled in.

    Raises ``LightningPoseInputError`` without a project, or when a ticked loss cannot train
    on the project now (saying what it lacks).
    """
    from napari_lightning_pose.labeling.project import Project

    if not project:
        raise LightningPoseInputError(None, "no project chosen.", "Pick its folder.")
    cfg = copy.deepcopy(Project.open(project).config)
    model_type, semi = MODEL_TYPES[model_choice]
    cfg["model"]["model_type"] = model_type
    chosen = list(strengths) if semi else []
    if chosen:
        from napari_lightning_pose.losses.availability import project_availability

        missing = [a for n, a in project_availability(cfg).items() if n in chosen and not a.ok]
        if missing:
            raise LightningPoseInputError(
                None, " ".join(a.reason for a in missing),
                "Untick it, or label more frames first.",
            )  # fmt: skip
    cfg["model"]["losses_to_use"] = chosen
    for name in chosen:
        cfg.setdefault("losses", {}).setdefault(name, {})["log_weight"] = log_weight_for(
            float(strengths[name]), cfg
        )
    return cfg


def format_eta(seconds: float | None) -> str:
    """``"ETA 3 min 20 s"`` (or ``"ETA -"`` before the first step)."""
    if seconds is None or not math.isfinite(seconds):
        return "ETA -"
    minutes, secs = divmod(round(seconds), 60)
    return f"ETA {minutes} min {secs:02d} s" if minutes else f"ETA {secs} s"


def labels_summary(cfg: dict[str, Any]) -> str:
    """What the project's labels give training: labeled frames, per camera for a
    multi-camera project (and how many are labeled in every camera)."""
    from napari_lightning_pose.io.labels import drop_unlabeled, read_labels

    names = list(cfg["data"]["keypoint_names"]) or None
    if cfg["data"].get("view_names"):
        from napari_lightning_pose.data.multiview import describe_view_labels, read_view_labels

        return describe_view_labels(read_view_labels(cfg, names))
    csv = Path(cfg["data"]["data_dir"]) / cfg["data"]["csv_file"]
    n = len(drop_unlabeled(read_labels(csv, keypoint_names=names))) if csv.is_file() else 0
    return f"{n} labeled frames"


def loss_note(name: str, log_weight: float, cfg: dict[str, Any]) -> str:
    """The note beside an available loss: its log_weight, and for ``pca_multiview`` on a
    multi-camera project the cameras it compares."""
    note = f"log_weight {log_weight:.2f}"
    views = cfg["data"].get("view_names")
    if name == "pca_multiview" and views:
        note += f"; across cameras {', '.join(views)}"
    return note
