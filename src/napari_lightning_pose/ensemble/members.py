"""Load the ensemble: several models' prediction CSVs of one video, checked to match.

Every member must predict the same frames (same row labels) and the same keypoints; a
member whose keypoints come in another column order is reordered by name. Anything else is
a ``LabelsError`` that names the offending file, so a mixed-up ensemble never smooths into a
silently wrong answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io.pose_csv import (
    HEADER_NAMES,
    PREDICTION_COORDS,
    coords_array,
    keypoint_names,
    read_pose_csv,
    require_coords,
)

Member = str | Path | pd.DataFrame


@dataclass(frozen=True)
class EnsembleMembers:
    """Predictions of ``M`` ensemble members for ``T`` frames and ``K`` keypoints.

    Attributes
    ----------
    xy : ndarray, shape (M, T, K, 2)
        Predicted pixel coordinates; NaN where a member made no prediction.
    likelihood : ndarray, shape (M, T, K)
        Each member's confidence in [0, 1]; NaN where missing.
    keypoints : list of str
        Keypoint names, in the first member's column order.
    index : pandas.Index
        Row labels (frame numbers) shared by all members.
    sources : list of str
        Where each member came from (file path, or ``"member i"`` for a DataFrame).
    """

    xy: np.ndarray
    likelihood: np.ndarray
    keypoints: list[str]
    index: pd.Index
    sources: list[str]

    @property
    def n_members(self) -> int:
        """Number of ensemble members ``M``."""
        return int(self.xy.shape[0])

    @property
    def n_frames(self) -> int:
        """Number of frames ``T``."""
        return int(self.xy.shape[1])


def _read_member(member: Member, i: int) -> tuple[pd.DataFrame, str, Path | None]:
    if isinstance(member, pd.DataFrame):
        if member.columns.nlevels != 3:
            raise LabelsError(
                None,
                f"member {i} is not a pose DataFrame (scorer, bodyparts, coords columns).",
                "Read it with napari_lightning_pose.io.pose_csv.read_pose_csv.",
            )
        df = member.copy()
        df.columns = df.columns.set_names(HEADER_NAMES)
        require_coords(df, PREDICTION_COORDS, None, source=f"member {i}")
        return df.astype(float), f"member {i}", None
    path = Path(member)
    return read_pose_csv(path, required_coords=PREDICTION_COORDS), str(path), path


def load_members(members: Sequence[Member]) -> EnsembleMembers:
    """Read and cross-check the members' predictions of one video.

    Parameters
    ----------
    members : sequence of path or DataFrame
        Prediction CSVs (Lightning Pose / DeepLabCut layout with ``x, y, likelihood``) or
        DataFrames with (scorer, bodyparts, coords) columns. One member is allowed.

    Returns
    -------
    EnsembleMembers

    Raises
    ------
    LabelsError
        No members; a file is missing or malformed; members differ in frame count, row
        labels or keypoint names; a file has no rows.
    """
    if isinstance(members, str | Path | pd.DataFrame):
        members = [members]
    if len(members) == 0:
        raise LabelsError(None, "no ensemble members given.", "Pass one or more prediction CSVs.")
    first: pd.DataFrame | None = None
    names: list[str] = []
    values: list[np.ndarray] = []
    sources: list[str] = []
    for i, member in enumerate(members):
        df, source, path = _read_member(member, i)
        if len(df) == 0:
            raise LabelsError(path, f"{source} has no rows.", "Predict the video first.")
        if first is None:
            first, names = df, keypoint_names(df)
        else:
            _check_same_video(first, sources[0], df, source, path)
        # (T, K, 3) in this member's keypoint order, then in the first member's order
        own = coords_array(df, PREDICTION_COORDS)
        order = [keypoint_names(df).index(n) for n in names]
        values.append(own[:, order])
        sources.append(source)
    assert first is not None
    stacked = np.stack(values)
    return EnsembleMembers(
        xy=stacked[..., :2],
        likelihood=stacked[..., 2],
        keypoints=names,
        index=first.index,
        sources=sources,
    )


def _check_same_video(
    ref: pd.DataFrame, ref_source: str, df: pd.DataFrame, source: str, path: Path | None
) -> None:
    if len(df) != len(ref):
        raise LabelsError(
            path,
            f"{source} has {len(df)} frames but {ref_source} has {len(ref)}.",
            "All members must be predictions of the same video; re-run prediction on it.",
        )
    if not df.index.equals(ref.index):
        where = int(np.flatnonzero(df.index.to_numpy() != ref.index.to_numpy())[0])
        raise LabelsError(
            path,
            f"{source} row {where} is labelled {df.index[where]!r} but {ref_source} has "
            f"{ref.index[where]!r}.",
            "All members must list the same frames in the same order.",
        )
    ref_names, names = keypoint_names(ref), keypoint_names(df)
    if set(ref_names) != set(names):
        missing = [n for n in ref_names if n not in names]
        extra = [n for n in names if n not in ref_names]
        raise LabelsError(
            path,
            f"{source} has other keypoints than {ref_source}: missing {missing}, extra {extra}.",
            "All members must be trained on the same keypoints.",
        )
