"""Which unsupervised losses a project can use now, and what it lacks for the others.

Training refuses a PCA loss that cannot be fitted (``losses.pca.fit_pose_pca`` raises a
ConfigError naming the keypoints); the Train dock, ``init`` and the demo ask here first, so
they offer only losses that will train and say how many more labeled frames the others need.

A PCA of D columns needs every pair of its columns labeled together in at least D rows of
the TRAINING split (``data.splits.split_indices`` with the config's probabilities and
``rng_seed_data_pt``): ``pca_singleview`` has one row per frame and D = 2 x its keypoints,
``pca_multiview`` one row per (frame, body part) and D = 2 x views. A new fully labeled frame
adds ``train_prob`` of a training row on average, so the frames still needed are
``ceil((D - have) / train_prob)`` (for multiview divided by the body parts per frame).
``temporal`` needs only a video in ``data.video_dir``; every loss needs one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_lightning_pose.data.splits import config_split
from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.losses.names import UNSUPERVISED_LOSSES, pca_columns
from napari_lightning_pose.losses.pca import design_matrix


@dataclass(frozen=True)
class LossAvailability:
    """Whether one unsupervised loss can train on the project now.

    Attributes
    ----------
    name : str
        ``temporal``, ``pca_singleview`` or ``pca_multiview``.
    ok : bool
        True when training with it will not be refused for lack of data.
    more_frames : int
        Fully labeled frames still needed (0 when ``ok`` or when frames would not help).
    reason : str
        Empty when ``ok``; otherwise one sentence for the user.
    """

    name: str
    ok: bool
    more_frames: int = 0
    reason: str = ""


def _has_video(cfg: Mapping[str, Any]) -> bool:
    from napari_lightning_pose.io.video import VIDEO_SUFFIXES

    folder = Path(cfg["data"]["video_dir"])
    return folder.is_dir() and any(p.suffix.lower() in VIDEO_SUFFIXES for p in folder.iterdir())


def _pca_availability(
    name: str, cfg: Mapping[str, Any], keypoints: np.ndarray
) -> LossAvailability:
    k = keypoints.shape[1]
    if name == "pca_multiview" and cfg["data"].get("view_names"):  # the views' stacked poses
        k //= len(cfg["data"]["view_names"])
    try:
        cols = np.asarray(pca_columns(cfg, name, k), dtype=np.int64)
    except ConfigError as err:  # no mirrored_column_matches, bad indices
        return LossAvailability(name, False, 0, str(err).split("\n")[0])
    tcfg = cfg["training"]
    n = len(keypoints)
    train = np.zeros(0, dtype=np.int64)
    if n:
        train = config_split(n, tcfg)["train"]
    rows = design_matrix(keypoints[train], name, cols)
    present = np.isfinite(rows).astype(np.float64)
    need = rows.shape[1]
    have = int((present.T @ present).min()) if len(rows) else 0
    if have >= need:
        return LossAvailability(name, True)
    per_frame = 1 if name == "pca_singleview" else cols.shape[1]
    more = math.ceil((need - have) / (float(tcfg["train_prob"]) * per_frame))
    unit = "training poses" if name == "pca_singleview" else "training (frame, body part) rows"
    return LossAvailability(
        name, False, more,
        f"{name} needs {more} more fully labeled frame(s): its PCA has {need} coordinates "
        f"and needs {need} {unit} in which each pair of its keypoints is labeled; the project "
        f"has {have}.",
    )  # fmt: skip


def unsupervised_availability(
    cfg: Mapping[str, Any], keypoints: np.ndarray, stacked: np.ndarray | None = None
) -> dict[str, LossAvailability]:
    """Every unsupervised loss's availability for a project.

    Parameters
    ----------
    cfg
        Validated project config with absolute ``data.video_dir``.
    keypoints
        (N, K, 2) labels of all labeled frames in CSV order, NaN where missing; a
        multi-camera project's every view's rows.
    stacked
        Multi-camera projects: (F, V * K, 2) the frames labeled in every view, views side by
        side (``data.multiview.stacked_poses``), which the cross-camera PCA is fitted to.
    """
    video = _has_video(cfg)
    out: dict[str, LossAvailability] = {}
    for name in UNSUPERVISED_LOSSES:
        if not video:
            out[name] = LossAvailability(
                name, False, 0, f"{name} trains on unlabeled video: add a video to the project."
            )
        elif name == "temporal":
            out[name] = LossAvailability(name, True)
        else:
            poses = keypoints
            if name == "pca_multiview" and cfg["data"].get("view_names"):
                n = len(cfg["data"]["view_names"]) * keypoints.shape[1]
                poses = stacked if stacked is not None else np.zeros((0, n, 2))
            out[name] = _pca_availability(name, cfg, np.asarray(poses, dtype=np.float64))
    return out


def project_availability(cfg: Mapping[str, Any]) -> dict[str, LossAvailability]:
    """``unsupervised_availability`` for the project's labels file (``data.csv_file``)."""
    from napari_lightning_pose.io.labels import drop_unlabeled, read_labels
    from napari_lightning_pose.io.pose_csv import coords_array

    names = list(cfg["data"]["keypoint_names"]) or None
    views = cfg["data"].get("view_names")
    if views:
        from napari_lightning_pose.data.multiview import read_view_labels, stacked_poses

        if not all((Path(cfg["data"]["data_dir"]) / c).is_file() for c in cfg["data"]["csv_file"]):
            return unsupervised_availability(cfg, np.zeros((0, len(names or [0]), 2)))
        found = read_view_labels(cfg, names)
        rows = np.arange(len(found.image_paths))
        stacked = stacked_poses(found.keypoints, found.view_of, found.frame_keys, rows, len(views))
        return unsupervised_availability(cfg, found.keypoints, stacked)
    csv = Path(cfg["data"]["data_dir"]) / cfg["data"]["csv_file"]
    if not csv.is_file():  # the rows training would use: labeled frames, in file order
        return unsupervised_availability(cfg, np.zeros((0, len(names or [0]), 2)))
    labels = drop_unlabeled(read_labels(csv, keypoint_names=names))
    return unsupervised_availability(cfg, coords_array(labels))
