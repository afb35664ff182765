"""Random-walk Kalman smoothing as one block-tridiagonal solve, exact and O(frames).

Each series is a latent random walk observed through a fixed emission matrix::

    z_0 ~ N(mu, P0),   z_t = z_{t-1} + w_t,  w_t ~ N(0, Q),   y_t = C z_t + v_t,  v_t ~ N(0, R_t)

with a diagonal, time-varying ``R_t`` (an infinite entry means "not observed"). The joint
posterior of ``z_0..z_{T-1}`` is Gaussian with a block-tridiagonal precision ``H``; the
Rauch-Tung-Striebel smoother's means are ``H^-1 b`` and its variances are the diagonal blocks
of ``H^-1``. The latent is first whitened so the walk steps with unit covariance; the
off-diagonal blocks of ``H`` are then ``-I`` and two compiled passes over the frames of every
series (:mod:`.kalman_passes`: a forward block factorisation and solve, a backward
substitution and selected inversion) give the means, the variances and ``log|H|``.

This module holds the model and observation types, the whitening, the factorised precision
and what is built on it: :func:`smooth`, :func:`smooth_observed` and :func:`log_likelihood`.
One factorisation, no dense inverse, memory linear in frames. ``D == 1`` (single view) runs
on the scalar passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from napari_lightning_pose.ensemble.kalman_passes import (
    backward_pass,
    backward_scalar,
    forward_pass,
    forward_scalar,
)

#: Observation variances (px^2) are clipped to at least this: a thousandth of a pixel's SD,
#: far below any real ensemble spread. The reference package clips at 1e-12, which let
#: members that agree exactly somewhere (variance 0: copies, untrained members) give a
#: precision 1e17 times another frame's and a posterior precision that is not positive
#: definite in float64.
MIN_OBS_VAR = 1e-6
#: Prior variances are clipped to at least this so a constant series stays well-posed.
MIN_PRIOR_VAR = 1e-12


@dataclass(frozen=True)
class RandomWalkModel:
    """Parameters of ``S`` independent random-walk state-space models with ``D`` latents.

    Attributes
    ----------
    emission : ndarray, shape (S, O, D)
        ``C``: maps the latent to the ``O`` observed coordinates.
    transition_cov : ndarray, shape (S, D, D)
        ``Q``: covariance of one step of the walk (already scaled by the smoothing parameter).
    prior_mean : ndarray, shape (S, D)
        ``mu``: mean of the latent at the first frame.
    prior_cov : ndarray, shape (S, D, D)
        ``P0``: covariance of the latent at the first frame.
    """

    emission: np.ndarray
    transition_cov: np.ndarray
    prior_mean: np.ndarray
    prior_cov: np.ndarray

    @property
    def n_series(self) -> int:
        """Number of independent series ``S``."""
        return int(self.emission.shape[0])

    @property
    def n_latent(self) -> int:
        """Latent dimension ``D``."""
        return int(self.emission.shape[2])


@dataclass(frozen=True)
class LatentPosterior:
    """Smoothed latent of every series: per-frame mean and covariance.

    Attributes
    ----------
    mean : ndarray, shape (S, T, D)
    cov : ndarray, shape (S, T, D, D)
    """

    mean: np.ndarray
    cov: np.ndarray


def scalar_model(
    smoothing: np.ndarray, prior_mean: np.ndarray, prior_var: np.ndarray
) -> RandomWalkModel:
    """The one-dimensional random walk observed directly, for ``S`` series at once.

    Parameters
    ----------
    smoothing : ndarray, shape (S,)
        Variance of one step of the walk (px^2 per frame); smaller means smoother.
    prior_mean, prior_var : ndarray, shape (S,)
        Mean and variance of the first frame.
    """
    smoothing = np.asarray(smoothing, dtype=float)
    n = smoothing.shape[0]
    return RandomWalkModel(
        emission=np.ones((n, 1, 1)),
        transition_cov=smoothing.reshape(n, 1, 1),
        prior_mean=np.asarray(prior_mean, dtype=float).reshape(n, 1),
        prior_cov=np.asarray(prior_var, dtype=float).reshape(n, 1, 1),
    )


@dataclass(frozen=True)
class Observations:
    """Observations prepared once for repeated smoothing or likelihood evaluations.

    Attributes
    ----------
    values : ndarray, shape (S, T, O)
        Observations with unobserved entries set to 0.
    inv_var : ndarray, shape (S, T, O)
        Inverse noise variances, 0 where unobserved.
    """

    values: np.ndarray
    inv_var: np.ndarray

    @classmethod
    def of(cls, obs: np.ndarray, obs_var: np.ndarray) -> Observations:
        """Prepare ``obs`` (S, T, O) with noise variances ``obs_var`` (S, T, O).

        NaN in ``obs`` or NaN/inf in ``obs_var`` marks an entry as unobserved; variances are
        clipped to at least ``MIN_OBS_VAR``.
        """
        obs = np.asarray(obs, dtype=float)
        obs_var = np.asarray(obs_var, dtype=float)
        if np.isfinite(obs).all() and np.isfinite(obs_var).all():
            return cls(obs, 1.0 / np.maximum(obs_var, MIN_OBS_VAR))
        seen = np.isfinite(obs) & np.isfinite(obs_var)
        var = np.maximum(np.where(seen, obs_var, 1.0), MIN_OBS_VAR)
        return cls(np.where(seen, obs, 0.0), np.where(seen, 1.0 / var, 0.0))

    @cached_property
    def weighted(self) -> np.ndarray:
        """``R^-1 y``: observations times their inverse variances (0 where unobserved)."""
        return self.inv_var * self.values

    @cached_property
    def n_observed(self) -> np.ndarray:
        """Number of observed entries per series, (S,)."""
        return (self.inv_var > 0).sum(axis=(1, 2))

    @cached_property
    def log_det_noise(self) -> np.ndarray:
        """Sum of the log noise variances of the observed entries, (S,)."""
        seen = self.inv_var > 0
        return -np.log(np.where(seen, self.inv_var, 1.0)).sum(axis=(1, 2))


def _as_observations(obs: np.ndarray | Observations, obs_var: np.ndarray | None) -> Observations:
    if isinstance(obs, Observations):
        return obs
    if obs_var is None:
        raise ValueError("obs_var is required with raw observations")
    return Observations.of(obs, obs_var)


def _floor_diag(cov: np.ndarray, floor: float) -> np.ndarray:
    """Copy of ``cov`` (..., D, D) with its diagonal raised to at least ``floor``."""
    out = np.array(cov, dtype=float)
    idx = np.arange(out.shape[-1])
    out[..., idx, idx] = np.maximum(out[..., idx, idx], floor)
    return out


def _whiten(model: RandomWalkModel) -> tuple[RandomWalkModel, np.ndarray]:
    """The same model in latents ``u = L^-1 z`` that step with unit covariance (``Q = L L^T``).

    The precision's off-diagonal blocks become ``-I``, which keeps the block recurrences short;
    ``log p(y)`` does not depend on the latent's basis.

    Returns
    -------
    whitened : RandomWalkModel
    chol : ndarray, shape (S, D, D)
        ``L``, which maps the whitened latent back: ``z = L u``.
    """
    chol = np.linalg.cholesky(model.transition_cov)
    inv = np.linalg.inv(chol)
    prior_cov = inv @ _floor_diag(model.prior_cov, MIN_PRIOR_VAR) @ np.swapaxes(inv, 1, 2)
    whitened = RandomWalkModel(
        emission=model.emission @ chol,
        transition_cov=np.broadcast_to(np.eye(model.n_latent), model.transition_cov.shape),
        prior_mean=(inv @ model.prior_mean[..., None])[..., 0],
        prior_cov=0.5 * (prior_cov + np.swapaxes(prior_cov, 1, 2)),
    )
    return whitened, chol


class _Precision:
    """The stacked posterior precision ``H`` of a model on some data, factorised once.

    The model is whitened first (:func:`_whiten`; :attr:`model` is the whitened model), so
    ``H`` is block tridiagonal with ``-I`` off the diagonal. :func:`.kalman_passes.forward_pass`
    (or :func:`.kalman_passes.forward_scalar` when ``D == O == 1``) factorises it and runs the
    forward solve; :meth:`readout` is one more compiled pass over frames.
    """

    def __init__(self, model: RandomWalkModel, data: Observations) -> None:
        self.model, self.chol = _whiten(model)
        p0_inv = np.linalg.inv(_floor_diag(self.model.prior_cov, MIN_PRIOR_VAR))
        self.p0_inv = p0_inv
        n_series, n_frames = data.inv_var.shape[:2]
        d = model.n_latent
        self.pivot_inv = np.empty((n_series, n_frames, d, d))
        self.carry = np.empty((n_series, n_frames, d))
        self.pivot_det = np.empty((n_series, n_frames))
        self.dim = (0.0,) * d  # the latent dimension as a type: compiled with D known
        self.scalar = d == 1 and data.inv_var.shape[2] == 1
        args = (
            np.ascontiguousarray(self.model.emission),
            np.ascontiguousarray(data.inv_var),
            np.ascontiguousarray(data.weighted),
            p0_inv,
            np.einsum("sde,se->sd", p0_inv, self.model.prior_mean),
            self.pivot_inv,
            self.carry,
            self.pivot_det,
        )
        info = forward_scalar(*args) if self.scalar else forward_pass(*args, self.dim)
        if info != 0:
            raise np.linalg.LinAlgError(f"posterior precision is not positive definite ({info})")

    def readout(
        self, mean_map: np.ndarray, cov_map: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Linear read-outs of every frame's posterior mean and covariance, frames last.

        Parameters
        ----------
        mean_map : ndarray, shape (S, R, D)
            Rows applied to the mean (in :attr:`model`'s latent basis).
        cov_map : ndarray, shape (S, Q, D, D), optional
            Weights summed against the covariance; none skips the covariances.

        Returns
        -------
        mean : ndarray, shape (S, R, T)
        cov : ndarray, shape (S, Q, T)
        """
        n_series, n_frames, d = self.carry.shape
        if cov_map is None:
            cov_map = np.empty((n_series, 0, d, d))
        mean = np.empty((n_series, mean_map.shape[1], n_frames))
        cov = np.empty((n_series, cov_map.shape[1], n_frames))
        args = (
            self.pivot_inv,
            self.carry,
            np.ascontiguousarray(mean_map, dtype=float),
            np.ascontiguousarray(cov_map, dtype=float),
            mean,
            cov,
        )
        if self.scalar:
            backward_scalar(*args)
        else:
            backward_pass(*args, self.dim)
        return mean, cov


