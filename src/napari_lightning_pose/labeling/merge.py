"""Three-way merge of labels: an editor's changes applied to the labels CSV as it is now.

An editor (the labeling dock) loads the labels (the *base*), the user edits them (*mine*) and,
meanwhile, another writer may change the file (*theirs*: frame selection in a terminal or
another dock, a script). Saving ``mine`` over the file would drop what the other writer did,
so a save merges, cell by cell, where a cell is one keypoint (x and y) of one image:

- a cell the user did not change takes the file's value (rows added on disk survive);
- a cell the user changed takes the user's value, unless the file changed the same cell to
  something else: that is a *conflict*; the user's value is kept (it is what they see) and
  the conflict is returned with both values, to be reported, never dropped silently;
- rows only the user has (newly labeled frames) are appended; a row the file no longer has
  stays deleted unless the user changed it (then it is kept, and reported as a conflict).

The merge is pure (DataFrames in, a ``MergeResult`` out), so it is tested without Qt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from napari_lightning_pose.io.labels import read_labels, write_labels
from napari_lightning_pose.io.pose_csv import make_pose_frame, scorer_name

#: Positions closer than this (pixels) are the same label (the CSV round trip, float32 layers).
SAME_PX = 1e-3


@dataclass(frozen=True)
class LabelConflict:
    """One cell both the user and another writer changed, to different values.

    ``mine`` and ``theirs`` are (x, y); NaN means empty (``theirs`` is NaN also when the other
    writer removed the row). The saved file holds ``mine``.
    """

    image: str
    keypoint: str
    mine: tuple[float, float]
    theirs: tuple[float, float]

    def text(self) -> str:
        """One line for the user, e.g. ``img00.png nose: yours (60, 50), on disk (5, 6)``."""
        return (
            f"{self.image} {self.keypoint}: yours {_fmt(self.mine)}, on disk {_fmt(self.theirs)}"
        )


@dataclass(frozen=True)
class MergeResult:
    """The merged labels and what the merge found.

    Attributes
    ----------
    labels : pd.DataFrame
        What to write: the file's rows in the file's order, then the user's new rows.
    conflicts : list of LabelConflict
        Cells changed on both sides to different values (the user's value is in ``labels``).
    added_elsewhere : list of str
        Rows the file gained since the base was read (e.g. frames picked in a terminal).
    changed_elsewhere : int
        Cells the other writer changed that are now in ``labels``.
    """

    labels: pd.DataFrame
    conflicts: list[LabelConflict] = field(default_factory=list)
    added_elsewhere: list[str] = field(default_factory=list)
    changed_elsewhere: int = 0

    def report(self, limit: int = 5) -> str:
        """The conflicts as text for a notification ("" when there are none)."""
        if not self.conflicts:
            return ""
        lines = [c.text() for c in self.conflicts[:limit]]
        more = len(self.conflicts) - limit
        tail = f"; and {more} more" if more > 0 else ""
        return (
            f"{len(self.conflicts)} label conflict(s), kept yours: "
            + "; ".join(lines)
            + tail
            + ". The file's previous version is in the .bak1 backup."
        )


def merge_edits(
    base: pd.DataFrame, mine: pd.DataFrame, theirs: pd.DataFrame | None
) -> MergeResult:
    """Apply the user's changes (``base`` -> ``mine``) to the file's labels ``theirs``.

    Parameters
    ----------
    base
        The labels as the editor read them (or last wrote them).
    mine
        The editor's labels now. Same keypoints as ``base``, in the same order.
    theirs
        The labels in the file now, same keypoints (any order; the caller reads them with
        the project's keypoint order). None when the file is gone: then nothing is taken as
        removed on disk, and ``mine`` is the result.

    Returns
    -------
    MergeResult
        See the module docstring for how each cell is decided.
    """
    names = [str(n) for n in dict.fromkeys(mine.columns.get_level_values("bodyparts"))]
    scorer = scorer_name(mine) if len(mine.columns) else scorer_name(base)
    if theirs is None:
        theirs = base
    else:
        scorer = scorer_name(theirs)
    rows = list(dict.fromkeys([*map(str, theirs.index), *map(str, mine.index)]))
    b, in_b = _aligned(base, rows, names)
    m, in_m = _aligned(mine, rows, names)
    t, in_t = _aligned(theirs, rows, names)
    m = np.where(in_m[:, None, None], m, b)  # a row the editor lacks: unchanged by the user
    mine_changed = ~_same(m, b)  # (rows, keypoints)
    theirs_changed = ~_same(t, b) & in_t[:, None]
    merged = np.where(mine_changed[..., None], m, t)
    clash = mine_changed & theirs_changed & ~_same(m, t)
    removed = in_b & ~in_t  # the file dropped the row
    clash |= mine_changed & removed[:, None]
    keep = in_t | (in_m & ~in_b) | (removed & mine_changed.any(axis=1))
    conflicts = [
        LabelConflict(rows[r], names[k], _pair(m[r, k]), _pair(t[r, k]))
        for r, k in np.argwhere(clash)
    ]
    index = [rows[r] for r in np.flatnonzero(keep)]
    labels = make_pose_frame(merged[keep], names, index=pd.Index(index, dtype=str), scorer=scorer)
    return MergeResult(
        labels=labels,
        conflicts=conflicts,
        added_elsewhere=[rows[r] for r in np.flatnonzero(in_t & ~in_b & ~in_m)],
        changed_elsewhere=int((theirs_changed & ~mine_changed).sum()),
    )


def merge_into_file(
    path: str | Path,
    base: pd.DataFrame,
    mine: pd.DataFrame,
    keypoint_names: Sequence[str],
    backups: int = 3,
) -> MergeResult:
    """Merge the edits ``base`` -> ``mine`` into the labels CSV at ``path`` as it is now.

    The file is read with ``keypoint_names`` (other keypoints are refused, naming the file),
    merged with ``merge_edits`` and written atomically with ``backups`` rotating copies. The
    caller holds the labels lock (``io.lock.hold_lock``) around this call.
    """
    path = Path(path)
    theirs = read_labels(path, keypoint_names) if path.exists() else None
    result = merge_edits(base, mine, theirs)
    write_labels(result.labels, path, backups=backups)
    return result


def _aligned(df: pd.DataFrame, rows: list[str], names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``df`` for ``rows`` (NaN where absent), shape (rows, keypoints, 2), and a
    mask of the rows ``df`` has."""
    out = np.full((len(rows), len(names), 2), np.nan)
    if not len(df):
        return out, np.zeros(len(rows), dtype=bool)
    where = {str(r): i for i, r in enumerate(df.index)}
    pos = np.array([where.get(r, -1) for r in rows], dtype=int)
    have = pos >= 0
    columns = [(n, c) for n in names for c in ("x", "y")]
    values = df.droplevel(0, axis=1).loc[:, columns].to_numpy(dtype=float)
    out[have] = values.reshape(len(df), len(names), 2)[pos[have]]
    return out, have


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Shape (rows, keypoints): the cells hold the same label (both empty, or within SAME_PX)."""
    both_empty = np.isnan(a).any(axis=-1) & np.isnan(b).any(axis=-1)
    close = (np.abs(a - b) <= SAME_PX).all(axis=-1)
    return both_empty | close


def _pair(xy: np.ndarray) -> tuple[float, float]:
    return float(xy[0]), float(xy[1])


def _fmt(xy: tuple[float, float]) -> str:
    if np.isnan(xy).any():
        return "empty"
    return f"(x {xy[0]:.1f}, y {xy[1]:.1f})"
