"""Calibrated multi-camera EKS: each keypoint's 3-D position, seen through every camera.

Per keypoint, a 3-D random walk observed by ``V`` calibrated cameras::

    X_0 ~ N(mu, P0),   X_t = X_{t-1} + N(0, s Q),   y_t = h(X_t) + N(0, diag(r_t))

where ``y_t`` stacks the cameras' ensemble medians (``2V`` pixel coordinates), ``r_t`` their
ensemble variances and ``h`` the cameras' projections, lens distortion included
(:mod:`.projection`). As in the reference package's calibrated path, the walk starts from
the triangulated ensemble (the average of the members' triangulations): ``mu`` is the mean
of its first frames, ``P0`` its variance, and ``Q`` is diagonal, from a robust (MAD) spread
of its frame-to-frame steps.

Where the reference runs one extended Kalman pass (each projection linearised once, about the
filter's prediction), we find the posterior mode of the whole trajectory by Gauss-Newton
(an iterated extended Kalman smoother): linearise ``h`` about the current trajectory, solve
the linear smoother exactly (:func:`.kalman_passes.forward_info`, one block-tridiagonal
solve), step with a halving line search until the steps vanish. The posterior covariance is
the smoother's at the mode (the Laplace approximation). A camera coordinate's posterior
variance is ``diag(J Cov(X_t) J^T)`` with ``J`` the projection's Jacobian at the mode: the
uncertainty of the smoothed coordinate itself, as in the other smoothers here.

``"auto"`` chooses ``s`` per keypoint by maximum marginal likelihood of the model linearised
about the triangulation, with each frame's own observation noise. (The other smoothers, like
the reference, hold the noise at its median over frames during the search; on the synthetic
rigs of ``benchmarks/bench_multicam.py`` that picks a smaller ``s`` and a 3-D error about 3 %
larger than the model's own noise does.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from napari_lightning_pose.ensemble.kalman_passes import backward_pass, forward_info
from napari_lightning_pose.ensemble.projection import (
    project_with_jacobian,
    rodrigues,
    triangulate,
)
from napari_lightning_pose.ensemble.projection_passes import (
    linearised_information,
    reprojection_fit,
)
from napari_lightning_pose.ensemble.tuning import SmoothingFit, fit_smoothing_many
from napari_lightning_pose.io.calibration import Camera

#: Gauss-Newton stops when no coordinate moves more than this (world units) ...
STEP_TOL = 1e-7
#: ... or after this many steps.
MAX_ITERATIONS = 30
#: Floors of the step and prior variances (world units^2), so a still keypoint stays well posed.
MIN_STEP_VAR = 1e-8
PRIOR_VAR_FLOOR = 1e-4
#: Frames at the start whose triangulations give the prior mean (the reference uses 10).
PRIOR_FRAMES = 10
_DIM = (0.0, 0.0, 0.0)  # the latent dimension as a type, for the compiled passes


@dataclass(frozen=True)
class Smoothed3D:
    """3-D trajectories and what every camera sees of them.

    Attributes
    ----------
    points : ndarray, shape (T, K, 3)
        Posterior mean of each keypoint's world position.
    points_var : ndarray, shape (T, K, 3)
        Its posterior variances (diagonal of the covariance).
    xy : ndarray, shape (V, T, K, 2)
        The points projected into each camera.
    xy_var : ndarray, shape (V, T, K, 2)
        Posterior variances of those pixel coordinates.
    smoothing : ndarray, shape (K,)
    fits : list of SmoothingFit
        One per keypoint when ``s`` was chosen automatically.
    iterations : int
        Gauss-Newton steps taken.
    """

    points: np.ndarray
    points_var: np.ndarray
    xy: np.ndarray
    xy_var: np.ndarray
    smoothing: np.ndarray
    fits: list[SmoothingFit]
    iterations: int


def _fill_gaps(values: np.ndarray) -> np.ndarray:
    """Linear interpolation over frames (axis 1) of NaN entries, per series and coordinate."""
    out = values.copy()
    frames = np.arange(values.shape[1])
    for k in range(values.shape[0]):
        for c in range(values.shape[2]):
            row = out[k, :, c]
            seen = np.isfinite(row)
            if not seen.all():
                row[~seen] = np.interp(frames[~seen], frames[seen], row[seen])
    return out


def _stacked(cameras: Sequence[Camera]) -> tuple[np.ndarray, ...]:
    """The cameras as the compiled passes take them: rotations, translations, matrices, dists."""
    return (
        np.stack([rodrigues(c.rotation) for c in cameras]),
        np.stack([np.asarray(c.translation, dtype=float) for c in cameras]),
        np.stack([np.asarray(c.matrix, dtype=float) for c in cameras]),
        np.stack([np.asarray(c.distortions, dtype=float) for c in cameras]),
    )


@dataclass
class _Problem:
    """The model of every keypoint (``S = K`` series of ``T`` frames, ``O = 2V`` observed)."""

    cameras: tuple[np.ndarray, ...]  # :func:`_stacked`
    obs: np.ndarray  # (S, T, O), 0 where unobserved
    inv_var: np.ndarray  # (S, T, O), 0 where unobserved
    step_cov: np.ndarray  # (S, 3, 3), Q before scaling by s
    prior_mean: np.ndarray  # (S, 3)
    prior_cov: np.ndarray  # (S, 3, 3)

    def information(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The cameras linearised about ``points`` (S, T, 3), as information for ``s = 1``.

        :func:`.projection_passes.linearised_information` in the latent whitened by
        :meth:`unit_chol`: (S, T, 3, 3), (S, T, 3) and (S,).
        """
        n_series, n_frames = points.shape[:2]
        block = np.empty((n_series, n_frames, 3, 3))
        vec = np.empty((n_series, n_frames, 3))
        y_r_y = np.empty(n_series)
        linearised_information(
            np.ascontiguousarray(points),
            *self.cameras,
            self.obs,
            self.inv_var,
            self.unit_chol(),
            block,
            vec,
            y_r_y,
        )
        return block, vec, y_r_y

    def unit_chol(self) -> np.ndarray:
        """Cholesky factor of ``Q`` (s = 1); that of ``s Q`` is ``sqrt(s)`` times it."""
        return np.linalg.cholesky(self.step_cov)

    def solve(
        self,
        smoothing: np.ndarray,
        info_block: np.ndarray,
        info_vec: np.ndarray,
        with_cov: bool,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The linear smoother, given :meth:`information` for ``s = 1``.

        Returns the posterior mean (S, T, 3), the covariances (S, T, 3, 3) (empty without
        ``with_cov``) and the pivots' determinants (S, T) (their logs sum to ``log|H|``).
        """
        root = np.sqrt(smoothing)
        chol = root[:, None, None] * self.unit_chol()
        inv = np.linalg.inv(chol)
        p0 = inv @ self.prior_cov @ np.swapaxes(inv, 1, 2)
        p0_inv = np.linalg.inv(0.5 * (p0 + np.swapaxes(p0, 1, 2)))
        mean_w = (inv @ self.prior_mean[..., None])[..., 0]
        n_series, n_frames = info_vec.shape[:2]
        pivot_inv = np.empty((n_series, n_frames, 3, 3))
        carry = np.empty((n_series, n_frames, 3))
        pivot_det = np.empty((n_series, n_frames))
        info = forward_info(
            np.ascontiguousarray(info_block * smoothing[:, None, None, None]),
            np.ascontiguousarray(info_vec * root[:, None, None]),
            p0_inv,
            np.einsum("sij,sj->si", p0_inv, mean_w),
            pivot_inv,
            carry,
            pivot_det,
            _DIM,
        )
        if info != 0:
            raise np.linalg.LinAlgError(f"posterior precision is not positive definite ({info})")
        n_cov = 9 if with_cov else 0
        pairs = (chol[:, :, None, :, None] * chol[:, None, :, None, :]).reshape(n_series, 9, 3, 3)
        means = np.empty((n_series, 3, n_frames))
        cov = np.empty((n_series, n_cov, n_frames))
        backward_pass(pivot_inv, carry, chol, pairs[:, :n_cov], means, cov, _DIM)
        cov = np.moveaxis(cov, -1, 1).reshape(n_series, n_frames, 3, 3) if with_cov else cov
        return np.swapaxes(means, 1, 2), cov, pivot_det

    def objective(self, points: np.ndarray, smoothing: np.ndarray) -> np.ndarray:
        """Negative log posterior (up to constants) of trajectories (S, T, 3), per series."""
        fit = np.empty(len(points))
        reprojection_fit(np.ascontiguousarray(points), *self.cameras, self.obs, self.inv_var, fit)
        q_inv = np.linalg.inv(smoothing[:, None, None] * self.step_cov)
        steps = np.diff(points, axis=1)
        walk = (np.matmul(steps, q_inv) * steps).sum(axis=(1, 2))
        dev = points[:, 0] - self.prior_mean
        prior = np.einsum("si,sij,sj->s", dev, np.linalg.inv(self.prior_cov), dev)
        return fit + walk + prior

    def log_likelihood(
        self, smoothing: np.ndarray, info: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> np.ndarray:
        """Log marginal likelihood (S,) of the linearised model (as ``kalman.log_likelihood``).

        ``info`` is :meth:`information` (s = 1); the fit term
        ``|y - C m|^2_R`` is expanded in it, so nothing of size (T, O) is touched per ``s``.
        """
        info_block, info_vec, y_r_y = info
        mean, _, pivot_det = self.solve(smoothing, info_block, info_vec, with_cov=False)
        # in the unit-s whitened latent v = L1^-1 X: the fit is y'Ry - 2 v.b + v'Av
        inv1 = np.linalg.inv(self.unit_chol())
        v = np.matmul(mean, np.swapaxes(inv1, 1, 2))
        fit = y_r_y - 2 * (v * info_vec).sum(axis=(1, 2))
        fit += (np.matmul(info_block, v[..., None])[..., 0] * v).sum(axis=(1, 2))
        q_inv = np.linalg.inv(smoothing[:, None, None] * self.step_cov)
        steps = np.diff(mean, axis=1)
        walk = (np.matmul(steps, q_inv) * steps).sum(axis=(1, 2))
        dev0 = mean[:, 0] - self.prior_mean
        prior = np.einsum("si,sij,sj->s", dev0, np.linalg.inv(self.prior_cov), dev0)
        _, logdet_q = np.linalg.slogdet(smoothing[:, None, None] * self.step_cov)
        seen = self.inv_var > 0
        # log|H| in X is that of the whitened pivots less T log|sQ|; with (T-1) log|sQ| from
        # the walk's own normalisation one log|sQ| is left, with the opposite sign
        return -0.5 * (
            seen.sum(axis=(1, 2)) * np.log(2.0 * np.pi)
            - np.log(np.where(seen, self.inv_var, 1.0)).sum(axis=(1, 2))
            + np.linalg.slogdet(self.prior_cov)[1]
            - logdet_q
            + np.log(pivot_det).sum(axis=1)
            + fit
            + walk
            + prior
        )


def _start(
    cameras: Sequence[Camera], center: np.ndarray, members: np.ndarray | None
) -> np.ndarray:
    """Triangulated trajectories (K, T, 3): the members' average, or the centres'."""
    if members is None:
        return np.swapaxes(triangulate(cameras, center), 0, 1)
    per_member = triangulate(cameras, members)  # (M, T, K, 3)
    seen = np.isfinite(per_member)
    total = np.where(seen, per_member, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / seen.sum(axis=0)  # NaN where no member was triangulated
    return np.swapaxes(mean, 0, 1)


def _problem(
    cameras: Sequence[Camera],
    center: np.ndarray,
    variance: np.ndarray,
    members: np.ndarray | None,
) -> tuple[_Problem, np.ndarray]:
    """The model and the triangulated start, from ensemble centres and variances (V, T, K, 2)."""
    start = _start(cameras, center, members)  # (K, T, 3)
    never = np.flatnonzero(~np.isfinite(start).all(axis=2).any(axis=1))
    if len(never):
        raise ValueError(f"keypoints {never.tolist()} are never seen by two cameras at once")
    start = _fill_gaps(start)
    n_kp = start.shape[0]
    obs = np.moveaxis(center, 0, 2).transpose(1, 0, 2, 3).reshape(n_kp, -1, 2 * len(cameras))
    var = np.moveaxis(variance, 0, 2).transpose(1, 0, 2, 3).reshape(obs.shape)
    seen = np.isfinite(obs) & np.isfinite(var)
    inv_var = np.where(seen, 1.0 / np.maximum(np.where(seen, var, 1.0), 1e-12), 0.0)
    steps = np.diff(start, axis=1)
    mad = np.median(np.abs(steps - np.median(steps, axis=1, keepdims=True)), axis=1)
    step_var = np.maximum((1.4826 * mad) ** 2, MIN_STEP_VAR)
    problem = _Problem(
        cameras=_stacked(cameras),
        obs=np.where(seen, obs, 0.0),
        inv_var=inv_var,
        step_cov=step_var[:, :, None] * np.eye(3),
        prior_mean=start[:, :PRIOR_FRAMES].mean(axis=1),
        prior_cov=(start.var(axis=1) + PRIOR_VAR_FLOOR)[:, :, None] * np.eye(3),
    )
    return problem, start


def smooth_calibrated(
    cameras: Sequence[Camera],
    center: np.ndarray,
    variance: np.ndarray,
    smoothing: str | float | Sequence[float] = "auto",
    members: np.ndarray | None = None,
) -> Smoothed3D:
    """Smooth every keypoint in 3-D from the cameras' ensemble statistics.

    Parameters
    ----------
    cameras : sequence of V Camera
    center, variance : ndarray, shape (V, T, K, 2)
        Each camera's ensemble median (or mean) and variance; NaN where not predicted.
    smoothing : "auto", float or sequence of K floats
        ``s``, scaling the step covariance ``Q``; ``"auto"`` fits it per keypoint.
    members : ndarray, shape (V, M, T, K, 2), optional
        The members' own predictions. When given, the start (and so ``mu``, ``P0``, ``Q``)
        is the average of each member's triangulation, as in the reference package; else
        the triangulation of ``center``.

    Raises
    ------
    ValueError
        A keypoint that no two cameras ever see in the same frame.
    """
    problem, points = _problem(
        cameras,
        np.asarray(center, dtype=float),
        np.asarray(variance, dtype=float),
        None if members is None else np.asarray(members, dtype=float),
    )
    n_kp = points.shape[0]
    fits: list[SmoothingFit] = []
    if isinstance(smoothing, str):
        if smoothing != "auto":
            raise ValueError(f"smoothing must be 'auto' or numbers, got {smoothing!r}")
        info = problem.information(points)
        fits = fit_smoothing_many(lambda s: problem.log_likelihood(s, info), n_kp)
        per_kp = np.array([f.smoothing for f in fits])
    else:
        per_kp = np.broadcast_to(np.asarray(smoothing, dtype=float), (n_kp,)).copy()

    current = problem.objective(points, per_kp)
    iterations = 0
    cov = None
    for iterations in range(1, MAX_ITERATIONS + 1):  # noqa: B007 - reported
        block, vec, _ = problem.information(points)
        target, cov, _ = problem.solve(per_kp, block, vec, with_cov=True)
        step = target - points
        scale = np.ones(n_kp)
        for _ in range(20):  # halve the step of a keypoint whose objective went up
            trial = points + scale[:, None, None] * step
            value = problem.objective(trial, per_kp)
            worse = value > current * (1 + 1e-12) + 1e-9
            if not worse.any():
                break
            scale[worse] *= 0.5
        points, current = trial, value
        if np.abs(scale[:, None, None] * step).max() < STEP_TOL * (1 + np.abs(points).max()):
            break
    assert cov is not None
    # what each camera sees of the mode, and the variance of that (Jacobian at the mode)
    xy, xy_var = [], []
    for cam in cameras:
        h, jac = project_with_jacobian(cam, points)
        xy.append(np.swapaxes(h, 0, 1))
        var = np.einsum("stci,stij,stcj->stc", jac, cov, jac)
        xy_var.append(np.swapaxes(var, 0, 1))
    return Smoothed3D(
        points=np.swapaxes(points, 0, 1),
        points_var=np.swapaxes(np.diagonal(cov, axis1=2, axis2=3), 0, 1),
        xy=np.stack(xy),
        xy_var=np.stack(xy_var),
        smoothing=per_kp,
        fits=fits,
        iterations=iterations,
    )
