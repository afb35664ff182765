"""Held-out pixel error of a trained model: per keypoint and frame, with a summary.

``evaluate(checkpoint, cfg)`` predicts the labeled frames the model did NOT train on (the
test split, and the validation split) and measures the Euclidean distance to the labels in
original image pixels. The split is recomputed from the CHECKPOINT's training settings
(``train_prob``, ``val_prob``, ``rng_seed_data_pt``, ``train_frames``), so the frames called
held out really were; ``cfg`` only says where the project's files are now.

Results: a per-frame table (rows = image path, a ``split`` column, then one column per
keypoint, NaN where the label is missing) written as CSV, and a summary table (mean,
median, 95th percentile and count per split and keypoint, plus ``all`` pooling every
keypoint) returned and printed by the CLI.

On unlabeled video (``evaluate --video``): the model's predictions of the video (made by
``predict``, or reused when they are newer than the checkpoint and the video) give the
video metrics of ``video_metrics`` (temporal norm, PCA errors), written beside the
predictions and summarised per keypoint (:func:`evaluate_video_predictions`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from napari_lightning_pose import distributed
from napari_lightning_pose.data.labeled import LabeledFramesDataset, build_datasets
from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.inference.video_metrics import (
    fits_for_model,
    read_video_metric,
    summarize_video_metrics,
    write_video_metrics,
)
from napari_lightning_pose.io.atomic import atomic_write
from napari_lightning_pose.io.pose_csv import (
    coords_array,
    keypoint_names,
    make_pose_frame,
    read_pose_csv,
)
from napari_lightning_pose.training.checkpoints import (
    BEST_CKPT,
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
)
from napari_lightning_pose.training.evaluation import batch_errors

VIDEO_PREDS_DIR = "video_preds"  # beside the checkpoint, as Lightning Pose names it
SPLIT_KEYS = ("train_prob", "val_prob", "rng_seed_data_pt", "train_frames", "holdout_fold")
MODEL_DATA_KEYS = ("image_resize_dims", "downsample_factor")
STATS = ("mean", "median", "p95", "n")


@dataclass
class EvaluationResult:
    """Pixel errors of a model on held-out labeled frames.

    Attributes
    ----------
    errors : pd.DataFrame
        One row per frame (index = image path as in the CSV), column ``split`` then one
        column per keypoint: error in original pixels, NaN where unlabeled.
    summary : pd.DataFrame
        Index (split, keypoint) with keypoint ``"all"`` pooling every keypoint; columns
        ``mean``, ``median``, ``p95`` (pixels) and ``n`` (labeled keypoints counted).
    predictions : pd.DataFrame
        Predicted x, y, likelihood per frame (Lightning Pose prediction layout).
    checkpoint : Path
        The checkpoint evaluated.
    """

    errors: pd.DataFrame
    summary: pd.DataFrame
    predictions: pd.DataFrame
    checkpoint: Path

    def overall(self, split: str = "test") -> float:
        """Mean error over every labeled keypoint of ``split`` (NaN if it has no frames)."""
        key = (split, "all")
        return float(self.summary.loc[key, "mean"]) if key in self.summary.index else np.nan


def evaluate(
    checkpoint: str | Path,
    cfg: Mapping[str, Any] | None = None,
    *,
    splits: Sequence[str] = ("test", "val"),
    out_csv: str | Path | None = None,
    device: str | torch.device | None = None,
    batch_size: int | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> EvaluationResult:
    """Pixel error of a checkpoint on the held-out labeled frames of its project.

    Parameters
    ----------
    checkpoint
        A checkpoint file or training output folder (then its ``best.ckpt``).
    cfg
        The project config (``io.config.load_config``) for where the labels and images
        are; default: the config stored in the checkpoint.
    splits
        Which splits to evaluate, in order: any of ``"test"``, ``"val"``, ``"train"``.
    out_csv
        If given, the per-frame errors are written there (atomically).
    device
        Where to run the model (default: CUDA if available).
    batch_size
        Frames per forward pass (default ``training.test_batch_size``).
    on_batch
        Called as ``on_batch(done, total)`` after each batch, for a progress bar.

    Returns
    -------
    EvaluationResult

    Raises
    ------
    CheckpointError, LabelsError, ConfigError
        Unreadable checkpoint, or labels that do not match the model's keypoints.
    """
    dev = distributed.resolve_device(device, "auto")
    model, trained_cfg, meta = load_checkpoint(checkpoint, dev)
    eval_cfg = copy.deepcopy(dict(cfg)) if cfg is not None else copy.deepcopy(trained_cfg)
    for key in SPLIT_KEYS:
        eval_cfg["training"][key] = trained_cfg["training"].get(key)  # older runs: no fold
    # the model sees frames as it was trained to (its input size, heatmap scale, context
    # window), whatever the project's config says now
    for key in MODEL_DATA_KEYS:
        eval_cfg["data"][key] = copy.deepcopy(trained_cfg["data"][key])
    eval_cfg["model"] = copy.deepcopy(trained_cfg["model"])
    names = meta["keypoint_names"]
    cfg_names = list(eval_cfg["data"]["keypoint_names"])
    if cfg_names and cfg_names != names:
        raise CheckpointError(
            meta["path"],
            f"was trained on keypoints {names}, the config lists {cfg_names}.",
            "Evaluate with the project config the model was trained on.",
        )
    eval_cfg["data"]["keypoint_names"] = names
    eval_cfg["data"]["num_keypoints"] = len(names)
    datasets = build_datasets(eval_cfg)
    size = int(batch_size or eval_cfg["training"]["test_batch_size"])

    unknown = [s for s in splits if s not in datasets]
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}; use test, val or train")
    loaders = {}
    for split in splits:
        ds = datasets[split]
        if split == "train":  # the training frames, without augmentation
            ds = LabeledFramesDataset(ds.frames, ds.indices, eval_cfg)
        if len(ds):
            loaders[split] = DataLoader(ds, batch_size=size)
    total = sum(len(loader) for loader in loaders.values())
    done = 0
    error_rows, pred_rows, index, split_col = [], [], [], []
    for split, loader in loaders.items():
        for batch in loader:
            errs, preds = batch_errors(model, batch, dev)
            error_rows.append(errs)
            pred_rows.append(preds)
            index.extend(batch["image_path"])
            split_col.extend([split] * len(errs))
            done += 1
            if on_batch is not None:
                on_batch(done, total)
    if not index:
        raise LabelsError(
            Path(eval_cfg["data"]["data_dir"]) / _first_csv(eval_cfg["data"]["csv_file"]),
            f"has no labeled frames in the {'/'.join(splits)} split(s) of this model.",
            "Label more frames, or train with a smaller training.train_prob.",
        )
    errors = pd.DataFrame(np.concatenate(error_rows), index=pd.Index(index), columns=names)
    errors.insert(0, "split", split_col)
    preds = np.concatenate(pred_rows)
    predictions = make_pose_frame(
        preds, names, ("x", "y", "likelihood"), index=index, scorer=meta["model_name"]
    )
    result = EvaluationResult(errors, summarize(errors), predictions, meta["path"])
    if out_csv is not None:
        atomic_write(out_csv, lambda tmp: errors.to_csv(tmp, index_label="image_path"))
    return result


def summarize(errors: pd.DataFrame) -> pd.DataFrame:
    """Mean, median, 95th percentile and count of pixel errors per split and keypoint.

    Parameters
    ----------
    errors
        The per-frame table of :class:`EvaluationResult` (``split`` column + keypoints).

    Returns
    -------
    pd.DataFrame
        Index (split, keypoint) including keypoint ``"all"``; columns mean, median, p95, n.
    """
    rows, index = [], []
    names = [c for c in errors.columns if c != "split"]
    for split, group in errors.groupby("split", sort=False):
        for name in [*names, "all"]:
            values = group[names].to_numpy().ravel() if name == "all" else group[name].to_numpy()
            values = values[np.isfinite(values)]
            if len(values):
                stats = [values.mean(), np.median(values), np.percentile(values, 95), len(values)]
            else:
                stats = [np.nan, np.nan, np.nan, 0]
            rows.append(stats)
            index.append((split, name))
    summary = pd.DataFrame(
        rows, index=pd.MultiIndex.from_tuples(index, names=["split", "keypoint"]), columns=STATS
    )
    summary["n"] = summary["n"].astype(int)
    return summary


def format_summary(summary: pd.DataFrame) -> str:
    """The summary as a markdown table (pixels, two decimals)."""
    lines = [
        "| split | keypoint | mean px | median px | p95 px | n |",
        "|---|---|---|---|---|---|",
    ]
    for (split, name), row in summary.iterrows():
        lines.append(
            f"| {split} | {name} | {row['mean']:.2f} | {row['median']:.2f} | "
            f"{row['p95']:.2f} | {int(row['n'])} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- unlabeled video
def video_predictions_path(
    checkpoint: str | Path, video: str | Path, out_dir: str | Path | None = None
) -> Path:
    """Where the predictions of ``video`` go: ``out_dir/<video stem>.csv``, by default in
    ``video_preds/`` beside the checkpoint file."""
    ckpt = Path(checkpoint)
    folder = Path(out_dir) if out_dir is not None else _ckpt_file(ckpt).parent / VIDEO_PREDS_DIR
    return folder / f"{Path(video).stem}.csv"


def predictions_are_current(
    pred_csv: str | Path, checkpoint: str | Path, video: str | Path
) -> bool:
    """Whether ``pred_csv`` exists and was written after the checkpoint and the video."""
    pred = Path(pred_csv)
    if not pred.is_file():
        return False
    sources = [_ckpt_file(Path(checkpoint)), Path(video)]
    return all(pred.stat().st_mtime >= s.stat().st_mtime for s in sources if s.exists())


def evaluate_video_predictions(
    pred_csv: str | Path, checkpoint: str | Path, cfg: Mapping[str, Any] | None = None
) -> tuple[dict[str, Path], pd.DataFrame]:
    """Write the video metrics of a prediction CSV beside it and summarise them.

    Parameters
    ----------
    pred_csv
        Predictions of the checkpoint's model on a video (``predict``).
    checkpoint
        The checkpoint (file or training folder): its PCA fits (or, for a model trained
        without PCA losses, fits to its project's labels) give the PCA errors.
    cfg
        The project config, for where the labels are now (only used to fit the PCAs of a
        checkpoint that has none); default: the checkpoint's. The training split is the
        checkpoint's either way.

    Returns
    -------
    paths : dict[str, Path]
        The metric CSVs written, by metric name.
    summary : pd.DataFrame
        Per keypoint and ``"all"`` (``video_metrics.summarize_video_metrics``).

    Raises
    ------
    CheckpointError
        The predictions name other keypoints than the checkpoint's model.
    """
    ckpt, path = read_checkpoint(checkpoint)
    df = read_pose_csv(pred_csv, required_coords=("x", "y"))
    names = keypoint_names(df)
    if names != list(ckpt["keypoint_names"]):
        raise CheckpointError(
            path,
            f"was trained on keypoints {list(ckpt['keypoint_names'])}, but {pred_csv} holds "
            f"{names}.",
            "Evaluate the predictions with the checkpoint that made them (or predict again).",
        )
    fit_cfg = copy.deepcopy(dict(cfg)) if cfg is not None else ckpt["config"]
    for key in SPLIT_KEYS:
        fit_cfg["training"][key] = ckpt["config"]["training"].get(key)
    fits = fits_for_model(fit_cfg, dict(ckpt.get("pca") or {}))
    xy = coords_array(df, ("x", "y"))
    paths = write_video_metrics(pred_csv, xy, names, fits, np.asarray(df.index))
    tables = {name: read_video_metric(p) for name, p in paths.items()}
    return paths, summarize_video_metrics(tables)


def _ckpt_file(path: Path) -> Path:
    """A training folder means its ``best.ckpt`` (as ``read_checkpoint`` reads it)."""
    return path / BEST_CKPT if path.is_dir() else path


def _first_csv(csv_file: str | list[str]) -> str:
    """The labels CSV to name in a message (a multi-camera project's first view's)."""
    return csv_file[0] if isinstance(csv_file, list) else csv_file
