"""Labels the user checked and confirmed in label QC, remembered beside the labels CSV.

``<labels>.qc_confirmed.csv`` (next to ``CollectedData.csv``) has one row per confirmed
(image, keypoint) with the label's x, y at the time: a confirmation holds while the label
stays where it was, so a label moved later is judged again. The dock confirms a whole frame
(:func:`frame_items`): one wrong point raises the PCA errors of its neighbours too, and a
user who checked the frame should not see it again for another of its keypoints.
Confirming never changes a label. Appends re-read the file first and are written
atomically, so two docks or a terminal cannot lose each other's rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io.atomic import atomic_write

COLUMNS = ("image", "keypoint", "x", "y")
#: A confirmed label counts as unchanged while it moved less than this (px).
SAME_PX = 0.5


def confirmations_path(labels_csv: str | Path) -> Path:
    """Where the confirmations of ``labels_csv`` are kept."""
    labels_csv = Path(labels_csv)
    return labels_csv.with_name(labels_csv.stem + ".qc_confirmed.csv")


def read_confirmations(labels_csv: str | Path) -> pd.DataFrame:
    """The confirmations of ``labels_csv`` (empty table when there are none)."""
    path = confirmations_path(labels_csv)
    if not path.is_file():
        return pd.DataFrame(columns=list(COLUMNS))
    try:
        table = pd.read_csv(path, dtype={"image": str, "keypoint": str})
    except Exception as err:  # pandas raises many types
        raise LabelsError(path, f"cannot be read ({err}).", "Delete it to start over.") from err
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise LabelsError(path, f"lacks columns {missing}.", "Delete it to start over.")
    return table.loc[:, list(COLUMNS)]


def confirm(labels_csv: str | Path, items: Iterable[tuple[str, str, float, float]]) -> Path:
    """Remember (image, keypoint, x, y) as checked; a later confirmation replaces one of
    the same image and keypoint."""
    new = pd.DataFrame(list(items), columns=list(COLUMNS))
    old = read_confirmations(labels_csv)
    table = pd.concat([old, new], ignore_index=True) if len(old) else new
    table = table.drop_duplicates(["image", "keypoint"], keep="last")
    path = confirmations_path(labels_csv)
    return atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))


def confirm_frames(labels_csv: str | Path, labels: pd.DataFrame, images: Iterable[str]) -> Path:
    """Confirm every labeled keypoint of ``images`` as they are in ``labels`` (the dock's
    "Confirm frame")."""
    return confirm(labels_csv, [item for image in images for item in frame_items(labels, image)])


def frame_items(labels: pd.DataFrame, image: str) -> list[tuple[str, str, float, float]]:
    """(image, keypoint, x, y) of every labeled keypoint of ``image``, to confirm them."""
    row = labels.loc[image]
    names = list(dict.fromkeys(labels.columns.get_level_values(1)))
    items = []
    for name in names:
        x = float(row[(slice(None), name, "x")].iloc[0])
        y = float(row[(slice(None), name, "y")].iloc[0])
        if np.isfinite(x) and np.isfinite(y):
            items.append((image, name, x, y))
    return items


def still_confirmed(confirmed: pd.DataFrame, labels: pd.DataFrame) -> list[tuple[str, str]]:
    """(image, keypoint) pairs whose confirmation holds: the label has not moved since."""
    out = []
    for row in confirmed.itertuples(index=False):
        try:
            x = float(labels.loc[row.image, (slice(None), row.keypoint, "x")].iloc[0])
            y = float(labels.loc[row.image, (slice(None), row.keypoint, "y")].iloc[0])
        except (KeyError, IndexError):
            continue
        if np.hypot(x - float(row.x), y - float(row.y)) < SAME_PX:
            out.append((str(row.image), str(row.keypoint)))
    return out


def confirmed_now(labels_csv: str | Path, labels: pd.DataFrame) -> list[tuple[str, str]]:
    """The (image, keypoint) pairs of ``labels`` that label QC leaves out: confirmed in the
    store beside ``labels_csv`` and not moved since (what the dock and ``label-qc`` skip)."""
    return still_confirmed(read_confirmations(labels_csv), labels)
