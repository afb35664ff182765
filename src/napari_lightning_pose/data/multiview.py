"""The labeled frames of a multi-camera project (``io.views``): every view's CSV, one network.

Each view's labeled frame is one training sample (the views share the backbone and heads, as
in Lightning Pose's multi-view models). A frame is known by its session and image name with
the view taken out (``labeled-data/s1_top/img07.png`` and ``labeled-data/s1_bottom/img07.png``
are the frame ``s1/img07.png``): the train / val / test split is drawn over these frames, so
all views of one frame land in the same split, and the cross-camera PCA is fitted on the
frames labeled in every view, their views' poses side by side. Numpy and pandas only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from napari_lightning_pose.data.splits import config_split
from napari_lightning_pose.io.labels import drop_unlabeled, match_keypoints, read_labels
from napari_lightning_pose.io.pose_csv import coords_array, keypoint_names, make_pose_frame
from napari_lightning_pose.io.views import (
    Views,
    check_same_keypoints,
    project_views,
    session_name,
    view_in_name,
)


@dataclass
class ViewLabels:
    """The labeled rows of every view, views one after another.

    Attributes
    ----------
    views : Views
        The project's cameras and their CSVs.
    keypoint_names : list of str
        The keypoints every view labels.
    image_paths : list of str
        Each row's image (the view's CSV row label).
    keypoints : np.ndarray
        (N, K, 2) labels in the view's original pixels, NaN where missing.
    view_of : np.ndarray
        (N,) the view index of each row.
    frame_keys : list of str
        (N) each row's frame with the view taken out; equal across the views of one frame.
    """

    views: Views
    keypoint_names: list[str]
    image_paths: list[str]
    keypoints: np.ndarray
    view_of: np.ndarray
    frame_keys: list[str]

    def table(self):
        """The rows as one labels DataFrame (image paths as index)."""
        return make_pose_frame(self.keypoints, self.keypoint_names, index=self.image_paths)

    def csv_of(self, row: int) -> Path:
        """The labels CSV the row comes from."""
        return self.views.csv_files[int(self.view_of[row])]


def frame_key(image: str, view: str) -> str:
    """``labeled-data/s1_top/img07.png`` -> ``s1/img07.png``: the frame without its view."""
    path = PurePosixPath(str(image).replace("\\", "/"))
    folder = path.parent.name
    if view_in_name(folder, [view]) is not None:
        return f"{session_name(folder, view)}/{path.name}"
    return str(path)


def read_view_labels(cfg: Mapping[str, Any], names: Sequence[str] | None = None) -> ViewLabels:
    """Every view's labeled rows; ``LabelsError`` naming both files when keypoints differ."""
    views = project_views(cfg)
    if views is None:
        raise ValueError("read_view_labels needs a multi-camera config (data.view_names)")
    first: tuple[Path, Sequence[str]] | None = None
    paths: list[str] = []
    values, view_of, keys = [], [], []
    for v, (view, csv) in enumerate(zip(views.names, views.csv_files, strict=True)):
        raw = read_labels(csv)
        have = keypoint_names(raw)
        first = check_same_keypoints(first, csv, have)
        wanted = list(names) if names else list(first[1])
        labels = drop_unlabeled(match_keypoints(raw, wanted, csv))
        paths += [str(p) for p in labels.index]
        values.append(coords_array(labels))
        view_of += [v] * len(labels)
        keys += [frame_key(str(p), view) for p in labels.index]
    return ViewLabels(
        views=views,
        keypoint_names=list(names) if names else list(first[1]),  # type: ignore[index]
        image_paths=paths,
        keypoints=np.concatenate(values),
        view_of=np.asarray(view_of, dtype=np.int64),
        frame_keys=keys,
    )


def split_frames(frame_keys: Sequence[str], training: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The config's split (``config_split``) over frames (all views of a frame together), as
    row indices."""
    unique = list(dict.fromkeys(frame_keys))
    group = {key: i for i, key in enumerate(unique)}
    of_row = np.asarray([group[k] for k in frame_keys], dtype=np.int64)
    splits = config_split(len(unique), training)
    return {name: np.flatnonzero(np.isin(of_row, idx)) for name, idx in splits.items()}


def keep_frames(rows: np.ndarray, frame_keys: Sequence[str], keep: float, seed: int) -> np.ndarray:
    """``training.train_frames`` over frames: that many (or that fraction of) frames' rows."""
    keys = [frame_keys[r] for r in rows]
    unique = list(dict.fromkeys(keys))
    n_keep = round(keep * len(unique)) if keep <= 1 else int(keep)
    if n_keep >= len(unique):
        return rows
    chosen = set(np.random.default_rng(seed + 1).choice(len(unique), n_keep, replace=False))
    kept = {unique[i] for i in chosen}
    return np.asarray([r for r, k in zip(rows, keys, strict=True) if k in kept], dtype=np.int64)


def stacked_poses(
    keypoints: np.ndarray,
    view_of: np.ndarray,
    frame_keys: Sequence[str],
    rows: np.ndarray,
    n_views: int,
) -> np.ndarray:
    """(F, V * K, 2): the frames among ``rows`` with a row in every view, views side by side
    (view-major), for the cross-camera PCA (``losses.names.pca_columns``)."""
    by_frame: dict[str, dict[int, int]] = {}
    for r in rows:
        by_frame.setdefault(frame_keys[r], {})[int(view_of[r])] = int(r)
    full = [f for f in by_frame.values() if len(f) == n_views]
    k = keypoints.shape[1]
    if not full:
        return np.zeros((0, n_views * k, 2))
    return np.stack([np.concatenate([keypoints[f[v]] for v in range(n_views)]) for f in full])


def labeled_frame_counts(found: ViewLabels) -> tuple[dict[str, int], int]:
    """Labeled frames per view and the frames labeled in every view (what the cross-camera
    PCA is fitted to), for the Train dock's summary."""
    names = list(found.views.names)
    per_view: dict[str, set[str]] = {name: set() for name in names}
    for key, v in zip(found.frame_keys, found.view_of, strict=True):
        per_view[names[int(v)]].add(key)
    every = set.intersection(*per_view.values()) if per_view else set()
    return {name: len(keys) for name, keys in per_view.items()}, len(every)


def describe_view_labels(found: ViewLabels) -> str:
    """``"2 cameras: top 50, bottom 48 labeled frames; 48 labeled in every camera"``."""
    counts, every = labeled_frame_counts(found)
    each = ", ".join(f"{name} {n}" for name, n in counts.items())
    return f"{len(counts)} cameras: {each} labeled frames; {every} labeled in every camera"
