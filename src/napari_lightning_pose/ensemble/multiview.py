"""Multi-view EKS: one keypoint seen in several views shares a low-dimensional latent.

For a keypoint seen in ``V`` views (mirrored columns of one video, or several cameras) the
``2V`` observed coordinates of a frame are explained by a 3-D latent (the physical position)
through a linear map found by PCA of the ensemble medians, so the views constrain each other::

    z_t = z_{t-1} + N(0, s Q),    y_t = mean + C z_t + N(0, diag(r_t)),   C: (2V, 3)

This follows the reference package's mirrored multi-camera smoother (linear path, no
calibration). As there, the PCA and the centring use the frames whose largest ensemble
variance is at most the group's median (the first ``n`` such frames, ``n`` being the
smallest count over all groups); the prior and the step covariance ``Q`` (normalised to a
largest entry of 1) are estimated from the latents of those frames. The reported posterior
variance of a view coordinate is ``diag(C Cov(z_t) C^T)``: the uncertainty of the smoothed
coordinate itself. (The reference adds the ensemble variance on top in its multi-view
output, not in its single-view output; we report the same quantity in both.)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from napari_lightning_pose.ensemble import kalman
from napari_lightning_pose.ensemble.singleview import SmoothedKeypoints
from napari_lightning_pose.ensemble.stats import EnsembleStats
from napari_lightning_pose.ensemble.tuning import (
    SmoothingFit,
    constant_search_variance,
    fit_smoothing_many,
)

#: Latent dimension of a multi-view keypoint (3-D position).
N_LATENT = 3
#: Frames whose largest ensemble variance is at most this percentile fit the PCA.
PCA_VARIANCE_PERCENTILE = 50.0
#: Added to the diagonal of the normalised step covariance ``Q``.
STEP_COV_RIDGE = 1e-9


@dataclass(frozen=True)
class ViewGroupModel:
    """The linear-Gaussian model of each multi-view keypoint group.

    Attributes
    ----------
    obs : ndarray, shape (G, T, 2V)
        Ensemble medians, centred by ``offset``; columns are x, y of view 0, x, y of view 1...
    obs_var : ndarray, shape (G, T, 2V)
        Ensemble variances (NaN where unobserved).
    offset : ndarray, shape (G, 2V)
        The per-coordinate mean removed from the observations.
    emission : ndarray, shape (G, 2V, D)
        PCA loadings ``C``.
    step_cov : ndarray, shape (G, D, D)
        ``Q`` (largest entry 1), scaled by the smoothing parameter in the model.
    prior_cov : ndarray, shape (G, D, D)
        Diagonal prior covariance of the first latent.
    """

    obs: np.ndarray
    obs_var: np.ndarray
    offset: np.ndarray
    emission: np.ndarray
    step_cov: np.ndarray
    prior_cov: np.ndarray

    def random_walk(self, smoothing: np.ndarray) -> kalman.RandomWalkModel:
        """The state-space model with smoothing parameter per group, ``smoothing`` (G,)."""
        s = np.asarray(smoothing, dtype=float).reshape(-1, 1, 1)
        return kalman.RandomWalkModel(
            emission=self.emission,
            transition_cov=s * self.step_cov,
            prior_mean=np.zeros(self.emission.shape[::2]),
            prior_cov=self.prior_cov,
        )


def _stack_views(
    stats: EnsembleStats, views: Sequence[Sequence[int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Observations and variances of each group: (G, T, 2V), view-major x, y columns."""
    n_frames, n_keypoints = stats.center.shape[:2]
    # column k*2 + c of a (T, K*2) table is coordinate c of keypoint k: (G, 2V) columns
    cols = (2 * np.asarray(views).T[..., None] + np.arange(2)).reshape(len(views[0]), -1)

    def gather(values: np.ndarray) -> np.ndarray:
        table = values.reshape(n_frames, n_keypoints * 2)
        out = np.empty((len(cols), n_frames, cols.shape[1]))
        for g, group_cols in enumerate(cols):  # one copy, straight into place
            np.take(table, group_cols, axis=1, out=out[g])
        return out

    return gather(stats.center), gather(stats.variance)


