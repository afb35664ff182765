"""Planted errors, to measure how well a QC ranking finds mistakes whose place is known.

Real ensembles and real labels hold unknown mistakes; planting known ones into a copy and
asking whether the ranking lists them (recall@k) and how much of its top k they fill
(precision@k) is how ``benchmarks/outlier_recall.py`` and ``benchmarks/label_qc_recall.py``
judge the QC scores, and how the tests pin the behaviour down.

Prediction errors (:func:`plant_prediction_errors`), one kind per event:

``one_member``
    One member off by 30-100 px at one frame and keypoint (a single bad model).
``two_members``
    Two members off by 30-100 px in opposite directions at one frame and keypoint.
``all_members``
    Every member off by the same 30-100 px for 3-5 frames (the ensemble agrees on a mistake).
``jump``
    Every member off by 30-100 px for one frame (a short jump).
``swap``
    Every member swaps a left/right pair for 1-3 frames.

Label errors (:func:`plant_label_errors`): ``swap`` (a left/right pair exchanged in one
labeled frame) and ``moved`` (one point moved 40-60 px in a random direction).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

PREDICTION_KINDS = ("one_member", "two_members", "all_members", "jump", "swap")
#: Side markers in keypoint names, tried in turn (see :func:`guess_flip_pairs`).
_SIDE_PATTERNS = (r"(?i)left|right", r"(?<![A-Z])[LR](?![a-z])", r"(?<![a-z])[lr](?![a-z])")


@dataclass(frozen=True)
class PlantedError:
    """One planted error: its kind, frames (first..last), keypoints and size.

    ``members_off`` is how many ensemble members carry it (0 for a label error);
    ``size`` the smallest displacement it caused, in px.
    """

    kind: str
    frames: tuple[int, ...]
    keypoints: tuple[str, ...]
    members_off: int
    size: float


def guess_flip_pairs(names: Sequence[str]) -> list[tuple[int, int]]:
    """Left/right keypoint pairs guessed from the names (for ``data.flip_pairs`` when unset).

    Two names pair when, digits dropped, they differ only in a side marker: ``left`` /
    ``right`` anywhere, a capital ``L`` / ``R`` not followed by a small letter
    (``paw1LH_top`` / ``paw4RH_top``), or a lone ``l`` / ``r`` (``ear_l`` / ``ear_r``).
    """
    keys = [_side_key(n) for n in names]
    return [
        (i, j)
        for i, ki in enumerate(keys)
        for j, kj in enumerate(keys)
        if ki and kj and ki[0] == "l" and kj[0] == "r" and ki[1] == kj[1]
    ]


def _side_key(name: str) -> tuple[str, str] | None:
    """(side, name with the side marker replaced by ``*``), or None without a marker."""
    plain = re.sub(r"\d+", "", name)
    for pattern in _SIDE_PATTERNS:
        match = re.search(pattern, plain)
        if match:
            return match.group()[0].lower(), plain[: match.start()] + "*" + plain[match.end() :]
    return None


def _direction(rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    return np.array([np.cos(angle), np.sin(angle)])


def _event_frames(
    rng: np.random.Generator, n_frames: int, n_events: int, apart: int, margin: int = 8
) -> list[int]:
    """``n_events`` random first frames, at least ``apart`` from each other and the edges."""
    for _ in range(1000):
        starts = np.sort(rng.choice(np.arange(margin, n_frames - margin), n_events, False))
        if n_events < 2 or np.diff(starts).min() >= apart:
            return [int(s) for s in starts]
    raise ValueError(f"cannot place {n_events} events {apart} frames apart in {n_frames}.")


def plant_prediction_errors(
    members: Sequence[pd.DataFrame],
    n_events: int,
    seed: int,
    kinds: Sequence[str] = PREDICTION_KINDS,
    flip_pairs: Sequence[tuple[int, int]] = (),
    apart: int = 40,
) -> tuple[list[pd.DataFrame], list[PlantedError]]:
    """Copies of ``members`` with ``n_events`` planted errors (kinds in turn, random place).

    Parameters
    ----------
    members : sequence of DataFrame
        Prediction tables (x, y, likelihood) with the same keypoints and frames.
    n_events : int
        Errors to plant; kind ``i`` is ``kinds[i % len(kinds)]``.
    seed : int
        Seeds frames, keypoints, members, sizes and directions.
    kinds : sequence of str
        From :data:`PREDICTION_KINDS`; ``swap`` needs ``flip_pairs``.
    flip_pairs : sequence of (int, int)
        Left/right keypoint index pairs for ``swap``.
    apart : int
        Frames between the starts of two events, so one event never masks another.

    Returns
    -------
    members, events
    """
    rng = np.random.default_rng(seed)
    names = list(dict.fromkeys(members[0].columns.get_level_values(1)))
    xy = np.stack([_xy(m, names) for m in members])  # (M, T, K, 2)
    n_members, n_frames = xy.shape[:2]
    starts = _event_frames(rng, n_frames, n_events, apart)
    events = []
    for i, f in enumerate(starts):
        kind = kinds[i % len(kinds)]
        k = int(rng.integers(len(names)))
        size = float(rng.uniform(30, 100))
        shift = size * _direction(rng)
        if kind == "one_member":
            xy[rng.integers(n_members), f, k] += shift
            events.append(PlantedError(kind, (f,), (names[k],), 1, size))
        elif kind == "two_members":
            a, b = rng.choice(n_members, 2, replace=False)
            xy[a, f, k] += shift
            xy[b, f, k] -= shift
            events.append(PlantedError(kind, (f,), (names[k],), 2, size))
        elif kind in ("all_members", "jump"):
            length = int(rng.integers(3, 6)) if kind == "all_members" else 1
            xy[:, f : f + length, k] += shift
            frames = tuple(range(f, f + length))
            events.append(PlantedError(kind, frames, (names[k],), n_members, size))
        elif kind == "swap":
            if not flip_pairs:
                raise ValueError("swap needs flip_pairs.")
            a, b = flip_pairs[int(rng.integers(len(flip_pairs)))]
            length = int(rng.integers(1, 4))
            sl = slice(f, f + length)
            xy[:, sl, [a, b]] = xy[:, sl, [b, a]]
            gap = np.nanmedian(np.linalg.norm(xy[:, sl, a] - xy[:, sl, b], axis=-1), axis=0)
            frames = tuple(range(f, f + length))
            events.append(
                PlantedError(kind, frames, (names[a], names[b]), n_members, float(np.nanmin(gap)))
            )
        else:
            raise ValueError(f"unknown kind {kind!r}; use one of {PREDICTION_KINDS}.")
    out = []
    for m, planted in zip(members, xy, strict=True):
        copy = m.copy()
        for j, name in enumerate(names):
            copy.loc[:, (slice(None), name, "x")] = planted[:, j, 0:1]
            copy.loc[:, (slice(None), name, "y")] = planted[:, j, 1:2]
        out.append(copy)
    return out, events


def plant_label_errors(
    labels: pd.DataFrame,
    n_swaps: int,
    n_moved: int,
    seed: int,
    flip_pairs: Sequence[tuple[int, int]],
    moved_px: tuple[float, float] = (40.0, 60.0),
    movable: Sequence[int] | None = None,
    min_swap_px: float = 0.0,
) -> tuple[pd.DataFrame, list[PlantedError]]:
    """A copy of a labels table with ``n_swaps`` left/right swaps and ``n_moved`` moved
    points, each in a different labeled frame (where the points involved are labeled).
    ``movable``: the keypoint indices a point may be moved at (default all).
    ``min_swap_px``: swap only pairs at least that far apart (a swap moves each label by
    the pair's distance; one of a few pixels is no error a user could see or fix)."""
    rng = np.random.default_rng(seed)
    names = list(dict.fromkeys(labels.columns.get_level_values(1)))
    xy = _xy(labels, names)  # (N, K, 2)
    rows = rng.permutation(len(labels))
    events: list[PlantedError] = []
    used = 0
    for kind, count in (("swap", n_swaps), ("moved", n_moved)):
        done = 0
        while done < count:
            if used >= len(rows):
                raise ValueError("not enough labeled frames to plant into.")
            r = rows[used]
            used += 1
            if kind == "swap":
                usable = [
                    p
                    for p in flip_pairs
                    if np.isfinite(xy[r, list(p)]).all()
                    and np.linalg.norm(xy[r, p[0]] - xy[r, p[1]]) >= min_swap_px
                ]
                if not usable:
                    continue
                a, b = usable[int(rng.integers(len(usable)))]
                size = float(np.linalg.norm(xy[r, a] - xy[r, b]))
                xy[r, [a, b]] = xy[r, [b, a]]
                events.append(PlantedError("swap", (int(r),), (names[a], names[b]), 0, size))
            else:
                labeled = np.flatnonzero(np.isfinite(xy[r]).all(axis=1))
                if movable is not None:
                    labeled = np.intersect1d(labeled, np.asarray(movable, dtype=int))
                if not len(labeled):
                    continue
                k = int(rng.choice(labeled))
                size = float(rng.uniform(*moved_px))
                xy[r, k] += size * _direction(rng)
                events.append(PlantedError("moved", (int(r),), (names[k],), 0, size))
            done += 1
    out = labels.copy()
    for j, name in enumerate(names):
        out.loc[:, (slice(None), name, "x")] = xy[:, j, 0:1]
        out.loc[:, (slice(None), name, "y")] = xy[:, j, 1:2]
    return out, events


def _xy(table: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """(rows, keypoints, 2) array of a pose table's x, y."""
    coords = table.columns.get_level_values(2)
    parts = table.columns.get_level_values(1)
    out = np.full((len(table), len(names), 2), np.nan)
    for j, name in enumerate(names):
        for c, coord in enumerate("xy"):
            col = (parts == name) & (coords == coord)
            out[:, j, c] = table.loc[:, col].to_numpy(dtype=float)[:, 0]
    return out


class HasFrames(Protocol):
    """An event with a stretch of frames (``PlantedError``, ``qc.members_off`` events)."""

    @property
    def frames(self) -> tuple[int, ...]: ...


def found_at_k(
    events: Sequence[HasFrames], listed_frames: Sequence[int], k: int, tolerance: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Which events the top ``k`` listed frames find, and which listed frames hit one.

    An event is found when a listed frame lies within ``tolerance`` frames of its first to
    last frame (a jump's return step is flagged one frame later).
    """
    top = np.asarray(list(listed_frames)[:k], dtype=int)
    found = np.zeros(len(events), dtype=bool)
    hits = np.zeros(len(top), dtype=bool)
    for i, e in enumerate(events):
        near = (top >= e.frames[0] - tolerance) & (top <= e.frames[-1] + tolerance)
        found[i] = near.any()
        hits |= near
    return found, hits
