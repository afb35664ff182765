"""The unsupervised losses' names and the keypoint columns of the PCA losses, checked
against the config: plain Python, so the docks can ask without importing torch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from napari_lightning_pose.errors import ConfigError

#: Lightning Pose's weight of the supervised heatmap loss: log_weight 0, i.e. 1 / 2.
SUPERVISED_LOG_WEIGHT = 0.0

# Lightning Pose's unsupervised losses (model.losses_to_use)
UNSUPERVISED_LOSSES = ("temporal", "pca_singleview", "pca_multiview")


def check_loss_names(cfg: Mapping[str, Any]) -> list[str]:
    """The unsupervised losses that ``model.losses_to_use`` names; ConfigError if unknown."""
    names = list(cfg["model"]["losses_to_use"] or [])
    for name in names:
        if name not in UNSUPERVISED_LOSSES:
            raise ConfigError(
                None,
                f"unknown loss {name!r} in model.losses_to_use.",
                f"Lightning Pose's losses are {', '.join(UNSUPERVISED_LOSSES)}.",
            )
    return names


def pca_columns(cfg: Mapping[str, Any], name: str, num_keypoints: int) -> list:
    """Keypoint indices of a PCA loss: singleview (P,), multiview V lists of P, checked."""
    data = cfg["data"]
    if name == "pca_singleview":
        cols = data["columns_for_singleview_pca"]
        cols = list(range(num_keypoints)) if cols is None else list(cols)
        key, views = "data.columns_for_singleview_pca", [cols]
    else:
        views = data.get("mirrored_column_matches")
        key = "data.mirrored_column_matches"
        if data.get("view_names"):
            return _camera_columns(data, num_keypoints)
        if not views or len(views) < 2:
            raise ConfigError(
                None,
                f"pca_multiview needs {key}: one list of keypoint indices per view (>= 2).",
                "Set it, e.g. [[0, 1, 2], [3, 4, 5]] for two views of three body parts, or "
                "remove 'pca_multiview' from model.losses_to_use.",
            )
        if len({len(v) for v in views}) != 1:
            raise ConfigError(
                None,
                f"{key} has views of unequal lengths {[len(v) for v in views]}.",
                "Each view must list the same body parts in the same order.",
            )
        cols = [list(v) for v in views]
    bad = [c for v in views for c in v if not (isinstance(c, int) and 0 <= c < num_keypoints)]
    if bad:
        raise ConfigError(
            None,
            f"{key} holds {bad}, outside the {num_keypoints} keypoints (0..{num_keypoints - 1}).",
            "Use 0-based indices into data.keypoint_names.",
        )
    return cols


def _camera_columns(data: Mapping[str, Any], num_keypoints: int) -> list[list[int]]:
    """Multi-camera ``pca_multiview``: column v * K + p is view v's keypoint p of the views'
    stacked poses. Lightning Pose's multi-view configs may name the keypoints to use in
    ``mirrored_column_matches`` (one list, or the same list per view); default all."""
    matches = data.get("mirrored_column_matches")
    kept = list(range(num_keypoints))
    if matches:
        if any(list(m) != list(matches[0]) for m in matches):
            raise ConfigError(
                None,
                f"data.mirrored_column_matches {matches} of a multi-camera project must list "
                "the same keypoints for every view (they are the same keypoints in each CSV).",
                "Give one list of keypoint indices, or remove the key to use all keypoints.",
            )
        kept = list(matches[0])
        bad = [c for c in kept if not (isinstance(c, int) and 0 <= c < num_keypoints)]
        if bad:
            raise ConfigError(
                None,
                f"data.mirrored_column_matches holds {bad}, outside the {num_keypoints} "
                f"keypoints (0..{num_keypoints - 1}).",
                "Use 0-based indices into data.keypoint_names.",
            )
    n_views = len(data["view_names"])
    return [[v * num_keypoints + p for p in kept] for v in range(n_views)]
