"""Random-walk Kalman smoothing as one banded linear solve, exact and O(frames).

Each series is a latent random walk observed through a fixed emission matrix::

    z_0 ~ N(mu, P0),   z_t = z_{t-1} + w_t,  w_t ~ N(0, Q),   y_t = C z_t + v_t,  v_t ~ N(0, R_t)

with a diagonal, time-varying ``R_t`` (an infinite entry means "not observed"). The joint
posterior of ``z_0..z_{T-1}`` is Gaussian with a block-tridiagonal precision ``H``; the
Rauch-Tung-Striebel smoother's means are ``H^-1 b`` and its variances are the diagonal blocks
of ``H^-1``. We compute both with LAPACK's banded Cholesky (all series stacked into one
band matrix, so one call serves every keypoint) and read the diagonal blocks of the inverse
from a forward and a backward factorisation: ``inv(Sigma_tt) = F_t + B_t - H_tt``, where
``F_t``/``B_t`` are the Schur-complement pivots from each end. No dense inverse, no loop
over frames in Python, and memory linear in frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.linalg import lapack

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


def _precision_blocks(
    model: RandomWalkModel, inv_var: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Diagonal blocks (S, T, D, D), the off-diagonal block (S, D, D) and the prior precision."""
    n_frames = inv_var.shape[1]
    q_inv = np.linalg.inv(model.transition_cov)
    p0_inv = np.linalg.inv(_floor_diag(model.prior_cov, MIN_PRIOR_VAR))
    n_series, _, d = model.emission.shape
    # C^T R_t^-1 C for every frame, (S, T, D, D), as one batched matrix product
    diag = (inv_var @ _outer_rows(model.emission)).reshape(n_series, n_frames, d, d)
    steps = np.full(n_frames, 2.0)  # each inner frame touches two steps of the walk
    steps[0] -= 1.0
    steps[-1] -= 1.0
    diag += steps[None, :, None, None] * q_inv[:, None]
    diag[:, 0] += p0_inv
    return diag, -q_inv, p0_inv


def _outer_rows(c: np.ndarray) -> np.ndarray:
    """``C[o, d] C[o, e]`` flattened over ``(d, e)``: (S, O, D*D)."""
    n_series, n_obs, d = c.shape
    return (c[:, :, :, None] * c[:, :, None, :]).reshape(n_series, n_obs, d * d)


