"""Metric files next to predictions: ``<stem>_temporal_norm.csv``, ``<stem>_pca_*_error.csv``.

The per-frame, per-keypoint video metrics that prediction writes beside each ``<stem>.csv``
(``inference.video_metrics``), found and read here for the outlier scores (``qc.scores``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.inference.video_metrics import METRIC_SUFFIXES

#: Metric files (issue 9's video metrics) next to a prediction ``<stem>.csv``, by the name
#: of the score they give (the writer's suffixes, ``inference.video_metrics``).
METRIC_FILES = {
    "temporal_norm": METRIC_SUFFIXES["temporal_norm"],
    "pca_singleview_error": METRIC_SUFFIXES["pca_singleview"],
    "pca_multiview_error": METRIC_SUFFIXES["pca_multiview"],
}


def read_metric_csv(path: str | Path, keypoints: Sequence[str]) -> pd.DataFrame:
    """Read a per-frame, per-keypoint metric file (temporal norm, PCA errors).

    Accepts Lightning Pose's layout (one header row of keypoint names, index = frame, extra
    columns such as ``mean`` ignored) and the pose-CSV layout (three header rows, one value
    column per keypoint).

    Raises
    ------
    LabelsError
        Unreadable file, or keypoints missing from it.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            first = fh.readline().split(",")[0].strip()
        if first == "scorer":
            df = pd.read_csv(path, header=[0, 1, 2], index_col=0)
            df.columns = list(df.columns.get_level_values(1))
            df = df.loc[:, ~pd.Index(df.columns).duplicated()]
        else:
            df = pd.read_csv(path, index_col=0)
    except Exception as err:  # pandas raises many types
        raise LabelsError(path, f"is not a metric CSV: {err}") from err
    missing = [k for k in keypoints if k not in df.columns]
    if missing:
        raise LabelsError(
            path,
            f"has no columns for keypoints {missing}.",
            "Recompute the metrics for these predictions.",
        )
    return df.loc[:, list(keypoints)].astype(float)


def metric_paths(prediction_csv: str | Path) -> dict[str, Path]:
    """The metric files that exist next to ``prediction_csv``, by score name."""
    pred = Path(prediction_csv)
    stem = pred.name[: -len(".csv")] if pred.name.endswith(".csv") else pred.stem
    found = {}
    for name, suffix in METRIC_FILES.items():
        cand = pred.with_name(stem + suffix)
        if cand.is_file():
            found[name] = cand
    return found
