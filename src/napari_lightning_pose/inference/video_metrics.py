"""Per-frame, per-keypoint quality metrics of predictions on unlabeled video.

Written beside a prediction CSV ``<stem>.csv`` by ``predict`` (and ``evaluate --video``), with
Lightning Pose's file names:

- ``<stem>_temporal_norm.csv``: distance (original px) between a keypoint's prediction in
  this frame and the previous one (NaN in frame 0);
- ``<stem>_pca_singleview_error.csv``: distance between the pose and its projection onto
  the labeled poses' PCA subspace, per keypoint of ``data.columns_for_singleview_pca``;
- ``<stem>_pca_multiview_error.csv``: the same for the multi-view PCA, per keypoint of
  ``data.mirrored_column_matches``.

Format (simple, for outlier ranking): one header row, the index column ``frame`` (the
prediction CSV's frame numbers), then one column per keypoint in the predictions' order, one
value per frame x keypoint; NaN where a metric does not apply (keypoints outside a PCA).
Confidence is the prediction CSV's ``likelihood``. The PCA fits are those saved in the
checkpoint; a checkpoint trained without PCA losses gets fits made the same way from its
project's labeled training poses, when the config names the PCA keypoints and the labels
allow it (otherwise that file is not written).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.io.atomic import atomic_write
from napari_lightning_pose.losses.pca import PCAFit

JUMP_PX = 20.0  # a keypoint moving further between two frames counts as a jump

METRIC_SUFFIXES = {
    "temporal_norm": "_temporal_norm.csv",
    "pca_singleview": "_pca_singleview_error.csv",
    "pca_multiview": "_pca_multiview_error.csv",
}


def temporal_norm(keypoints: np.ndarray) -> np.ndarray:
    """(N, K) distance between consecutive frames' keypoints (N, K, 2); row 0 is NaN."""
    out = np.full(keypoints.shape[:2], np.nan)
    out[1:] = np.linalg.norm(np.diff(keypoints, axis=0), axis=-1)
    return out


def pca_error(fit: PCAFit, keypoints: np.ndarray) -> np.ndarray:
    """(N, K) reprojection error of poses (N, K, 2) under ``fit``; NaN outside the PCA."""
    out = np.full(keypoints.shape[:2], np.nan)
    out[:, fit.columns.ravel()] = fit.errors(keypoints)
    return out


def compute_video_metrics(
    keypoints: np.ndarray, fits: Mapping[str, PCAFit]
) -> dict[str, np.ndarray]:
    """All metrics (N, K) by name (``temporal_norm`` and one per PCA fit)."""
    out = {"temporal_norm": temporal_norm(keypoints)}
    for name, fit in fits.items():
        out[name] = pca_error(fit, keypoints)
    return out


def metric_paths(pred_csv: str | Path) -> dict[str, Path]:
    """Where each metric of ``<stem>.csv`` goes."""
    pred_csv = Path(pred_csv)
    return {k: pred_csv.with_name(pred_csv.stem + s) for k, s in METRIC_SUFFIXES.items()}


def write_video_metrics(
    pred_csv: str | Path,
    keypoints: np.ndarray,
    names: list[str],
    fits: Mapping[str, PCAFit],
    index: np.ndarray | None = None,
) -> dict[str, Path]:
    """Write the metric CSVs beside ``pred_csv`` (atomically); returns them by name."""
    values = compute_video_metrics(keypoints, fits)
    paths = metric_paths(pred_csv)
    frames = pd.Index(np.arange(len(keypoints)) if index is None else index, name="frame")
    written = {}
    for name, table in values.items():
        df = pd.DataFrame(table, index=frames, columns=names)
        written[name] = atomic_write(paths[name], lambda tmp, df=df: df.to_csv(tmp))
    return written


def summarize_video_metrics(metrics: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per keypoint, and pooled as ``"all"``: the median of each metric and how often a
    keypoint jumps.

    Parameters
    ----------
    metrics
        Tables by metric name (``temporal_norm``, ``pca_singleview``, ``pca_multiview``),
        each frames x keypoints as written by :func:`write_video_metrics`.

    Returns
    -------
    pd.DataFrame
        Index keypoint (then ``"all"``); columns ``<metric>_median`` (px, NaN-aware) per
        metric and ``jump_frac``: the fraction of frame pairs where the keypoint moved more
        than ``JUMP_PX`` (``"all"``: where any keypoint did).
    """
    temporal = metrics["temporal_norm"]
    names = list(temporal.columns)
    table = pd.DataFrame(index=pd.Index([*names, "all"], name="keypoint"))
    with warnings.catch_warnings():  # all-NaN columns (keypoints outside a PCA) give NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        for metric, df in metrics.items():
            values = df[names].to_numpy(dtype=float)
            medians = [*np.nanmedian(values, axis=0), np.nanmedian(values)]
            table[f"{metric}_median"] = medians
    pairs = temporal[names].to_numpy(dtype=float)[1:]
    if len(pairs):
        jumps = pairs > JUMP_PX
        table["jump_frac"] = [*jumps.mean(axis=0), jumps.any(axis=1).mean()]
    else:
        table["jump_frac"] = np.nan
    return table


def format_video_summary(summary: pd.DataFrame) -> str:
    """:func:`summarize_video_metrics`'s table as markdown (pixels, two decimals)."""
    metrics = [c for c in summary.columns if c.endswith("_median")]
    head = ["keypoint", *[f"median {c.removesuffix('_median')} px" for c in metrics]]
    lines = [
        "| " + " | ".join([*head, f"frames with jump > {JUMP_PX:g} px"]) + " |",
        "|" + "---|" * (len(head) + 1),
    ]
    for name, row in summary.iterrows():
        cells = [str(name), *[f"{row[c]:.2f}" for c in metrics], f"{100 * row['jump_frac']:.1f} %"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def read_video_metric(path: str | Path) -> pd.DataFrame:
    """Read a metric CSV (index ``frame``, one column per keypoint)."""
    return pd.read_csv(path, index_col="frame")


def fits_for_model(cfg: Mapping[str, Any], saved: Mapping[str, Any]) -> dict[str, PCAFit]:
    """PCA fits saved in a checkpoint, else fitted from the project's labels (may be empty)."""
    if saved:
        return {name: PCAFit.from_state(state) for name, state in saved.items()}
    data = cfg["data"]
    wanted = []
    if data.get("columns_for_singleview_pca"):
        wanted.append("pca_singleview")
    if data.get("mirrored_column_matches"):
        wanted.append("pca_multiview")
    if not wanted:
        return {}
    from napari_lightning_pose.data.labeled import LabeledFrames
    from napari_lightning_pose.data.splits import config_split
    from napari_lightning_pose.losses.names import pca_columns
    from napari_lightning_pose.losses.pca import fit_pose_pca

    try:
        frames = LabeledFrames({**cfg, "model": {**cfg["model"], "model_type": "heatmap"}})
        tcfg = cfg["training"]
        split = config_split(len(frames), tcfg)
        kp = frames.keypoints[split["train"]]
        fits = {}
        for name in wanted:
            cols = pca_columns(cfg, name, kp.shape[1])
            fits[name] = fit_pose_pca(kp, name, cols, cfg["losses"][name], frames.keypoint_names)
        return fits
    except (LightningPoseInputError, OSError) as err:
        warnings.warn(f"PCA metrics skipped: {err}", stacklevel=2)
        return {}
