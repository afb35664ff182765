"""Labeled frames: the Lightning Pose / DeepLabCut ``CollectedData.csv`` of a project.

A labels DataFrame has the three column levels (scorer, bodyparts, coords) with coords
``x, y`` for every keypoint, one row per labeled image and the image path relative to the
project's data folder as index (``labeled-data/<video>/img<frame>.png``; Lightning Pose's own
examples also use a flat ``labeled-data/img<frame>.png``). NaN means "not labeled" (missing
or occluded), always for x and y together.

A row may be all-NaN: the frame was picked for labeling but is not labeled yet. The CSV is
the one list of frames to label, so such rows are kept when saving; ``drop_unlabeled`` removes
them before training. (Tools that read the CSV with ``pandas.read_csv(..., index_col=0)``, as
Lightning Pose and DeepLabCut do, mistake an all-NaN *first* row for the index name and drop
it; that row has no labels, so nothing is lost. ``read_pose_csv`` reads it correctly.)

Here: reading, writing and editing rows. The image paths of the index are ``io.image_paths``;
bounds checks and progress counts are ``io.label_checks``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io import pose_csv
from napari_lightning_pose.io.lock import hold_lock
from napari_lightning_pose.io.pose_csv import (
    coords_array,
    make_pose_frame,
    read_pose_csv,
    scorer_name,
    write_pose_csv,
)

DEFAULT_SCORER = "napari-lightning-pose"


# ---------------------------------------------------------------------------- read / write
def read_labels(path: str | Path, keypoint_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Read and check a labels CSV; with ``keypoint_names``, in the project's keypoint order.

    Parameters
    ----------
    path
        A ``CollectedData.csv`` with three header rows and coords x, y per keypoint.
    keypoint_names
        The project's keypoints. The file must hold exactly these names; when it holds them in
        another order, the columns are reordered to this order.

    Returns
    -------
    pandas.DataFrame
        Labels with (scorer, bodyparts, coords) columns, float values, image paths as index.

    Raises
    ------
    LabelsError
        The file is missing or malformed, has duplicate image rows, non-numeric cells, a
        keypoint labeled in x but not in y, or other keypoints than the project.
    """
    path = Path(path)
    if _header_cells(path)[1:2] == ["individuals"]:
        raise LabelsError(
            path,
            "is a multi-animal DeepLabCut file (it has an 'individuals' header row).",
            "Lightning Pose labels one animal per frame: keep one individual's columns and "
            "remove the 'individuals' row.",
        )
    df = read_pose_csv(path, required_coords=("x", "y"))
    extra_coords = sorted(set(df.columns.get_level_values("coords")) - {"x", "y"})
    if extra_coords:
        raise LabelsError(
            path,
            f"has coords {extra_coords}; a labels CSV holds only x and y.",
            "This looks like a predictions file: open it as predictions, not labels.",
        )
    df.index = df.index.astype(str)
    values = coords_array(df)
    half = np.isnan(values[..., 0]) != np.isnan(values[..., 1])
    if half.any():
        row, kp = np.argwhere(half)[0]
        name = pose_csv.keypoint_names(df)[kp]
        raise LabelsError(
            path,
            f"keypoint {name!r} in row {df.index[row]!r} has only one of x and y.",
            "Fill in both coordinates or empty both (missing).",
        )
    if keypoint_names is not None:
        df = match_keypoints(df, keypoint_names, path)
    return df


