"""The ensemble's predictions on the labeled frames, from members that did not train on
them, for label QC's ``model_distance`` (``qc.label_qc``).

Each member (a training folder or checkpoint) predicts every labeled frame of the project
(``inference``'s evaluation on the train, val and test splits, which knows from the
checkpoint's own settings which frames the member trained on). For each frame the
prediction is the median over the members that held it out; where every member trained on
it, the median over all, and the frame is named in the notes (a member that memorised a
wrong label agrees with it). Members trained with ``training.holdout_fold`` (the Train
dock's default, ``jobs.train_ensemble(folds=True)``) hold out different frames, so an
ensemble covers them all; different ``training.rng_seed_data_pt`` covers most of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_lightning_pose.io.pose_csv import make_pose_frame


def held_out_predictions(
    models: Sequence[str | Path], cfg: Mapping[str, Any], device: str | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Median held-out prediction per labeled image, and notes.

    Returns
    -------
    predictions : DataFrame
        Index = image path, x / y / spread per keypoint (the members' keypoint order).
    notes : list of str
    """
    from napari_lightning_pose.inference.evaluate import evaluate

    results = [evaluate(m, cfg, splits=("train", "val", "test"), device=device) for m in models]
    return median_held_out(results)


def held_out_images(results: Sequence[Any]) -> set[str]:
    """The labeled images that at least one member (an ``evaluate`` result) held out."""
    return set().union(*(set(r.errors.index[r.errors["split"] != "train"]) for r in results))


def median_held_out(results: Sequence[Any]) -> tuple[pd.DataFrame, list[str]]:
    """Per image, the median prediction of the members that held it out (or of all), and
    their ``spread``: RMS distance to that median (NaN with fewer than two members)."""
    per_member = [(r.predictions, r.errors["split"] != "train") for r in results]
    names = list(dict.fromkeys(per_member[0][0].columns.get_level_values(1)))
    images = sorted(set().union(*(set(p.index) for p, _ in per_member)))
    stack = np.full((len(per_member), len(images), len(names), 2), np.nan)
    held = np.zeros((len(per_member), len(images)), dtype=bool)
    row = {img: i for i, img in enumerate(images)}
    for m, (pred, out) in enumerate(per_member):
        idx = [row[i] for i in pred.index]
        for j, name in enumerate(names):
            stack[m, idx, j, 0] = pred.loc[:, (slice(None), name, "x")].to_numpy()[:, 0]
            stack[m, idx, j, 1] = pred.loc[:, (slice(None), name, "y")].to_numpy()[:, 0]
        held[m, idx] = out.to_numpy()
    use = np.where(held.any(axis=0)[None, :], held, True)  # no held-out member: all
    masked = np.where(use[:, :, None, None], stack, np.nan)
    median = np.nanmedian(masked, axis=0)
    sq = np.sum((masked - median[None]) ** 2, axis=-1)  # (members, images, keypoints)
    n = np.isfinite(sq).sum(axis=0)
    spread = np.sqrt(np.nansum(sq, axis=0) / np.maximum(n, 1))
    spread[n < 2] = np.nan
    notes = []
    trained_on = [images[i] for i in np.flatnonzero(~held.any(axis=0))]
    if trained_on:
        notes.append(
            f"{len(trained_on)} of {len(images)} labeled frames were in every member's "
            "training split (their model distance may hide a memorised mistake); train "
            "the ensemble with 'Members hold out different frames' (training.holdout_fold) "
            "and members x (1 - train_prob) >= 1 to hold every frame out."
        )
    values = np.concatenate([median, spread[..., None]], axis=-1)
    table = make_pose_frame(values, names, ("x", "y", "spread"), index=images, scorer="ensemble")
    return table, notes


@dataclass
class LabelQCEvent:
    """Progress of :func:`iter_label_qc`: "model" (one member predicted) or "done"."""

    kind: str
    done: int
    total: int
    result: Any = None
    labels: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def iter_label_qc(
    config: str | Path,
    models: Sequence[str | Path] = (),
    stop: Any = None,
    device: str | None = None,
) -> Iterator[LabelQCEvent]:
    """Label QC of a project's labels as they are on disk now, as a job for a dock.

    Yields one "model" event per member predicted (with ``models``) and a last "done"
    event holding the :class:`~napari_lightning_pose.qc.label_qc.LabelQC` result, the
    labels it judged and the notes. ``stop`` (an event) is checked between members.
    """
    from napari_lightning_pose.inference.evaluate import evaluate
    from napari_lightning_pose.io.labels import read_labels
    from napari_lightning_pose.labeling.project import Project
    from napari_lightning_pose.qc.label_qc import label_qc

    project = Project.open(config)
    labels = read_labels(project.csv_path, project.config["data"]["keypoint_names"] or None)
    predictions, notes = None, []
    if models:
        results = []
        for i, model in enumerate(models):
            if stop is not None and stop.is_set():
                return
            results.append(
                evaluate(model, project.config, splits=("train", "val", "test"), device=device)
            )
            yield LabelQCEvent("model", i + 1, len(models))
        predictions, notes = median_held_out(results)
    qc = label_qc(labels, project.config, predictions)
    yield LabelQCEvent("done", len(models), len(models), qc, labels, [*qc.notes, *notes])
