"""Where the frame's other labels put each keypoint: label QC's ``conditional_z`` (pure).

A point moved along a direction the pose PCA explains (a paw put where paws often are)
hardly raises its pose PCA reconstruction error: the moved point pulls the fitted
coefficients with it, and its own residual is only the part of the move the subspace cannot
explain. This criterion instead predicts each keypoint from the frame's *other* labeled
keypoints and asks how far the label lies from that prediction, in the prediction's own
standard deviations.

Model: the labeled poses (rows of ``design_matrix``, the single-view PCA's keypoints) are
Gaussian with the probabilistic-PCA covariance ``V diag(l) V^T + s2 I``: the components
that explain :data:`KEEP` of the variance, ``s2`` the mean of the remaining eigenvalues
(so the covariance is full rank without inventing structure). Fitted like the pose PCA:
without the frame it judges and without the trimmed poses. Given the frame's other observed
coordinates ``o``, keypoint ``t`` is Gaussian with mean
``mu_t + C_to C_oo^-1 (x_o - mu_o)`` and covariance ``C_tt - C_to C_oo^-1 C_ot``; the
criterion is the Mahalanobis distance of the label from it (unitless). A keypoint whose
position the others pin down (a nose, the two views of one paw) is judged tightly; one that
varies freely given the rest (a paw's height in a side view) loosely.

:data:`KEEP` was chosen with ``benchmarks/label_qc_recall.py`` on plantings 0-19 of both
label sets, against other variants (pixel distance, a shrunk covariance, per-keypoint
robust scaling, replacing the pose PCA error, the maximum instead of the sum); the README
reports it on plantings 100-139.
"""

from __future__ import annotations

import warnings

import numpy as np

from napari_lightning_pose.losses.pca import nan_covariance

#: Variance fraction of the components in the covariance (the rest becomes ``s2``).
KEEP = 0.999


def pose_covariance(rows: np.ndarray, keep: float = KEEP) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and probabilistic-PCA covariance (D, D) of rows with NaNs (docstring)."""
    mean, cov, _ = nan_covariance(rows)
    values, vectors = np.linalg.eigh(cov)
    values, vectors = np.clip(values[::-1], 0.0, None), vectors[:, ::-1]
    total = max(values.sum(), 1e-12)
    k = int(np.searchsorted(np.cumsum(values) / total, keep - 1e-12) + 1)
    k = min(k, len(values))
    rest = values[k:].mean() if k < len(values) else 0.0
    s2 = max(rest, 1e-6 * total / len(values))
    return mean, (vectors[:, :k] * values[:k]) @ vectors[:, :k].T + s2 * np.eye(len(values))


def conditional_z(row: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """(D / 2,) Mahalanobis distance of each (x, y) pair of ``row`` from its prediction by
    the row's other observed coordinates; NaN where the pair or all others are missing."""
    d = len(row)
    seen = np.isfinite(row)
    out = np.full(d // 2, np.nan)
    for j in range(d // 2):
        t = [2 * j, 2 * j + 1]
        o = np.flatnonzero(seen)
        o = o[(o != t[0]) & (o != t[1])]
        if not seen[t].all() or not len(o):
            continue
        c_to = cov[np.ix_(t, o)]
        solved = np.linalg.solve(cov[np.ix_(o, o)], np.column_stack([row[o] - mean[o], c_to.T]))
        diff = row[t] - (mean[t] + c_to @ solved[:, 0])
        spread = cov[np.ix_(t, t)] - c_to @ solved[:, 1:]
        out[j] = float(np.sqrt(max(diff @ np.linalg.solve(spread, diff), 0.0)))
    return out


def conditional_z_table(
    rows: np.ndarray,
    use: np.ndarray,
    columns: np.ndarray,
    n_keypoints: int,
    keep: float = KEEP,
) -> np.ndarray:
    """(N, K) ``conditional_z`` of every labeled pose, each judged by a model fitted without
    it and without the rows ``use`` leaves out; NaN at keypoints outside ``columns``.

    ``rows``: (N, 2P) single-view design matrix (one row per frame, keypoints ``columns``).
    """
    out = np.full((len(rows), n_keypoints), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for f in range(len(rows)):
            held_out = use.copy()
            held_out[f] = False
            mean, cov = pose_covariance(rows[held_out], keep)
            out[f, columns] = conditional_z(rows[f], mean, cov)
    return out
