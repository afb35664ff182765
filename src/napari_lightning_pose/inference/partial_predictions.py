"""Predictions of a video that stopped decoding partway: ``<stem>.partial.csv``.

The frames predicted before the bad one are written to ``<out>.partial.csv`` (the requested
output path is left untouched, so a complete earlier result is never replaced by a partial
one) and the ``VideoError`` raised names the frame and that file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_lightning_pose.errors import VideoError
from napari_lightning_pose.io.pose_csv import PREDICTION_COORDS, make_pose_frame, write_pose_csv


def partial_path(out_csv: str | Path) -> Path:
    """Where predictions of a video that failed partway go: ``<stem>.partial.csv``."""
    out_csv = Path(out_csv)
    return out_csv.with_name(f"{out_csv.stem}.partial.csv")


def partial_failure(
    error: BaseException,
    done: np.ndarray,
    names: list[str],
    scorer: str,
    out_csv: Path,
    first: int = 0,
) -> BaseException:
    """Write the frames predicted so far (``done`` (N, K, 3), frames ``first..``) to the
    partial CSV and build the error to raise; errors other than ``VideoError`` pass as is."""
    if not isinstance(error, VideoError):
        return error
    partial = partial_path(out_csv)
    if len(done):
        index = np.arange(first, first + len(done))
        df = make_pose_frame(done, names, PREDICTION_COORDS, index, scorer)
        write_pose_csv(df, partial)
        kept = f"The {len(done)} frames before it were predicted and saved to {partial}."
    else:
        kept = "No frame before it could be predicted."
    return VideoError(error.path, f"{error.problem} Prediction stopped. {kept}", error.fix)
