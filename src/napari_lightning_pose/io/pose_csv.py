"""The Lightning Pose / DeepLabCut pose CSV: three header rows (scorer, bodyparts, coords).

Labels use coords ``x, y``; predictions add ``likelihood``; smoothed output adds variance
columns. One reader and one writer serve all three so every file we write loads in Lightning
Pose, DeepLabCut and ``movement``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io.atomic import atomic_write, rotate_backups

HEADER_NAMES = ["scorer", "bodyparts", "coords"]


def read_pose_csv(path: str | Path, required_coords: Sequence[str] = ("x", "y")) -> pd.DataFrame:
    """Read a pose CSV into a DataFrame with (scorer, bodyparts, coords) column levels.

    Checks the file at the boundary: it must exist, have three header rows, hold numbers
    (empty cells are NaN), have unique row labels and every keypoint must have each of
    ``required_coords``. Raises ``LabelsError`` naming the file and the problem otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise LabelsError(path, "file not found.", "Check the path, or create it by labeling.")
    try:
        # index_col=0 would take an all-empty first row for the index name and drop it,
        # so the first column becomes the index only after reading
        df = pd.read_csv(path, header=[0, 1, 2])
        # DeepLabCut >= 2.2 splits the image path over index columns with empty header cells
        # (labeled-data, video, image): join them into one Lightning Pose style path
        n_index = 1
        while n_index < len(df.columns) and all(
            str(level).startswith("Unnamed:") for level in df.columns[n_index]
        ):
            n_index += 1
        if n_index > 1:
            parts = df.iloc[:, :n_index].astype(str).itertuples(index=False)
            df = df.iloc[:, n_index:].set_axis(pd.Index(["/".join(p) for p in parts]), axis=0)
        else:
            df = df.set_index(df.columns[0])
    except Exception as err:  # pandas raises many types for malformed files
        raise LabelsError(
            path,
            f"is not a pose CSV with three header rows (scorer, bodyparts, coords): {err}",
            "Export it from Lightning Pose/DeepLabCut or save labels from this plugin.",
        ) from err
    if df.columns.nlevels != 3 or len(df.columns) == 0:
        raise LabelsError(path, "has no keypoint columns.", "Expected three header rows.")
    df.columns = df.columns.set_names(HEADER_NAMES)
    df.index.name = None

    dup = df.index[df.index.duplicated()].unique()
    if len(dup):
        raise LabelsError(
            path,
            f"has duplicate rows for {list(map(str, dup[:5]))}.",
            "Keep one row per image/frame and remove the others.",
        )
    dup_cols = df.columns[df.columns.duplicated()]
    if len(dup_cols):
        raise LabelsError(path, f"has duplicate columns {list(dup_cols[:5])}.")

    for col in df.columns:
        if df[col].dtype.kind not in "fiu":
            converted = pd.to_numeric(df[col], errors="coerce")
            bad = df[col][converted.isna() & df[col].notna()]
            if len(bad):
                raise LabelsError(
                    path,
                    f"non-numeric value {bad.iloc[0]!r} in row {bad.index[0]!r}, "
                    f"column {col[1]}/{col[2]}.",
                    "Fix or empty that cell (empty means missing).",
                )
            df[col] = converted
    df = df.astype(float)
    require_coords(df, required_coords, path)
    return df


def require_coords(
    df: pd.DataFrame, required_coords: Sequence[str], path: Path | None, source: str = ""
) -> None:
    """Raise ``LabelsError`` unless every keypoint of ``df`` has each of ``required_coords``.

    ``source`` prefixes the message when there is no file to name (an in-memory table).
    """
    prefix = f"{source}: " if source else ""
    for name in keypoint_names(df):
        have = set(df.xs(name, axis=1, level="bodyparts").columns.get_level_values("coords"))
        missing = [c for c in required_coords if c not in have]
        if missing:
            raise LabelsError(
                path, f"{prefix}keypoint {name!r} has no {'/'.join(missing)} column."
            )


def keypoint_names(df: pd.DataFrame) -> list[str]:
    """Keypoint (bodypart) names in column order."""
    return list(dict.fromkeys(df.columns.get_level_values("bodyparts")))


def scorer_name(df: pd.DataFrame) -> str:
    """The first scorer in the header (files we write have exactly one)."""
    return str(df.columns.get_level_values("scorer")[0])


def coords_array(df: pd.DataFrame, coords: Sequence[str] = ("x", "y")) -> np.ndarray:
    """Values as an array of shape (rows, keypoints, len(coords)), in keypoint order."""
    names = keypoint_names(df)
    flat = df.droplevel("scorer", axis=1)
    values = flat.loc[:, [(n, c) for n in names for c in coords]].to_numpy(dtype=float)
    return values.reshape(len(df), len(names), len(coords))


def make_pose_frame(
    values: np.ndarray,
    keypoints: Sequence[str],
    coords: Sequence[str] = ("x", "y"),
    index: Sequence | pd.Index | None = None,
    scorer: str = "napari-lightning-pose",
) -> pd.DataFrame:
    """Build a pose DataFrame from an array of shape (rows, keypoints, len(coords))."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 3 or values.shape[1:] != (len(keypoints), len(coords)):
        raise ValueError(
            f"values must have shape (rows, {len(keypoints)}, {len(coords)}), got {values.shape}"
        )
    columns = pd.MultiIndex.from_tuples(
        [(scorer, k, c) for k in keypoints for c in coords], names=HEADER_NAMES
    )
    if index is None:
        index = pd.RangeIndex(values.shape[0])
    flat = values.reshape(values.shape[0], len(keypoints) * len(coords))  # also for 0 rows
    return pd.DataFrame(flat, index=index, columns=columns)


def write_pose_csv(df: pd.DataFrame, path: str | Path, backups: int = 0) -> Path:
    """Write ``df`` as a pose CSV atomically; keep ``backups`` rotated copies of the old file."""
    path = Path(path)
    if df.columns.nlevels != 3:
        raise ValueError("a pose DataFrame needs (scorer, bodyparts, coords) column levels")
    out = df.copy()
    out.columns = out.columns.set_names(HEADER_NAMES)
    if backups:
        rotate_backups(path, keep=backups)
    return atomic_write(path, lambda tmp: out.to_csv(tmp))