def _header_cells(path: Path, rows: int = 4) -> list[str]:
    """The first cell of each of the first ``rows`` lines (empty list if unreadable)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return [line.split(",")[0].strip() for _, line in zip(range(rows), f, strict=False)]
    except (OSError, UnicodeDecodeError):
        return []


def match_keypoints(
    df: pd.DataFrame, names: Sequence[str], path: str | Path | None = None
) -> pd.DataFrame:
    """Return ``df`` with its keypoint columns in the order ``names``; same set required.

    Raises ``LabelsError`` listing the missing and the extra keypoints otherwise.
    """
    have = pose_csv.keypoint_names(df)
    names = list(names)
    missing = [n for n in names if n not in have]
    extra = [n for n in have if n not in names]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks the project's keypoints {missing}")
        if extra:
            parts.append(f"has keypoints {extra} that the project does not")
        raise LabelsError(
            path,
            " and ".join(parts) + ".",
            "Rename the bodyparts header row to the project's keypoints "
            "(data.keypoint_names in config.yaml), or change the config to match the file.",
        )
    if have == names:
        return df
    return make_pose_frame(_values(df, names), names, index=df.index, scorer=scorer_name(df))


def _columns(df: pd.DataFrame, names: Sequence[str]) -> list[tuple[str, str, str]]:
    """The (scorer, keypoint, coord) column keys of ``names`` in x, y order."""
    by_name = {(bp, c): (s, bp, c) for s, bp, c in df.columns}
    return [by_name[(n, c)] for n in names for c in ("x", "y")]


def _values(df: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """Values of ``names`` as an array of shape (rows, len(names), 2)."""
    return df.loc[:, _columns(df, names)].to_numpy(dtype=float).reshape(len(df), len(names), 2)


def write_labels(df: pd.DataFrame, path: str | Path, backups: int = 3) -> Path:
    """Write labels atomically, keeping ``backups`` rotated copies of the previous file.

    The old file is copied to ``<name>.bak1`` (``bak1`` to ``bak2`` ...) first; the new content
    goes to a temporary file that replaces ``path`` only once fully written, so a failed save
    leaves the previous labels intact.

    Raises ``LabelsError`` (naming ``path``) when ``df`` has duplicate image rows or a keypoint
    without both x and y columns, so such a table never reaches the disk.
    """
    path = Path(path)
    _check_frame(df, path)
    return write_pose_csv(df, path, backups=backups)


def _check_frame(df: pd.DataFrame, path: Path | None) -> None:
    if df.columns.nlevels != 3:
        raise LabelsError(path, "labels need (scorer, bodyparts, coords) columns.")
    pose_csv.require_unique_rows(df, path, "image")
    for name in pose_csv.keypoint_names(df):
        coords = set(df.xs(name, axis=1, level="bodyparts").columns.get_level_values("coords"))
        if coords != {"x", "y"}:
            raise LabelsError(path, f"keypoint {name!r} must have exactly x and y columns.")


# --------------------------------------------------------------------- building / editing
def empty_labels(
    keypoint_names: Sequence[str],
    images: Sequence[str] = (),
    scorer: str = DEFAULT_SCORER,
) -> pd.DataFrame:
    """A labels DataFrame for ``keypoint_names`` with one all-NaN row per image (or none)."""
    values = np.full((len(images), len(keypoint_names), 2), np.nan)
    return make_pose_frame(
        values, keypoint_names, index=pd.Index(list(images), dtype=str), scorer=scorer
    )


def frame_labels(df: pd.DataFrame, image: str) -> np.ndarray:
    """The labels of one image as an array of shape (keypoints, 2) holding x, y (NaN missing)."""
    if image not in df.index:
        raise KeyError(f"{image!r} is not a row of the labels")
    return coords_array(df.loc[[image]])[0].copy()


def set_frame_labels(
    df: pd.DataFrame,
    image: str,
    xy: np.ndarray | Mapping[str, Sequence[float] | None],
) -> pd.DataFrame:
    """Return a copy of ``df`` with the labels of ``image`` set; the row is added if new.

    Parameters
    ----------
    df
        Labels DataFrame.
    image
        Row (image path) to set.
    xy
        Either an array of shape (keypoints, 2) with x, y in ``df``'s keypoint order (NaN for
        missing), replacing the whole row, or a mapping keypoint name -> (x, y) or None that
        updates only the named keypoints (None clears one).
    """
    names = pose_csv.keypoint_names(df)
    out = df if image in df.index else add_frames(df, [image])
    out = out.copy()
    if isinstance(xy, Mapping):
        row = frame_labels(out, image)
        unknown = [k for k in xy if k not in names]
        if unknown:
            raise KeyError(f"unknown keypoints {unknown}; the labels have {names}")
        for name, value in xy.items():
            row[names.index(name)] = np.nan if value is None else np.asarray(value, float)
    else:
        row = np.asarray(xy, dtype=float)
        if row.shape != (len(names), 2):
            raise ValueError(f"xy must have shape ({len(names)}, 2), got {row.shape}")
    out.loc[image, _columns(out, names)] = row.reshape(-1)
    return out


def add_frames(df: pd.DataFrame, images: Sequence[str]) -> pd.DataFrame:
    """Return ``df`` with an all-NaN row appended for each image it does not have yet."""
    new = [im for im in dict.fromkeys(map(str, images)) if im not in df.index]
    if not new:
        return df
    empty = empty_labels(pose_csv.keypoint_names(df), new, scorer=scorer_name(df))
    empty.columns = df.columns
    return pd.concat([df, empty])


def drop_frames(df: pd.DataFrame, images: Sequence[str]) -> pd.DataFrame:
    """Return ``df`` without the rows of ``images`` (absent ones are ignored)."""
    return df.drop(index=[im for im in images if im in df.index])


def drop_unlabeled(df: pd.DataFrame) -> pd.DataFrame:
    """Return only the rows with at least one labeled keypoint (what training can use)."""
    labeled = np.isfinite(coords_array(df)).all(axis=2).any(axis=1)
    return df.loc[labeled]


def merge_labels(
    existing: pd.DataFrame, new: pd.DataFrame, path: str | Path | None = None
) -> pd.DataFrame:
    """Merge ``new`` into ``existing`` without losing rows.

    Rows of ``new`` replace the rows of ``existing`` with the same image path (a NaN there
    means the label was removed); rows only in ``existing`` are kept; rows only in ``new`` are
    appended in ``new``'s order. ``new`` must hold the same keypoints (any order); the result
    keeps ``existing``'s keypoint order and scorer. ``path`` names the file in errors.
    """
    names = pose_csv.keypoint_names(existing)
    new_names = pose_csv.keypoint_names(new)
    if set(new_names) != set(names):
        raise LabelsError(
            path,
            f"holds keypoints {names}; the labels to add have {new_names}.",
            "Add labels of the same keypoints only (or save them to another file).",
        )
    new_values = _values(new, names)
    out = add_frames(existing, list(new.index)).copy()
    out.loc[list(new.index), _columns(out, names)] = new_values.reshape(len(new), -1)
    return out


def update_labels_file(
    path: str | Path,
    new: pd.DataFrame,
    keypoint_names: Sequence[str] | None = None,
    backups: int = 3,
) -> pd.DataFrame:
    """Merge ``new`` into the labels CSV at ``path`` (created if absent) and save it atomically.

    ``keypoint_names`` (the project's) is checked against the file and sets the column order;
    by default the file's order is kept. Returns the merged labels; see ``merge_labels`` for
    how rows combine. On any error the file is left unchanged.
    """
    path = Path(path)
    with hold_lock(path, "updating labels", timeout=30.0):
        if path.exists():
            existing = read_labels(path, keypoint_names)
        else:
            names = pose_csv.keypoint_names(new) if keypoint_names is None else keypoint_names
            existing = empty_labels(names, scorer=scorer_name(new))
        merged = merge_labels(existing, new, path)
        write_labels(merged, path, backups=backups)
    return merged
