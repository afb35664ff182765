"""The ensemble's predictions on the labeled frames, from members that did not train on
them, for label QC's ``model_distance`` (``qc.label_qc``).

Each member (a training folder or checkpoint) predicts every labeled frame of the project
(``inference``'s evaluation on the train, val and test splits, which knows from the
checkpoint's own settings which frames the member trained on). For each frame the
prediction is the median over the members that held it out; where every member trained on
it, the median over all, and the frame is named in the notes (a member that memorised a
wrong label agrees with it). Members trained with different ``training.rng_seed_data_pt``
hold out different frames, so an ensemble covers most of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
        Index = image path, x / y per keypoint (the members' keypoint order).
    notes : list of str
    """
    from napari_lightning_pose.evaluate import evaluate

    per_member = []
    for model in models:
        result = evaluate(model, cfg, splits=("train", "val", "test"), device=device)
        held_out = result.errors["split"] != "train"
        per_member.append((result.predictions, held_out))
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
    notes = []
    trained_on = [images[i] for i in np.flatnonzero(~held.any(axis=0))]
    if trained_on:
        notes.append(
            f"{len(trained_on)} of {len(images)} labeled frames were in every member's "
            "training split (their model distance may hide a memorised mistake); train "
            "members with different training.rng_seed_data_pt to hold them out."
        )
    table = make_pose_frame(median, names, ("x", "y"), index=images, scorer="ensemble")
    return table, notes