def emission_variance(c: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Variance of each observed coordinate, ``diag(C cov C^T)``: (S, T, O).

    Parameters
    ----------
    c : ndarray, shape (S, O, D)
    cov : ndarray, shape (S, T, D, D)
    """
    n_series, n_frames, d, _ = cov.shape
    flat = cov.reshape(n_series, n_frames, d * d)
    return flat @ np.swapaxes(_outer_rows(c), 1, 2)


def _floor_diag(cov: np.ndarray, floor: float) -> np.ndarray:
    """Copy of ``cov`` (..., D, D) with its diagonal raised to at least ``floor``."""
    out = np.array(cov, dtype=float)
    idx = np.arange(out.shape[-1])
    out[..., idx, idx] = np.maximum(out[..., idx, idx], floor)
    return out


def _to_band(diag: np.ndarray, off: np.ndarray) -> np.ndarray:
    """LAPACK lower band storage of the stacked block-tridiagonal precision.

    Unknown ``(s, t, d)`` sits at row ``(s*T + t)*D + d``; series are uncoupled.

    Parameters
    ----------
    diag : ndarray, shape (S, T, D, D)
    off : ndarray, shape (S, D, D)
        ``H[t+1, t]``, the same for every frame of a series.

    Returns
    -------
    ndarray, shape (2D, S*T*D), Fortran order
        ``band[k, j] = H[j + k, j]``.
    """
    n_series, n_frames, d, _ = diag.shape
    # columns[s, t, j, k] = band[k, (s*T + t)*D + j]: k rows below the diagonal in column j
    columns = np.zeros((n_series, n_frames, d, 2 * d))
    for j in range(d):
        columns[:, :, j, : d - j] = diag[:, :, j:, j]
        columns[:, :-1, j, d - j : 2 * d - j] = off[:, None, :, j]  # none after a last frame
    return columns.reshape(-1, 2 * d).T


def _reversed_blocks(diag: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same precision with the order of all unknowns reversed (series, frames, latents).

    Returns the reversed matrix's diagonal blocks (S, T, D, D) and off-diagonal block (S, D, D).
    """
    rev_diag = diag[::-1, ::-1, ::-1, ::-1]
    # H'[t'+1, t'] = J H[t, t+1] J = J off^T J, with J the latent-order flip
    rev_off = np.swapaxes(off, 1, 2)[::-1, ::-1, ::-1]
    return rev_diag, rev_off


def _cholesky_band(band: np.ndarray) -> np.ndarray:
    """Banded Cholesky factor (LAPACK ``pbtrf``, lower storage), overwriting ``band``."""
    factor, info = lapack.dpbtrf(band, lower=1, overwrite_ab=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"posterior precision is not positive definite ({info})")
    return factor


def _pivot_blocks(factor: np.ndarray, d: int) -> np.ndarray:
    """The ``L_tt L_tt^T`` pivot blocks of a banded Cholesky factor, as (D, D, n_blocks)."""
    low = {(i, j): factor[i - j, j::d] for j in range(d) for i in range(j, d)}
    out = np.empty((d, d, factor.shape[1] // d))
    for i in range(d):
        for k in range(i + 1):
            out[i, k] = sum(low[i, j] * low[k, j] for j in range(k + 1))
            out[k, i] = out[i, k]
    return out


def _flat_tridiagonal(diag: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Main and sub-diagonal (length n, n-1) of the stacked precision when ``D == 1``."""
    n_series, n_frames = diag.shape[:2]
    sub = np.broadcast_to(off[:, :, 0], (n_series, n_frames)).copy()
    sub[:, -1] = 0.0
    return diag.ravel(), sub.ravel()[:-1]


def _tridiagonal_pivots(main: np.ndarray, sub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LAPACK ``pttrf``: pivots ``d`` and multipliers ``e`` of ``H = L diag(d) L^T``."""
    if main.size == 1:  # LAPACK's wrapper wants a non-empty sub-diagonal
        d, e, info = main.copy(), sub.copy(), 0 if main[0] > 0 else 1
    else:
        d, e, info = lapack.dpttrf(main, sub)
    if info != 0:
        raise np.linalg.LinAlgError(f"posterior precision is not positive definite ({info})")
    return d, e


def _small_spd_inverse(a: np.ndarray) -> np.ndarray:
    """Inverse of many small symmetric positive-definite matrices stored as (D, D, N).

    Cholesky and triangular inversion written as ``O(D^3)`` whole-array operations on
    contiguous rows, far faster than one LAPACK call per tiny matrix when ``N`` is large.
    """
    d = a.shape[0]
    low = np.empty_like(a)  # only the lower triangles are written and read
    for j in range(d):
        low[j, j] = np.sqrt(a[j, j] - sum(low[j, k] ** 2 for k in range(j)))
        for i in range(j + 1, d):
            low[i, j] = (a[i, j] - sum(low[i, k] * low[j, k] for k in range(j))) / low[j, j]
    inv_low = np.empty_like(a)
    for i in range(d):
        inv_low[i, i] = 1.0 / low[i, i]
        for j in range(i):
            acc = sum(low[i, k] * inv_low[k, j] for k in range(j, i))
            inv_low[i, j] = -acc / low[i, i]
    out = np.empty_like(a)  # a^-1 = L^-T L^-1
    for i in range(d):
        for k in range(i + 1):
            out[i, k] = sum(inv_low[j, i] * inv_low[j, k] for j in range(i, d))
            out[k, i] = out[i, k]
    return out


class _Precision:
    """The stacked block-tridiagonal posterior precision; factorised once, on demand."""

    def __init__(self, diag: np.ndarray, off: np.ndarray) -> None:
        self.diag = diag  # (S, T, D, D)
        self.off = off  # (S, D, D): H[t+1, t]
        self.n_series, self.n_frames, self.d, _ = diag.shape
        if self.d == 1:
            self.main, self.sub = _flat_tridiagonal(diag, off)
        else:
            self.band = _to_band(diag, off)
        self._forward: tuple[np.ndarray, np.ndarray] | np.ndarray | None = None

    def _forward_factor(self):
        """Forward factorisation, computed once: ``pttrf`` (d, e) or ``pbtrf`` factor."""
        if self._forward is None:
            if self.d == 1:
                self._forward = _tridiagonal_pivots(self.main, self.sub)
            else:
                self._forward = _cholesky_band(self.band)
        return self._forward

    def solve(self, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Solve ``H x = rhs`` (S, T, D); also return ``log|pivot|`` per block (S, T)."""
        s, t, d = self.n_series, self.n_frames, self.d
        if d == 1:
            piv, mult = self._forward_factor()
            if piv.size == 1:
                x, info = rhs.ravel() / piv, 0
            else:
                x, info = lapack.dpttrs(piv, mult, rhs.ravel())
            logdet = np.log(piv)
        else:
            factor = self._forward_factor()
            x, info = lapack.dpbtrs(factor, rhs.ravel(), lower=1)
            logdet = 2.0 * np.log(factor[0]).reshape(s * t, d).sum(axis=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"banded solve failed ({info})")
        return x.reshape(s, t, d), logdet.reshape(s, t)

    def marginal_covariances(self) -> np.ndarray:
        """Diagonal blocks of ``H^-1``, (S, T, D, D), from forward and backward pivots."""
        s, t, d = self.n_series, self.n_frames, self.d
        if d == 1:
            fwd, _ = self._forward_factor()
            bwd, _ = _tridiagonal_pivots(self.main[::-1].copy(), self.sub[::-1].copy())
            return (1.0 / (fwd + bwd[::-1] - self.main)).reshape(s, t, 1, 1)
        # (D, D, blocks) layout: every operation below runs over contiguous rows
        fwd = _pivot_blocks(self._forward_factor(), d)
        bwd_band = _to_band(*_reversed_blocks(self.diag, self.off))
        bwd = _pivot_blocks(_cholesky_band(bwd_band), d)[::-1, ::-1, ::-1]
        info = fwd + bwd - np.moveaxis(self.diag.reshape(s * t, d, d), 0, -1)
        return np.moveaxis(_small_spd_inverse(info), -1, 0).reshape(s, t, d, d)


def _information_vector(model: RandomWalkModel, data: Observations) -> np.ndarray:
    """``b`` with ``H mean = b``: shape (S, T, D)."""
    b = (data.inv_var * data.values) @ model.emission
    p0_inv = np.linalg.inv(_floor_diag(model.prior_cov, MIN_PRIOR_VAR))
    b[:, 0] += np.einsum("sde,se->sd", p0_inv, model.prior_mean)
    return b


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
    data = _as_observations(obs, obs_var)
    diag, off, _ = _precision_blocks(model, data.inv_var)
    precision = _Precision(diag, off)
    mean, _ = precision.solve(_information_vector(model, data))
    return LatentPosterior(mean=mean, cov=precision.marginal_covariances())


def log_likelihood(
    model: RandomWalkModel,
    obs: np.ndarray | Observations,
    obs_var: np.ndarray | None = None,
) -> np.ndarray:
    """Log marginal likelihood ``log p(y)`` of each series (what the Kalman filter sums).

    Computed from one banded factorisation::

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
    diag, off, p0_inv = _precision_blocks(model, data.inv_var)
    mean, logdet_blocks = _Precision(diag, off).solve(_information_vector(model, data))

    logdet_h = logdet_blocks.sum(axis=1)
    _, logdet_p0 = np.linalg.slogdet(_floor_diag(model.prior_cov, MIN_PRIOR_VAR))
    _, logdet_q = np.linalg.slogdet(model.transition_cov)

    resid = data.values - mean @ np.swapaxes(model.emission, 1, 2)
    fit = (resid**2 * data.inv_var).sum(axis=(1, 2))
    dev0 = mean[:, 0] - model.prior_mean
    prior = np.einsum("sd,sde,se->s", dev0, p0_inv, dev0)
    if n_frames > 1:
        steps = np.diff(mean, axis=1)
        q_inv = np.linalg.inv(model.transition_cov)
        prior = prior + ((steps @ q_inv) * steps).sum(axis=(1, 2))
    return -0.5 * (
        data.n_observed * np.log(2.0 * np.pi)
        + data.log_det_noise
        + logdet_p0
        + (n_frames - 1) * logdet_q
        + logdet_h
        + fit
        + prior
    )