def _pca_frames(obs_var: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per group: frames to fit the PCA on, and all low-variance frames.

    A frame qualifies when every view coordinate is observed and its largest variance is at
    most the group's ``PCA_VARIANCE_PERCENTILE``; the PCA uses the first ``n`` qualifying
    frames, ``n`` being the smallest count over the groups (the reference's rule).
    """
    # (G, T); NaN where a coordinate is unobserved (element-wise: a tiny last axis is slow)
    max_var = functools.reduce(np.maximum, np.moveaxis(obs_var, -1, 0))
    complete = np.isfinite(max_var)
    if complete.all():
        thresholds = np.percentile(max_var, PCA_VARIANCE_PERCENTILE, axis=1)
    else:
        thresholds = np.full(len(max_var), np.nan)
        for g, seen in enumerate(complete):
            if not seen.any():
                raise ValueError(f"multi-view group {g} has no frame where every view is observed")
            thresholds[g] = np.percentile(max_var[g, seen], PCA_VARIANCE_PERCENTILE)
    good = [np.flatnonzero(row <= t) for row, t in zip(max_var, thresholds, strict=True)]
    n_fit = min(len(frames) for frames in good)
    return [frames[:n_fit] for frames in good], good


def build_view_model(
    stats: EnsembleStats, views: Sequence[Sequence[int]], n_latent: int = N_LATENT
) -> ViewGroupModel:
    """PCA latent model of every keypoint group seen in several views.

    Parameters
    ----------
    stats : EnsembleStats
        Ensemble observations of all keypoints.
    views : sequence of V sequences of G keypoint indices
        ``views[v][g]`` is keypoint ``g`` of the groups as seen in view ``v``.
    n_latent : int
        Latent dimension (at most ``2V``).

    Returns
    -------
    ViewGroupModel
    """
    obs, var = _stack_views(stats, views)
    n_groups, _, n_obs = obs.shape
    d = min(n_latent, n_obs)
    fit_frames, good_frames = _pca_frames(var)
    offset = np.zeros((n_groups, n_obs))
    emission = np.zeros((n_groups, n_obs, d))
    step_cov = np.zeros((n_groups, d, d))
    prior_cov = np.zeros((n_groups, d, d))
    for g in range(n_groups):
        fit = obs[g, fit_frames[g]]
        offset[g] = fit.mean(axis=0)
        fit -= offset[g]
        fit_mean = fit.mean(axis=0)
        _, _, vt = np.linalg.svd(fit - fit_mean, full_matrices=False)
        emission[g] = vt[:d].T
        # latents of the low-variance frames as rows, (D, n): row-wise statistics are fast
        latents = vt[:d] @ (obs[g, good_frames[g]] - offset[g] - fit_mean).T
        prior_cov[g] = np.diag(latents.var(axis=1))
        steps = np.diff(latents, axis=1)
        cov = np.atleast_2d(np.cov(steps)) if steps.shape[1] > 1 else np.eye(d)
        scale = np.abs(cov).max()
        # tiny ridge: a latent that never moves (e.g. an exact copy of a view) stays invertible
        step_cov[g] = (cov / scale if scale > 0 else np.eye(d)) + STEP_COV_RIDGE * np.eye(d)
    return ViewGroupModel(obs - offset[:, None], var, offset, emission, step_cov, prior_cov)


def smooth_multiview(
    stats: EnsembleStats,
    views: Sequence[Sequence[int]],
    smoothing: str | float | Sequence[float] = "auto",
    n_latent: int = N_LATENT,
) -> SmoothedKeypoints:
    """Smooth keypoints seen in several views through a shared latent per keypoint group.

    Parameters
    ----------
    stats : EnsembleStats
        Ensemble observations of all keypoints.
    views : sequence of V sequences of G keypoint indices
        ``views[v][g]``: keypoint of group ``g`` in view ``v`` (like Lightning Pose's
        ``mirrored_column_matches``). Needs ``V >= 2``.
    smoothing : "auto", float or sequence of G floats
        ``"auto"`` fits ``s`` per group by maximum likelihood.
    n_latent : int
        Latent dimension per group.

    Returns
    -------
    SmoothedKeypoints
        Keypoints ordered group by group, view by view (``views[0][0], views[1][0], ...``).
    """
    n_views, n_groups = len(views), len(views[0])
    model = build_view_model(stats, views, n_latent)
    fits: list[SmoothingFit] = []
    if isinstance(smoothing, str):
        if smoothing != "auto":
            raise ValueError(f"smoothing must be 'auto' or numbers, got {smoothing!r}")
        search = kalman.Observations.of(model.obs, constant_search_variance(model.obs_var))

        def log_likelihood(s: np.ndarray) -> np.ndarray:
            return kalman.log_likelihood(model.random_walk(s), search)

        fits = fit_smoothing_many(log_likelihood, n_groups)
        per_group = np.array([f.smoothing for f in fits])
    else:
        per_group = np.broadcast_to(np.asarray(smoothing, dtype=float), (n_groups,)).copy()

    post = kalman.smooth_observed(model.random_walk(per_group), model.obs, model.obs_var)
    n_frames = post.mean.shape[-1]
    # (G, V*2, T) -> (T, G*V, 2), group-major; views of frames-last arrays
    coords = (post.mean + model.offset[:, :, None]).reshape(n_groups * n_views, 2, n_frames)
    var = post.var.reshape(n_groups * n_views, 2, n_frames)
    keypoints = [int(views[v][g]) for g in range(n_groups) for v in range(n_views)]
    return SmoothedKeypoints(
        keypoints=keypoints,
        xy=np.moveaxis(coords, -1, 0),
        posterior_var=np.moveaxis(var, -1, 0),
        smoothing=np.repeat(per_group, n_views),
        fits=fits,
    )
