"""Single-view EKS: each keypoint's x and y follow a random walk observed through the ensemble.

Per keypoint and coordinate::

    z_0 ~ N(mean_t y_t, var_t y_t),   z_t = z_{t-1} + N(0, s),   y_t = z_t + N(0, r_t)

where ``y_t`` is the ensemble median (or mean) and ``r_t`` the ensemble variance of that
frame, exactly the reference package's model (it writes the same thing with the prior mean
subtracted first). x and y share one ``s`` per keypoint. Every keypoint and coordinate is
smoothed in one tridiagonal solve (:mod:`.kalman`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from napari_lightning_pose.ensemble import kalman
from napari_lightning_pose.ensemble.stats import EnsembleStats
from napari_lightning_pose.ensemble.tuning import (
    SmoothingFit,
    constant_search_variance,
    fit_smoothing_many,
)


@dataclass(frozen=True)
class SmoothedKeypoints:
    """Smoothed trajectories of some of the ensemble's keypoints.

    Attributes
    ----------
    keypoints : list of int
        Which keypoints (columns of the ensemble) these are, in the order of the arrays.
    xy : ndarray, shape (T, n, 2)
        Smoothed x, y.
    posterior_var : ndarray, shape (T, n, 2)
        Posterior variance of x and y (px^2).
    smoothing : ndarray, shape (n,)
        Smoothing parameter used for each keypoint.
    fits : list of SmoothingFit
        One per fitted keypoint (or group) when the parameter was chosen automatically.
    """

    keypoints: list[int]
    xy: np.ndarray
    posterior_var: np.ndarray
    smoothing: np.ndarray
    fits: list[SmoothingFit]


def series_from_stats(
    stats: EnsembleStats, keypoints: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Observations and their variances as ``2n`` scalar series (x then y per keypoint).

    Returns
    -------
    obs, obs_var : ndarray, shape (2n, T, 1)
        NaN where no member predicted.
    """
    idx = list(keypoints)

    def as_series(values: np.ndarray) -> np.ndarray:
        if idx != list(range(values.shape[1])):
            values = values[:, idx]
        # (T, n, 2) -> (n, 2, T): one contiguous copy
        return np.ascontiguousarray(values.transpose(1, 2, 0)).reshape(2 * len(idx), -1, 1)

    return as_series(stats.center), as_series(stats.variance)


def _prior(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prior mean and variance of the first frame: the series' own mean and variance."""
    values = obs[..., 0]
    if np.isfinite(values).all():
        return values.mean(axis=1), values.var(axis=1)
    return np.nanmean(values, axis=1), np.nanvar(values, axis=1)


def _fit_keypoints(obs: np.ndarray, search_var: np.ndarray) -> list[SmoothingFit]:
    """Fit ``s`` per keypoint from its x and y series, (2n, T, 1), all keypoints at once."""
    mean, var = _prior(obs)
    data = kalman.Observations.of(obs, search_var)

    def log_likelihood(s: np.ndarray) -> np.ndarray:
        model = kalman.scalar_model(np.repeat(s, 2), mean, var)
        return kalman.log_likelihood(model, data).reshape(-1, 2).sum(axis=1)

    return fit_smoothing_many(log_likelihood, obs.shape[0] // 2)


def smooth_singleview(
    stats: EnsembleStats,
    smoothing: str | float | Sequence[float] = "auto",
    keypoints: Sequence[int] | None = None,
) -> SmoothedKeypoints:
    """Smooth keypoints independently, each with its own (or a given) smoothing parameter.

    Parameters
    ----------
    stats : EnsembleStats
        Ensemble observations of all ``K`` keypoints.
    smoothing : "auto", float or sequence of float
        ``"auto"`` fits ``s`` per keypoint by maximum likelihood; a number is used for every
        keypoint; a sequence gives one value per smoothed keypoint.
    keypoints : sequence of int, optional
        Which keypoints to smooth (default all). Each must have at least one observation.

    Returns
    -------
    SmoothedKeypoints
    """
    idx = list(range(stats.center.shape[1])) if keypoints is None else list(keypoints)
    n_frames = stats.center.shape[0]
    if not idx:
        empty = np.zeros((n_frames, 0, 2))
        return SmoothedKeypoints([], empty, empty.copy(), np.zeros(0), [])
    obs, obs_var = series_from_stats(stats, idx)
    fits: list[SmoothingFit] = []
    if isinstance(smoothing, str):
        if smoothing != "auto":
            raise ValueError(f"smoothing must be 'auto' or numbers, got {smoothing!r}")
        fits = _fit_keypoints(obs, constant_search_variance(obs_var))
        per_keypoint = np.array([f.smoothing for f in fits])
    else:
        per_keypoint = np.broadcast_to(np.asarray(smoothing, dtype=float), (len(idx),)).copy()
    mean, var = _prior(obs)
    model = kalman.scalar_model(np.repeat(per_keypoint, 2), mean, var)
    post = kalman.smooth_observed(model, obs, obs_var)
    # (2n, 1, T) -> (T, n, 2), views of frames-last arrays
    xy = np.moveaxis(post.mean.reshape(len(idx), 2, n_frames), -1, 0)
    pvar = np.moveaxis(post.var.reshape(len(idx), 2, n_frames), -1, 0)
    return SmoothedKeypoints(idx, xy, pvar, per_keypoint, fits)
