"""Frames where ensemble members are off: issue 22's bar for the outlier queue (pure).

The outlier queue must list "every frame where two or more members are off by more than
3x the file's typical ensemble SD". This module finds those frames in any ensemble, real
mistakes and planted ones alike, so ``benchmarks/outlier_recall.py`` can count both.

Definitions:

typical ensemble SD
    The median, over frames and keypoints, of the members' spread
    ``sqrt(var_x + var_y)`` (:func:`typical_ensemble_sd`). One number per file.
member off
    A member's prediction lies farther than ``factor`` x the typical SD from the
    **ensemble median** of that frame and keypoint. The median, not the EKS posterior: it
    is the members' own consensus, computed the same way whatever the smoother did, and
    with five members two that are off cannot move it; the posterior, by contrast, follows
    a jump the smoother accepted and would call the members that agree with it "off".
    So an error every member shares (a jump of the whole ensemble) is not "members off";
    the queue finds those with the temporal norm, and the planting benchmark counts them.
event
    Frames that qualify and lie less than ``merge_gap`` frames apart form one event (the
    queue keeps its listed frames ``DEFAULT_MIN_GAP`` apart, so it cannot list two frames
    of one stretch closer than that). Its ``size`` is the largest, over its frames and
    keypoints, of the second-largest member offset: how far at least two members are off.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_lightning_pose.qc.defaults import DEFAULT_MIN_GAP

#: Issue 22's bar: a member is off when farther than this many typical SDs from the median.
BAR_FACTOR = 3.0


@dataclass(frozen=True)
class MembersOffEvent:
    """A stretch of frames (first..last row) where ``min_members`` or more members are off.

    ``keypoints``: every keypoint that qualified in it; ``members_off``: the most members
    off at one frame and keypoint; ``size``: how far (px) at least two members were off at
    its worst frame and keypoint.
    """

    frames: tuple[int, ...]
    keypoints: tuple[str, ...]
    members_off: int
    size: float


def member_xy(members: Sequence[pd.DataFrame]) -> tuple[np.ndarray, list[str]]:
    """(members, frames, keypoints, 2) x, y of prediction tables, and the keypoint names."""
    names = list(dict.fromkeys(members[0].columns.get_level_values(1)))
    coords = members[0].columns.get_level_values(2)
    parts = members[0].columns.get_level_values(1)
    cols = [[int(np.flatnonzero((parts == n) & (coords == c))[0]) for c in "xy"] for n in names]
    xy = np.stack([m.to_numpy(dtype=float)[:, cols] for m in members])
    return xy, names


def typical_ensemble_sd(xy: np.ndarray) -> float:
    """Median over frames and keypoints of the members' spread, ``sqrt(var_x + var_y)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        var = np.nanvar(xy, axis=0)
        return float(np.nanmedian(np.sqrt(var[..., 0] + var[..., 1])))


def member_offsets(xy: np.ndarray) -> np.ndarray:
    """(members, frames, keypoints) distance of each member from the ensemble median."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.linalg.norm(xy - np.nanmedian(xy, axis=0), axis=-1)


def members_off_events(
    xy: np.ndarray,
    names: Sequence[str],
    bar: float,
    min_members: int = 2,
    merge_gap: int = DEFAULT_MIN_GAP,
) -> list[MembersOffEvent]:
    """Events where ``min_members`` or more members are farther than ``bar`` px from the
    ensemble median at some keypoint (module docstring), in frame order.

    Parameters
    ----------
    xy : ndarray
        (members, frames, keypoints, 2), e.g. from :func:`member_xy`.
    names : sequence of str
        Keypoint names, in ``xy``'s order.
    bar : float
        Offset in px, e.g. ``BAR_FACTOR * typical_ensemble_sd(xy)`` of the clean file.
    min_members : int
        How many members must be off at one frame and keypoint.
    merge_gap : int
        Qualifying frames closer than this are one event.
    """
    if xy.shape[0] < min_members:
        return []
    off = member_offsets(xy)  # (M, T, K)
    count = (off > bar).sum(axis=0)  # (T, K)
    second = -np.sort(-np.nan_to_num(off, nan=0.0), axis=0)[min_members - 1]  # (T, K)
    hit = count >= min_members
    frames = np.flatnonzero(hit.any(axis=1))
    if not len(frames):
        return []
    breaks = np.flatnonzero(np.diff(frames) >= merge_gap) + 1
    events = []
    for group in np.split(frames, breaks):
        span = slice(int(group[0]), int(group[-1]) + 1)
        kps = np.flatnonzero(hit[span].any(axis=0))
        events.append(
            MembersOffEvent(
                frames=tuple(range(span.start, span.stop)),
                keypoints=tuple(names[k] for k in kps),
                members_off=int(count[span].max()),
                size=float(np.where(hit[span], second[span], 0.0).max()),
            )
        )
    return events
