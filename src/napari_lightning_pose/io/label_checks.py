"""Checks and counts over a labels table: labels inside their images, how much is labeled.

Pure functions of a labels DataFrame (``io.labels``) and image sizes, for the readers that
refuse labels off their image and for the labeling docks' progress display.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io import pose_csv
from napari_lightning_pose.io.pose_csv import coords_array


def check_labels_in_bounds(
    df: pd.DataFrame,
    image_sizes: Mapping[str, tuple[int, int]] | tuple[int, int],
    path: str | Path | None = None,
) -> None:
    """Raise ``LabelsError`` if a label lies outside its image.

    Parameters
    ----------
    df
        Labels DataFrame.
    image_sizes
        (height, width) of every image, either one pair for all rows or a mapping from image
        path (the index) to its pair. Rows without a size are not checked.
    path
        The labels file, named in the error.

    Notes
    -----
    Coordinates are pixel coordinates with the centre of the top-left pixel at (0, 0), as in
    Lightning Pose, DeepLabCut and napari, so the image spans -0.5 .. width - 0.5 in x and
    -0.5 .. height - 0.5 in y; a label on that border is inside.
    """
    values = coords_array(df)
    names = pose_csv.keypoint_names(df)
    bad: list[str] = []
    for row, image in enumerate(df.index):
        size = image_sizes if isinstance(image_sizes, tuple) else image_sizes.get(image)
        if size is None:
            continue
        height, width = size
        x, y = values[row, :, 0], values[row, :, 1]
        outside = (x < -0.5) | (x > width - 0.5) | (y < -0.5) | (y > height - 0.5)
        bad.extend(
            f"{image} {names[k]} (x={x[k]:g}, y={y[k]:g}; image {width}x{height})"
            for k in np.flatnonzero(outside)
        )
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise LabelsError(
            path,
            f"{len(bad)} label(s) lie outside their image: {'; '.join(bad[:5])}{more}.",
            "Move or delete those points (empty cells mean missing), or check that the CSV "
            "belongs to these images.",
        )


@dataclass(frozen=True)
class LabelCounts:
    """How much of a labels table is done, for a progress display.

    A keypoint counts as labeled when both x and y are numbers; a frame counts as labeled when
    at least one keypoint is, and as complete when every keypoint is labeled.
    """

    frames: int
    labeled_frames: int
    complete_frames: int
    keypoints: int
    labeled_keypoints: int
    per_keypoint: dict[str, int]

    @property
    def total_keypoints(self) -> int:
        """Keypoint slots in the table (frames x keypoints)."""
        return self.frames * self.keypoints

    def __str__(self) -> str:
        return (
            f"{self.labeled_frames}/{self.frames} frames labeled "
            f"({self.complete_frames} complete), "
            f"{self.labeled_keypoints}/{self.total_keypoints} keypoints"
        )


def count_labels(df: pd.DataFrame) -> LabelCounts:
    """Count labeled frames and keypoints of a labels DataFrame (see ``LabelCounts``)."""
    names = pose_csv.keypoint_names(df)
    done = np.isfinite(coords_array(df)).all(axis=2)  # (rows, keypoints)
    return LabelCounts(
        frames=len(df),
        labeled_frames=int(done.any(axis=1).sum()),
        complete_frames=int(done.all(axis=1).sum()) if names else 0,
        keypoints=len(names),
        labeled_keypoints=int(done.sum()),
        per_keypoint={n: int(c) for n, c in zip(names, done.sum(axis=0), strict=True)},
    )