def _stacked_matmul(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``x @ m`` for (S, T, A) and (S, A, B); element-wise when ``A == B == 1`` (faster)."""
    if m.shape[1:] == (1, 1):
        return x * m
    return x @ m


def smooth(
    model: RandomWalkModel,
    obs: np.ndarray | Observations,
    obs_var: np.ndarray | None = None,
) -> LatentPosterior:
    """Posterior mean and covariance of every frame's latent (the RTS smoother's output).

    Parameters
    ----------
    model : RandomWalkModel
        ``S`` series with ``D`` latents and ``O`` observed coordinates.
    obs : ndarray, shape (S, T, O), or Observations
        Observations; NaN means not observed.
    obs_var : ndarray, shape (S, T, O)
        Observation noise variance per frame and coordinate; ``inf``/NaN means not observed.
        Not needed when ``obs`` is an :class:`Observations`.

    Returns
    -------
    LatentPosterior
        ``mean`` (S, T, D) and ``cov`` (S, T, D, D). Frames without observations are bridged
        by the walk, so their variance grows towards the middle of a gap.
    """
    precision = _Precision(model, _as_observations(obs, obs_var))
    chol = precision.chol  # back from the whitened latent: z = L u, Cov(z) = L Cov(u) L^T
    n_series, d = chol.shape[:2]
    pairs = (chol[:, :, None, :, None] * chol[:, None, :, None, :]).reshape(n_series, d * d, d, d)
    mean, cov = precision.readout(chol, pairs)  # (S, D, T), (S, D*D, T)
    mean = np.swapaxes(mean, 1, 2)
    cov = np.moveaxis(cov, -1, 1).reshape(n_series, -1, d, d)
    return LatentPosterior(mean=mean, cov=cov)


@dataclass(frozen=True)
class ObservedPosterior:
    """Smoothed observed coordinates ``C z_t`` and their posterior variances, frames last.

    Attributes
    ----------
    mean : ndarray, shape (S, O, T)
    var : ndarray, shape (S, O, T)
        ``diag(C Cov(z_t) C^T)``: the uncertainty of the smoothed coordinate itself.
    """

    mean: np.ndarray
    var: np.ndarray


def smooth_observed(
    model: RandomWalkModel,
    obs: np.ndarray | Observations,
    obs_var: np.ndarray | None = None,
) -> ObservedPosterior:
    """Smoothed coordinates and their variances, straight from the smoother (see :func:`smooth`).

    What the ensemble smoothers report; cheaper than :func:`smooth` followed by
    ``diag(C Cov C^T)`` because no latent covariance is stored per frame: the backward pass
    reads the variances out as it goes. The frames-last layout makes each coordinate's
    trajectory one contiguous row.
    """
    precision = _Precision(model, _as_observations(obs, obs_var))
    c = precision.model.emission  # (S, O, D), in the basis the precision was built in
    # diag(C Cov C^T): coordinate o weighs the covariance with C[o] C[o]^T
    mean_obs, var_obs = precision.readout(c, c[:, :, :, None] * c[:, :, None, :])
    return ObservedPosterior(mean=mean_obs, var=var_obs)


def log_likelihood(
    model: RandomWalkModel,
    obs: np.ndarray | Observations,
    obs_var: np.ndarray | None = None,
) -> np.ndarray:
    """Log marginal likelihood ``log p(y)`` of each series (what the Kalman filter sums).

    Computed from one block factorisation and the posterior mean::

        -2 log p(y) = n log 2pi + log|R| + log|P0| + (T-1) log|Q| + log|H|
                      + (y - C m)' R^-1 (y - C m) + (m - mu)' Prior (m - mu)

    where ``m`` is the posterior mean and ``Prior`` the precision of the walk itself.

    Parameters
    ----------
    model : RandomWalkModel
    obs, obs_var
        As in :func:`smooth`; unobserved entries are left out of the likelihood. Pass an
        :class:`Observations` when evaluating many models on the same data.

    Returns
    -------
    ndarray, shape (S,)
    """
    data = _as_observations(obs, obs_var)
    n_frames = data.values.shape[1]
    precision = _Precision(model, data)
    model = precision.model  # whitened: the same likelihood, another latent basis
    n_series, d = model.emission.shape[::2]
    mean = np.swapaxes(precision.readout(np.tile(np.eye(d), (n_series, 1, 1)))[0], 1, 2)
    p0_inv = precision.p0_inv

    logdet_h = np.log(precision.pivot_det).sum(axis=1)
    _, logdet_p0 = np.linalg.slogdet(_floor_diag(model.prior_cov, MIN_PRIOR_VAR))
    _, logdet_q = np.linalg.slogdet(model.transition_cov)

    resid = data.values - _stacked_matmul(mean, np.swapaxes(model.emission, 1, 2))
    fit = (resid**2 * data.inv_var).sum(axis=(1, 2))
    dev0 = mean[:, 0] - model.prior_mean
    prior = np.einsum("sd,sde,se->s", dev0, p0_inv, dev0)
    if n_frames > 1:
        steps = np.diff(mean, axis=1)
        q_inv = np.linalg.inv(model.transition_cov)
        prior = prior + (_stacked_matmul(steps, q_inv) * steps).sum(axis=(1, 2))
    return -0.5 * (
        data.n_observed * np.log(2.0 * np.pi)
        + data.log_det_noise
        + logdet_p0
        + (n_frames - 1) * logdet_q
        + logdet_h
        + fit
        + prior
    )
