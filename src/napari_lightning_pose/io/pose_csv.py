"""The Lightning Pose / DeepLabCut pose CSV: three header rows (scorer, bodyparts, coords).

Labels use coords ``x, y``; predictions add ``likelihood``; smoothed output adds variance
columns. One reader and one writer serve all three so every file we write loads in Lightning
Pose, DeepLabCut and ``movement``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io.atomic import atomic_write, rotate_backups

HEADER_NAMES = ["scorer", "bodyparts", "coords"]
#: The coords of a prediction file, per keypoint and in this order.
PREDICTION_COORDS = ("x", "y", "likelihood")


def read_pose_csv(path: str | Path, required_coords: Sequence[str] = ("x", "y")) -> pd.DataFrame:
    """Read a pose CSV into a DataFrame with (scorer, bodyparts, coords) column levels.

    Checks the file at the boundary: it must exist, have three header rows, hold numbers
    (empty cells are NaN), have unique row labels and every keypoint must have each of
    ``required_coords``. Raises ``LabelsError`` naming the file and the problem otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise LabelsError(path, "file not found.", "Check the path, or create it by labeling.")
    df = _read_fast(path)
    try:
        if df is None:
            df = _read_pandas(path)
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

    require_unique_rows(df, path, "image/frame")
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


def _read_pandas(path: Path) -> pd.DataFrame:
    """Any pose CSV layout, read by pandas (the slow path, and the one that explains errors)."""
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
        return df.iloc[:, n_index:].set_axis(pd.Index(["/".join(p) for p in parts]), axis=0)
    return df.set_index(df.columns[0])


def _read_fast(path: Path) -> pd.DataFrame | None:
    """The common layout (one index column, then numbers), read by polars; else None.

    None also when polars cannot parse the body (text in a number cell ...): the pandas
    path then reads the file and its checks name the problem.
    """
    import polars as pl

    try:
        with open(path, encoding="utf-8", newline="") as f:
            header = [next(csv.reader([f.readline()])) for _ in range(3)]
    except (OSError, UnicodeDecodeError, StopIteration, csv.Error):
        return None
    width = len(header[0])
    if (
        not all(header)
        or [row[0] for row in header] != HEADER_NAMES
        or width < 2
        or any(len(row) != width or not all(row[1:]) for row in header)
    ):
        return None
    schema = {"index": pl.String, **{f"c{j}": pl.Float64 for j in range(1, width)}}
    try:
        body = pl.read_csv(path, has_header=False, skip_rows=3, schema=schema)
    except Exception:  # polars raises several types for cells it cannot parse
        return None
    index = body.get_column("index").to_numpy()
    if pd.isna(index).any():
        return None
    index = pd.Index(index, dtype=str)
    if len(index) and all(i.isdigit() for i in index[: min(len(index), 50)]):
        try:
            frames = index.astype(np.int64).to_numpy()  # frame numbers, as pandas reads them
        except (ValueError, OverflowError):
            pass
        else:
            steps = np.diff(frames)
            if len(frames) > 1 and (steps == steps[0]).all() and steps[0] != 0:
                index = pd.RangeIndex(frames[0], frames[-1] + steps[0], steps[0])
            else:
                index = pd.Index(frames)
    columns = pd.MultiIndex.from_arrays([row[1:] for row in header], names=HEADER_NAMES)
    values = body.drop("index").to_numpy()
    return pd.DataFrame(values, index=index, columns=columns)


def require_coords(
    df: pd.DataFrame, required_coords: Sequence[str], path: Path | None, source: str = ""
) -> None:
    """Raise ``LabelsError`` unless every keypoint of ``df`` has each of ``required_coords``.

    ``source`` prefixes the message when there is no file to name (an in-memory table).
    """
    prefix = f"{source}: " if source else ""
    columns = df.columns
    pairs = zip(
        columns.get_level_values("bodyparts"), columns.get_level_values("coords"), strict=True
    )
    have = set(pairs)
    for name in keypoint_names(df):
        missing = [c for c in required_coords if (name, c) not in have]
        if missing:
            raise LabelsError(
                path, f"{prefix}keypoint {name!r} has no {'/'.join(missing)} column."
            )


