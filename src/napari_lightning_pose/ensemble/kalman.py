"""Random-walk Kalman smoothing as one block-tridiagonal solve, exact and O(frames).

Each series is a latent random walk observed through a fixed emission matrix::

    z_0 ~ N(mu, P0),   z_t = z_{t-1} + w_t,  w_t ~ N(0, Q),   y_t = C z_t + v_t,  v_t ~ N(0, R_t)

with a diagonal, time-varying ``R_t`` (an infinite entry means "not observed"). The joint
posterior of ``z_0..z_{T-1}`` is Gaussian with a block-tridiagonal precision ``H``; the
Rauch-Tung-Striebel smoother's means are ``H^-1 b`` and its variances are the diagonal blocks
of ``H^-1``. The latent is first whitened so the walk steps with unit covariance; the
off-diagonal blocks of ``H`` are then ``-I`` and two compiled (numba) passes over the
frames of every series give everything:

- forward: the block factorisation ``H = L diag(P_t) L^T`` with pivots
  ``P_t = H_tt - P_{t-1}^-1`` (their log-determinants sum to ``log|H|``) and the forward solve
  ``w_t = b_t + P_{t-1}^-1 w_{t-1}``;
- backward: the mean ``x_t = P_t^-1 (w_t + x_{t+1})`` and the marginal covariances by
  selected inversion, ``Sigma_t = P_t^-1 + P_t^-1 Sigma_{t+1} P_t^-1`` (positive terms only:
  no cancellation), of which only the wanted linear read-outs are stored.

One factorisation, no dense inverse, memory linear in frames. ``D == 1`` (single view) is
the same code with 1x1 blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numba import njit

#: Observation variances are clipped to at least this (the reference package does the same).
MIN_OBS_VAR = 1e-12
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


@njit(cache=True)
def _forward_pass(
    emission: np.ndarray,
    inv_var: np.ndarray,
    weighted: np.ndarray,
    p0_inv: np.ndarray,
    prior_info: np.ndarray,
    pivot_inv: np.ndarray,
    carry: np.ndarray,
    pivot_det: np.ndarray,
    dim: tuple[float, ...],
) -> int:  # pragma: no cover - compiled; coverage cannot see inside
    """Block factorisation ``H = L diag(P_t) L^T`` and forward solve of a whitened model.

    With unit steps the sub-diagonal blocks of ``H`` are ``-I``, so the pivots obey
    ``P_t = H_tt - P_{t-1}^-1`` and the forward solve ``w_t = b_t + P_{t-1}^-1 w_{t-1}``,
    where ``H_tt = C^T R_t^-1 C + (steps touching t) I`` (plus ``P0^-1`` at the first frame)
    and ``b_t = C^T R_t^-1 y_t`` (plus ``P0^-1 mu``). Each pivot is inverted through its
    ``LDL^T`` factorisation (no square roots; ``1/p`` when ``D == 1``). The kernels are
    compiled once per latent dimension: ``dim`` is a tuple of ``D`` zeros, so ``D`` is part
    of the argument types and the small loops over it are unrolled.

    Parameters
    ----------
    emission : (S, O, D)
    inv_var, weighted : (S, T, O)
        ``R_t^-1`` and ``R_t^-1 y_t`` (0 where unobserved).
    p0_inv : (S, D, D)
    prior_info : (S, D)
        ``P0^-1 mu``.
    pivot_inv : (S, T, D, D), out
        ``P_t^-1``.
    carry : (S, T, D), out
        ``w_t``.
    pivot_det : (S, T), out
        ``|P_t|``; the sum of their logs is ``log|H|``.
    dim : tuple of D floats
        Only its length matters (see above).

    Returns
    -------
    int
        0, or ``1 + s*T + t`` of a pivot that is not positive definite.
    """
    n_series, n_frames, n_obs = inv_var.shape
    d = len(dim)
    block = np.empty((d, d))  # P_t, lower triangle; then its unit-lower LDL^T factor
    unit_inv = np.empty((d, d))  # inverse of that unit-lower factor
    diag_inv = np.empty(d)
    rhs = np.empty(d)
    for s in range(n_series):
        for t in range(n_frames):
            steps = float((t > 0) + (t < n_frames - 1))
            for i in range(d):
                acc = 0.0
                for o in range(n_obs):
                    acc += emission[s, o, i] * weighted[s, t, o]
                rhs[i] = acc
                for j in range(i + 1):
                    acc = 0.0
                    for o in range(n_obs):
                        acc += inv_var[s, t, o] * emission[s, o, i] * emission[s, o, j]
                    block[i, j] = acc
                block[i, i] += steps
            if t == 0:
                for i in range(d):
                    rhs[i] += prior_info[s, i]
                    for j in range(i + 1):
                        block[i, j] += p0_inv[s, i, j]
            else:
                for i in range(d):
                    acc = 0.0
                    for j in range(d):
                        acc += pivot_inv[s, t - 1, i, j] * carry[s, t - 1, j]
                    rhs[i] += acc
                    for j in range(i + 1):
                        block[i, j] -= pivot_inv[s, t - 1, i, j]
            # LDL^T of the pivot, in place: block[j, j] = D_j, block[i, j] = L_ij (i > j)
            det = 1.0
            for j in range(d):
                for k in range(j):
                    block[j, j] -= block[j, k] * block[j, k] * block[k, k]
                if not block[j, j] > 0.0:
                    return 1 + s * n_frames + t
                det *= block[j, j]
                diag_inv[j] = 1.0 / block[j, j]
                for i in range(j + 1, d):
                    for k in range(j):
                        block[i, j] -= block[i, k] * block[j, k] * block[k, k]
                    block[i, j] *= diag_inv[j]
            pivot_det[s, t] = det
            for i in range(d):  # the unit-lower factor's inverse
                unit_inv[i, i] = 1.0
                for j in range(i):
                    acc = 0.0
                    for k in range(j, i):
                        acc += block[i, k] * unit_inv[k, j]
                    unit_inv[i, j] = -acc
            for i in range(d):  # P^-1 = L^-T D^-1 L^-1
                for j in range(i + 1):
                    acc = 0.0
                    for k in range(i, d):
                        acc += unit_inv[k, i] * unit_inv[k, j] * diag_inv[k]
                    pivot_inv[s, t, i, j] = acc
                    pivot_inv[s, t, j, i] = acc
            for i in range(d):
                carry[s, t, i] = rhs[i]
    return 0


@njit(cache=True)
def _backward_pass(
    pivot_inv: np.ndarray,
    carry: np.ndarray,
    mean_map: np.ndarray,
    cov_map: np.ndarray,
    mean_out: np.ndarray,
    cov_out: np.ndarray,
    dim: tuple[float, ...],
) -> None:  # pragma: no cover - compiled; coverage cannot see inside
    """Posterior means and covariances in one backward pass, read out frame by frame.

    Back substitution ``x_t = P_t^-1 (w_t + x_{t+1})`` and selected inversion
    ``Sigma_t = P_t^-1 + P_t^-1 Sigma_{t+1} P_t^-1`` (a sum of positive semi-definite terms:
    no cancellation). Only linear read-outs are stored, so no (S, T, D, D) array is written.

    Parameters
    ----------
    pivot_inv, carry, dim
        From :func:`_forward_pass`.
    mean_map : (S, R, D)
        ``mean_out[s, r, t] = mean_map[s, r] . x_t``.
    cov_map : (S, Q, D, D)
        ``cov_out[s, q, t] = sum_ij cov_map[s, q, i, j] Sigma_t[i, j]``; ``Q == 0`` skips the
        covariances.
    mean_out : (S, R, T), out
    cov_out : (S, Q, T), out
    """
    n_series, n_frames = carry.shape[:2]
    d = len(dim)
    x = np.zeros(d)  # x_{t+1}, then x_t
    sigma = np.empty((d, d))  # Sigma_{t+1}, then Sigma_t
    tmp = np.empty((d, d))
    rhs = np.empty(d)
    for s in range(n_series):
        x[:] = 0.0
        sigma[:] = 0.0
        for t in range(n_frames - 1, -1, -1):
            for i in range(d):
                rhs[i] = carry[s, t, i] + x[i]
            for i in range(d):
                acc = 0.0
                for j in range(d):
                    acc += pivot_inv[s, t, i, j] * rhs[j]
                x[i] = acc
            for r in range(mean_map.shape[1]):
                acc = 0.0
                for i in range(d):
                    acc += mean_map[s, r, i] * x[i]
                mean_out[s, r, t] = acc
            if cov_map.shape[1] == 0:
                continue
            for i in range(d):  # tmp = Sigma_{t+1} P_t^-1
                for j in range(d):
                    acc = 0.0
                    for k in range(d):
                        acc += sigma[i, k] * pivot_inv[s, t, k, j]
                    tmp[i, j] = acc
            for i in range(d):
                for j in range(i + 1):
                    acc = pivot_inv[s, t, i, j]
                    for k in range(d):
                        acc += pivot_inv[s, t, i, k] * tmp[k, j]
                    sigma[i, j] = acc
                    sigma[j, i] = acc
            for q in range(cov_map.shape[1]):
                acc = 0.0
                for i in range(d):
                    for j in range(d):
                        acc += cov_map[s, q, i, j] * sigma[i, j]
                cov_out[s, q, t] = acc


@njit(cache=True)
def _forward_scalar(
    emission: np.ndarray,
    inv_var: np.ndarray,
    weighted: np.ndarray,
    p0_inv: np.ndarray,
    prior_info: np.ndarray,
    pivot_inv: np.ndarray,
    carry: np.ndarray,
    pivot_det: np.ndarray,
) -> int:  # pragma: no cover - compiled; coverage cannot see inside
    """:func:`_forward_pass` for one latent observed once per frame (``D == O == 1``).

    The same recurrences with scalars, no per-frame block arrays (single-view EKS: ~3x
    faster than the general kernel). Arguments as there.
    """
    n_series, n_frames = inv_var.shape[:2]
    for s in range(n_series):
        c = emission[s, 0, 0]
        prev_inv = 0.0
        prev_carry = 0.0
        for t in range(n_frames):
            steps = float((t > 0) + (t < n_frames - 1))
            block = inv_var[s, t, 0] * c * c + steps
            rhs = c * weighted[s, t, 0]
            if t == 0:
                block += p0_inv[s, 0, 0]
                rhs += prior_info[s, 0]
            else:
                block -= prev_inv
                rhs += prev_inv * prev_carry
            if not block > 0.0:
                return 1 + s * n_frames + t
            prev_inv = 1.0 / block
            prev_carry = rhs
            pivot_det[s, t] = block
            pivot_inv[s, t, 0, 0] = prev_inv
            carry[s, t, 0] = rhs
    return 0


@njit(cache=True)
def _backward_scalar(
    pivot_inv: np.ndarray,
    carry: np.ndarray,
    mean_map: np.ndarray,
    cov_map: np.ndarray,
    mean_out: np.ndarray,
    cov_out: np.ndarray,
) -> None:  # pragma: no cover - compiled; coverage cannot see inside
    """:func:`_backward_pass` for ``D == 1`` (scalars throughout). Arguments as there."""
    n_series, n_frames = carry.shape[:2]
    n_mean, n_cov = mean_map.shape[1], cov_map.shape[1]
    for s in range(n_series):
        x = 0.0
        sigma = 0.0
        for t in range(n_frames - 1, -1, -1):
            p = pivot_inv[s, t, 0, 0]
            x = p * (carry[s, t, 0] + x)
            for r in range(n_mean):
                mean_out[s, r, t] = mean_map[s, r, 0] * x
            if n_cov == 0:
                continue
            sigma = p + p * sigma * p
            for q in range(n_cov):
                cov_out[s, q, t] = cov_map[s, q, 0, 0] * sigma


class _Precision:
    """The stacked posterior precision ``H`` of a model on some data, factorised once.

    The model is whitened first (:func:`_whiten`; :attr:`model` is the whitened model), so
    ``H`` is block tridiagonal with ``-I`` off the diagonal. :func:`_forward_pass` factorises
    it and runs the forward solve; :meth:`readout` is one more compiled pass over frames.
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
        info = _forward_scalar(*args) if self.scalar else _forward_pass(*args, self.dim)
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
            _backward_scalar(*args)
        else:
            _backward_pass(*args, self.dim)
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
