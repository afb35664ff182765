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
from numba import njit

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
    n_members = xy.shape[0]
    median, mean, spread = (np.empty(xy.shape[1:]) for _ in range(3))
    confidence = np.empty(xy.shape[1:3])
    n_valid = np.empty(xy.shape[1:3], dtype=np.int64)
    _frame_stats(
        np.ascontiguousarray(xy),
        np.ascontiguousarray(likelihood),
        median,
        mean,
        spread,
        confidence,
        n_valid,
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


@njit(cache=True)
def _frame_stats(
    xy: np.ndarray,
    likelihood: np.ndarray,
    median: np.ndarray,
    mean: np.ndarray,
    spread: np.ndarray,
    confidence: np.ndarray,
    n_valid: np.ndarray,
) -> None:  # pragma: no cover - compiled; coverage cannot see inside
    """All per-frame statistics in one compiled pass over the members' predictions.

    A member counts for a frame and keypoint when its x, y and likelihood are all finite.
    One pass writes every output in place: numpy needs several passes and temporaries.
    Sums run over members in order, as numpy's reductions over the first axis do.

    Parameters
    ----------
    xy : (M, T, K, 2)
    likelihood : (M, T, K)
    median, mean, spread : (T, K, 2), out
        Median, mean and population variance of x, y over the valid members; NaN where none.
    confidence : (T, K), out
        Sum of the valid members' likelihoods divided by ``M``.
    n_valid : (T, K), out
        How many members are valid.
    """
    n_members, n_frames, n_keypoints = likelihood.shape
    valid = np.empty(n_members, dtype=np.bool_)
    values = np.empty(n_members)
    for t in range(n_frames):
        for k in range(n_keypoints):
            count = 0
            total = 0.0
            for m in range(n_members):
                lik = likelihood[m, t, k]
                ok = np.isfinite(xy[m, t, k, 0]) and np.isfinite(xy[m, t, k, 1])
                valid[m] = ok and np.isfinite(lik)
                if valid[m]:
                    count += 1
                    total += lik
            confidence[t, k] = total / n_members
            n_valid[t, k] = count
            for c in range(2):
                if count == 0:
                    median[t, k, c] = mean[t, k, c] = spread[t, k, c] = np.nan
                    continue
                n = 0
                acc = 0.0
                for m in range(n_members):
                    if valid[m]:
                        values[n] = xy[m, t, k, c]
                        acc += values[n]
                        n += 1
                centre = acc / n
                acc = 0.0
                for i in range(n):
                    acc += (values[i] - centre) * (values[i] - centre)
                mean[t, k, c] = centre
                spread[t, k, c] = acc / n
                median[t, k, c] = _median_of(values, n)


@njit(cache=True)
def _median_of(values: np.ndarray, n: int) -> float:  # pragma: no cover - compiled
    """Median of ``values[:n]``; branch-free min/max networks for 3 and 5 (the usual sizes).

    Reorders ``values[:n]`` when ``n`` is not 1, 2, 3 or 5.
    """
    if n == 1:
        return values[0]
    if n == 2:
        return 0.5 * (values[0] + values[1])
    if n == 3:
        return _median3(values[0], values[1], values[2])
    if n == 5:
        # the median of five is the median of the fifth and two order statistics of the
        # other four pairs: 10 min/max operations instead of a sort
        low = max(min(values[0], values[1]), min(values[2], values[3]))
        high = min(max(values[0], values[1]), max(values[2], values[3]))
        return _median3(values[4], low, high)
    for i in range(1, n):  # insertion sort: n is small
        v = values[i]
        j = i
        while j > 0 and values[j - 1] > v:
            values[j] = values[j - 1]
            j -= 1
        values[j] = v
    return 0.5 * (values[(n - 1) // 2] + values[n // 2])


@njit(cache=True)
def _median3(a: float, b: float, c: float) -> float:  # pragma: no cover - compiled
    """Median of three numbers."""
    return max(min(a, b), min(max(a, b), c))


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