def require_unique_rows(df: pd.DataFrame, path: Path | None, row: str) -> None:
    """Raise ``LabelsError`` naming the file when two rows share a label (``row``: what a
    row stands for in the message, e.g. "image")."""
    dup = df.index[df.index.duplicated()].unique()
    if len(dup):
        raise LabelsError(
            path,
            f"has duplicate rows for {list(map(str, dup[:5]))}.",
            f"Keep one row per {row} and remove the others.",
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
    """Write ``df`` as a pose CSV atomically; keep ``backups`` rotated copies of the old file.

    The bytes are those of ``df.to_csv(path)`` (see ``pose_csv_text``), written about 15x
    faster; the previous file survives a failed write.
    """
    path = Path(path)
    if df.columns.nlevels != 3:
        raise ValueError("a pose DataFrame needs (scorer, bodyparts, coords) column levels")
    if backups:
        rotate_backups(path, keep=backups)
    return atomic_write(path, lambda tmp: _write(df, tmp))


def pose_csv_text(df: pd.DataFrame) -> str:
    """The pose CSV of ``df`` as text: what ``write_pose_csv`` writes."""
    buffer = io.BytesIO()
    _write(df, buffer)
    return buffer.getvalue().decode("utf-8")


def _write(df: pd.DataFrame, target: Path | io.BytesIO) -> None:
    """Write the pose CSV of ``df``: pandas' header rows, then the body by polars.

    pandas formats each float with Python's shortest round-trip ``repr`` (``to_csv`` spends
    ~90 % of a large prediction file there); polars' CSV writer prints the same digits
    about 15x faster, and differs only in notation below 1e-4 and from 1e16 on
    (``0.00005`` for ``5e-05``). Those few cells, and non-float columns, are formatted
    with ``repr`` here, so the file is byte for byte what
    ``df.to_csv`` writes: the same file for Lightning Pose, DeepLabCut and ``movement``.
    """
    import polars as pl

    header = df.iloc[:0].to_csv()
    if not isinstance(df.columns, pd.MultiIndex) or df.columns.names != HEADER_NAMES:
        header = df.iloc[:0].set_axis(df.columns.set_names(HEADER_NAMES), axis=1).to_csv()
    columns: dict[str, pl.Series] = {"": pl.Series(_texts(df.index.to_numpy()))}
    for j in range(df.shape[1]):
        values = df.iloc[:, j].to_numpy()
        name = f"c{j}"
        if values.dtype != np.float64:
            columns[name] = pl.Series(_texts(values))
            continue
        column = pl.Series(values, nan_to_null=True)
        odd = _other_notation(values)
        if len(odd):  # those cells as text, in pandas' notation
            texts = [repr(v) for v in values[odd].tolist()]
            column = column.cast(pl.String).scatter(odd, texts)
        columns[name] = column
    body = pl.DataFrame(columns)
    if isinstance(target, io.BytesIO):
        target.write(header.encode("utf-8"))
        body.write_csv(target, include_header=False)
        return
    with open(target, "wb") as f:
        f.write(header.encode("utf-8"))
        body.write_csv(f, include_header=False)


def _other_notation(values: np.ndarray) -> np.ndarray:
    """Indices of the values polars prints in another notation than pandas (tiny, huge)."""
    magnitude = np.abs(values)
    return np.flatnonzero(((magnitude < 1e-4) & (magnitude > 0)) | (magnitude >= 1e16))


def _texts(values: np.ndarray) -> list[str | None]:
    """Cells as pandas writes them: ``str`` of each value, None (empty) for NaN/None."""
    out: list[str | None] = []
    for v in values.tolist():
        if v is None or (isinstance(v, float) and v != v):
            out.append(None)
        else:
            out.append(str(v))
    return out
