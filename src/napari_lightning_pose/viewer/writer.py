"""napari writer (npe2 contribution): a keypoints Points layer saved as a labels CSV.

The layer needs to know its frames' image paths and the keypoint names: layers opened with
our reader, sample or labeling widget carry them in ``metadata`` (``images``,
``keypoint_names``, ``scorer``, ``root``). Saving is atomic with rotating backups and merges
into an existing labels file, so rows the layer does not show are kept. Saved back to the CSV
it was opened from, the merge is three-way against the labels as the layer last read or wrote
them (``metadata["labels_base"]``): a label another writer (the labeling dock, a terminal)
changed meanwhile survives unless the user changed the same label, which is reported.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io import labels as labels_io
from napari_lightning_pose.io.images import image_sizes
from napari_lightning_pose.io.label_checks import check_labels_in_bounds
from napari_lightning_pose.io.lock import LockBusyError, hold_lock
from napari_lightning_pose.io.pose_csv import make_pose_frame
from napari_lightning_pose.labeling.merge import merge_into_file
from napari_lightning_pose.viewer.layers import LABELS_BASE, labels_base, points_to_labels

#: How long a save waits for another writer (frame selection, the labeling dock) to finish.
#: napari calls the writer on the GUI thread, so it waits briefly and then says to save again;
#: it never writes without the lock.
LOCK_SECONDS = 1.0


def write_labels(path: str, data: Any, attributes: Mapping[str, Any]) -> list[str]:
    """Save a Points layer (``frame, y, x`` data plus ``keypoint`` features) as a labels CSV.

    Parameters
    ----------
    path
        Target CSV. If it exists it must be a labels CSV with the same keypoints; its rows
        for other images are kept, its rows for the layer's images are replaced.
    data
        Points data, shape (N, 3).
    attributes
        The layer's attributes (``features``, ``metadata``, ...), as napari passes them.

    Returns
    -------
    list of str
        ``[path]``.

    Raises
    ------
    LabelsError
        The layer lacks image paths or keypoint names, two points share a keypoint on one
        frame, a label is outside its image, or ``path`` holds other keypoints. The file on
        disk is unchanged then.
    """
    target = Path(path)
    metadata = dict(attributes.get("metadata") or {})
    features = attributes.get("features")
    if features is None or "keypoint" not in getattr(features, "columns", ()):
        features = pd.DataFrame(attributes.get("properties") or {})
    if "keypoint" not in features.columns:
        raise LabelsError(
            target,
            "cannot save: the points have no 'keypoint' feature.",
            "Save keypoints from a layer opened from a labels CSV or made by the labeling widget.",
        )
    data = np.asarray(data, dtype=float)
    images = _images(metadata, features, target)
    names = list(metadata.get("keypoint_names") or _names_from_features(features))
    scorer = str(metadata.get("scorer") or labels_io.DEFAULT_SCORER)
    df = points_to_labels(data, features, images, names, scorer=scorer, path=target)
    if metadata.get("root"):
        sizes = image_sizes(images, metadata["root"])
        check_labels_in_bounds(df, sizes, target)
    try:
        with hold_lock(target, "saving a keypoints layer", timeout=LOCK_SECONDS):
            _merge_or_write(target, df, names, images, scorer, attributes)
    except LockBusyError as busy:
        raise LabelsError(
            target,
            f"is being written by {busy.owner} (it holds the labels lock); nothing was saved.",
            "Save the layer again when that has finished.",
        ) from None
    return [str(target)]


def _merge_or_write(
    target: Path,
    df: pd.DataFrame,
    names: list[str],
    images: list[str],
    scorer: str,
    attributes: Mapping[str, Any],
) -> None:
    """Write ``df`` to ``target`` (the caller holds the labels lock): a three-way merge when
    the layer was opened from it, else a merge of rows into it, else a new file."""
    metadata = attributes.get("metadata") or {}
    base = metadata.get(LABELS_BASE)
    if base is not None and target.exists() and _same_file(metadata.get("csv_path"), target):
        base_df = make_pose_frame(base, names, index=pd.Index(images, dtype=str), scorer=scorer)
        result = merge_into_file(target, base_df, df, names)
        # the layer's own metadata dict (napari passes it, not a copy): the next save's base
        metadata[LABELS_BASE] = labels_base(result.labels, images, names)
        if result.conflicts:
            warnings.warn(result.report(), UserWarning, stacklevel=3)
    elif target.exists():
        labels_io.update_labels_file(target, df, keypoint_names=names)
    else:
        labels_io.write_labels(df, target)


def _same_file(opened: Any, target: Path) -> bool:
    """True when ``target`` is the CSV the layer was opened from (its base describes it)."""
    return bool(opened) and Path(str(opened)).resolve() == target.resolve()


def _images(metadata: Mapping[str, Any], features: pd.DataFrame, target: Path) -> list[str]:
    """The image path of every frame: from metadata, else from the ``image`` feature."""
    if metadata.get("images"):
        return [str(im) for im in metadata["images"]]
    if "image" in features.columns and "frame" in features.columns and len(features):
        by_frame = features.groupby("frame")["image"].first()
        if list(by_frame.index) == list(range(len(by_frame))):
            return [str(im) for im in by_frame]
    raise LabelsError(
        target,
        "cannot save: the layer does not say which image each frame is.",
        "Open the labeled frames from their labels CSV (or the labeling widget) and save "
        "that keypoints layer.",
    )


def _names_from_features(features: pd.DataFrame) -> list[str]:
    column = features["keypoint"]
    if isinstance(column.dtype, pd.CategoricalDtype):
        return [str(c) for c in column.cat.categories]
    return [str(k) for k in dict.fromkeys(column)]
