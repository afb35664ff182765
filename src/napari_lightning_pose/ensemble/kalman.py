"""Random-walk Kalman smoothing as one banded linear solve, exact and O(frames).

Each series is a latent random walk observed through a fixed emission matrix::

    z_0 ~ N(mu, P0),   z_t = z_{t-1} + w_t,  w_t ~ N(0, Q),   y_t = C z_t + v_t,  v_t ~ N(0, R_t)

with a diagonal, time-varying ``R_t`` (an infinite entry means "not observed"). The joint
posterior of ``z_0..z_{T-1}`` is Gaussian with a block-tridiagonal precision ``H``; the
Rauch-Tung-Striebel smoother's means are ``H^-1 b`` and its variances are the diagonal blocks
of ``H^-1``. All series are stacked into one matrix, so one LAPACK call serves every keypoint:

- ``D == 1`` (single view): ``H`` is tridiagonal. ``pttrf``/``pttrs`` factorise and solve
  it; the variances follow from the factorisation ``H = L diag(d) L^T`` by the backward
  recurrence ``Sigma_tt = 1/d_t + l_t^2 Sigma_{t+1,t+1}``, itself one bidiagonal solve
  (BLAS ``tbsv``).
- ``D > 1`` (multi-view): the latent is first whitened so the walk steps with unit
  covariance; ``H`` is then banded with ``D`` sub-diagonals (banded Cholesky ``pbtrf``,
  ``pbtrs``), and the diagonal blocks of the inverse come from a forward and a backward
  factorisation, ``inv(Sigma_tt) = F_t + B_t - H_tt``.

No dense inverse, no loop over frames in Python, and memory linear in frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.linalg import blas, lapack

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


def _walk_steps(n_frames: int) -> np.ndarray:
    """How many steps of the walk touch each frame, (T,): 2 inside, 1 at either end."""
    steps = np.full(n_frames, 2.0)
    steps[0] -= 1.0
    steps[-1] -= 1.0
    return steps


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


def _whiten(model: RandomWalkModel) -> tuple[RandomWalkModel, np.ndarray]:
    """The same model in latents ``u = L^-1 z`` that step with unit covariance (``Q = L L^T``).

    The precision's off-diagonal blocks become ``-I``, so its band is ``D`` wide instead of
    ``2D - 1`` (a cheaper factorisation); ``log p(y)`` does not depend on the latent's basis.

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


def _unit_step_band(
    model: RandomWalkModel, inv_var: np.ndarray, reverse: bool = False
) -> np.ndarray:
    """LAPACK lower band storage of a whitened model's stacked posterior precision.

    With unit steps (:func:`_whiten`) the off-diagonal blocks are ``-I``, so the band has
    ``D`` sub-diagonals. Unknown ``(s, t, d)`` sits at row ``(s*T + t)*D + d``; series are
    uncoupled.

    Parameters
    ----------
    model : RandomWalkModel
        Whitened: ``transition_cov`` is the identity.
    inv_var : ndarray, shape (S, T, O)
        Inverse observation variances, 0 where unobserved.
    reverse : bool
        Build the same matrix with the order of all unknowns (series, frames, latents)
        reversed, for the backward factorisation.

    Returns
    -------
    ndarray, shape (D + 1, S*T*D), Fortran order
        ``band[k, j] = H[j + k, j]``.
    """
    n_series, n_frames = inv_var.shape[:2]
    c, d = model.emission, model.n_latent
    p0_inv = np.linalg.inv(_floor_diag(model.prior_cov, MIN_PRIOR_VAR))
    if reverse:
        c, inv_var, p0_inv = c[::-1, :, ::-1], inv_var[::-1, ::-1], p0_inv[::-1, ::-1, ::-1]
    # products[s, o, j, k] = C[o, j + k] C[o, j]: column j of a block, k rows below the diagonal
    products = np.zeros((n_series, c.shape[1], d, d + 1))
    for j in range(d):
        products[:, :, j, : d - j] = c[:, :, j:] * c[:, :, j : j + 1]
    # columns[s, t, j, k] = band[k, (s*T + t)*D + j]: C^T R_t^-1 C of every frame, one product
    columns = (inv_var @ products.reshape(n_series, c.shape[1], -1)).reshape(
        n_series, n_frames, d, d + 1
    )
    columns[..., 0] += _walk_steps(n_frames)[:, None]  # Q^-1 = I per step touching the frame
    first = -1 if reverse else 0
    for j in range(d):
        columns[:, first, j, : d - j] += p0_inv[:, j:, j]
    columns[:, :-1, :, d] = -1.0  # the same latent one frame later; none after a last frame
    return columns.reshape(-1, d + 1).T


def _cholesky_band(band: np.ndarray) -> np.ndarray:
    """Banded Cholesky factor (LAPACK ``pbtrf``, lower storage), overwriting ``band``."""
    factor, info = lapack.dpbtrf(band, lower=1, overwrite_ab=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"posterior precision is not positive definite ({info})")
    return factor


def _factor_columns(factor: np.ndarray, d: int) -> np.ndarray:
    """A band factor's columns regrouped per block: a (D, D + 1, n_blocks) view.

    ``out[j, k, b] = factor[k, b*D + j]``: the entry ``k`` rows below the diagonal in
    column ``j`` of block ``b``.
    """
    return factor.T.reshape(-1, d, d + 1).transpose(1, 2, 0)


def _pivot_blocks(columns: np.ndarray) -> np.ndarray:
    """``L_bb L_bb^T`` of every diagonal block of a unit-step band factor, (D, D, n_blocks)."""
    d = columns.shape[0]
    out = np.empty((d, d, columns.shape[2]))
    for i in range(d):
        for k in range(i + 1):  # L_bb[i, j] = columns[j, i - j] for j <= i
            out[i, k] = sum(columns[j, i - j] * columns[j, k - j] for j in range(k + 1))
            out[k, i] = out[i, k]
    return out


def _coupling_blocks(columns: np.ndarray) -> np.ndarray:
    """``L_{b+1,b} L_{b+1,b}^T`` of every sub-diagonal block, (D, D, n_blocks).

    What block ``b`` passes on to the next block's pivot: ``H_{b+1} = L_{b+1,b+1} L^T + this``.
    Zero after the last frame of a series (the band holds no coupling there).
    """
    d = columns.shape[0]
    out = np.empty((d, d, columns.shape[2]))
    for i in range(d):
        for k in range(i + 1):  # L_{b+1,b}[i, j] = columns[j, D + i - j] for j >= i
            out[i, k] = sum(columns[j, d + i - j] * columns[j, d + k - j] for j in range(i, d))
            out[k, i] = out[i, k]
    return out


def _scalar_tridiagonal(model: RandomWalkModel, inv_var: np.ndarray) -> tuple[np.ndarray, ...]:
    """Main and sub-diagonal (length n, n-1) of the stacked precision when ``D == 1``."""
    n_series, n_frames = inv_var.shape[:2]
    c2 = np.square(model.emission[:, :, 0])  # (S, O)
    q_inv = 1.0 / model.transition_cov[:, 0, 0]
    p0_inv = 1.0 / np.maximum(model.prior_cov[:, 0, 0], MIN_PRIOR_VAR)
    main = inv_var[..., 0] * c2[:, :1] if c2.shape[1] == 1 else inv_var @ c2[..., None]
    main = main.reshape(n_series, n_frames) + _walk_steps(n_frames) * q_inv[:, None]
    main[:, 0] += p0_inv
    sub = np.repeat(-q_inv, n_frames).reshape(n_series, n_frames)
    sub[:, -1] = 0.0  # the last frame of a series is not coupled to the next series
    return main.ravel(), sub.ravel()[:-1]


def _tridiagonal_pivots(main: np.ndarray, sub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LAPACK ``pttrf``: pivots ``d`` and multipliers ``e`` of ``H = L diag(d) L^T``."""
    if main.size == 1:  # LAPACK's wrapper wants a non-empty sub-diagonal
        d, e, info = main.copy(), sub.copy(), 0 if main[0] > 0 else 1
    else:
        d, e, info = lapack.dpttrf(main, sub)
    if info != 0:
        raise np.linalg.LinAlgError(f"posterior precision is not positive definite ({info})")
    return d, e


def _tridiagonal_inverse_diagonal(pivots: np.ndarray, mult: np.ndarray) -> np.ndarray:
    """Diagonal of ``H^-1`` from ``H = L diag(d) L^T`` (unit lower bidiagonal ``L``), (n,).

    ``Sigma_tt = 1/d_t + e_t^2 Sigma_{t+1,t+1}``: a backward first-order recurrence, run in
    C as one unit upper-bidiagonal solve (BLAS ``tbsv``). All terms are positive, so there is
    no cancellation.
    """
    n = pivots.size
    upper = np.zeros((n, 2))  # transposed below: (2, n) Fortran band, row 0 the superdiagonal
    upper[1:, 0] = -np.square(mult)
    return blas.dtbsv(1, upper.T, 1.0 / pivots, lower=0, diag=1, overwrite_x=1)


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


#: Blocks per chunk of the element-wise variance computations.
_CHUNK_BLOCKS = 8192


class _Precision:
    """The stacked posterior precision ``H`` of a model on some data, factorised once.

    ``D == 1``: a tridiagonal matrix (LAPACK ``pttrf``). ``D > 1``: the model is whitened
    first (:func:`_whiten`), so ``H`` is banded with ``D`` sub-diagonals (LAPACK ``pbtrf``);
    :attr:`model` is the model ``H`` belongs to.
    """

    def __init__(self, model: RandomWalkModel, inv_var: np.ndarray) -> None:
        self.n_series, self.n_frames = inv_var.shape[:2]
        self.d = model.n_latent
        self.chol: np.ndarray | None = None
        if self.d == 1:
            self.model = model
            self.pivots, self.mult = _tridiagonal_pivots(*_scalar_tridiagonal(model, inv_var))
        else:
            self.model, self.chol = _whiten(model)
            self.inv_var = inv_var
            self.factor = _cholesky_band(_unit_step_band(self.model, inv_var))

    def solve(self, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Solve ``H x = rhs`` (S, T, D); also return ``log|pivot|`` per block (S, T)."""
        s, t, d = self.n_series, self.n_frames, self.d
        if d == 1:
            if self.pivots.size == 1:
                x, info = rhs.ravel() / self.pivots, 0
            else:
                x, info = lapack.dpttrs(self.pivots, self.mult, rhs.ravel())
            logdet = np.log(self.pivots)
        else:
            x, info = lapack.dpbtrs(self.factor, rhs.ravel(), lower=1)
            logdet = 2.0 * np.log(self.factor[0]).reshape(s * t, d).sum(axis=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"banded solve failed ({info})")
        return x.reshape(s, t, d), logdet.reshape(s, t)

    def marginal_covariances(self) -> np.ndarray:
        """Diagonal blocks of ``H^-1`` as (D, D, S*T), in :attr:`model`'s latent basis.

        ``D == 1``: the backward recurrence on the factorisation. ``D > 1``: from a forward
        and a backward factorisation, ``inv(Sigma_tt) = F_t + B_t - H_tt``, where ``F_t``,
        ``B_t`` are the pivots from either end and ``H_tt - F_t`` is what the forward factor
        carries over from frame ``t - 1``.
        """
        if self.d == 1:
            return _tridiagonal_inverse_diagonal(self.pivots, self.mult)[None, None]
        # inv(Sigma_tt) = F_t + B_t - H_tt = B_t - (what the forward factor carries over
        # from frame t-1); B_t from the factorisation of the reversed matrix
        d = self.d
        fwd = _factor_columns(self.factor, d)
        rev = _cholesky_band(_unit_step_band(self.model, self.inv_var, reverse=True))
        bwd = _factor_columns(rev, d)[:, :, ::-1]
        n_blocks = fwd.shape[2]
        out = np.empty((d, d, n_blocks))
        for start in range(0, n_blocks, _CHUNK_BLOCKS):  # cache-sized pieces: ~2x faster
            stop = min(start + _CHUNK_BLOCKS, n_blocks)
            info = _pivot_blocks(bwd[..., start:stop])[::-1, ::-1]
            before = max(start - 1, 0)
            info[..., before + 1 - start :] -= _coupling_blocks(fwd[..., before : stop - 1])
            out[..., start:stop] = _small_spd_inverse(info)
        return out


def _stacked_matmul(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``x @ m`` for (S, T, A) and (S, A, B); element-wise when ``A == B == 1`` (faster)."""
    if m.shape[1:] == (1, 1):
        return x * m
    return x @ m


def _information_vector(model: RandomWalkModel, data: Observations) -> np.ndarray:
    """``b`` with ``H mean = b``: shape (S, T, D)."""
    b = _stacked_matmul(data.weighted, model.emission)
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
    precision = _Precision(model, data.inv_var)
    mean, _ = precision.solve(_information_vector(precision.model, data))
    s, t, d = mean.shape
    cov = np.moveaxis(precision.marginal_covariances(), -1, 0).reshape(s, t, d, d)
    if precision.chol is not None:  # back from the whitened latent: z = L u
        chol = precision.chol[:, None]
        mean = (chol @ mean[..., None])[..., 0]
        cov = chol @ cov @ np.swapaxes(chol, -1, -2)
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
    :func:`emission_variance` because no latent covariance is transformed or stored per frame
    beyond the ``D x D`` blocks. The frames-last layout makes each coordinate's trajectory
    one contiguous row.
    """
    data = _as_observations(obs, obs_var)
    precision = _Precision(model, data.inv_var)
    c = precision.model.emission  # (S, O, D), in the basis the precision was built in
    mean, _ = precision.solve(_information_vector(precision.model, data))  # (S, T, D)
    cov = precision.marginal_covariances()  # (D, D, S*T)
    s, t, d = mean.shape
    if d == 1:  # element-wise: C is a column
        mean_obs = c * mean.reshape(s, 1, t)
        var_obs = np.square(c) * cov.reshape(s, 1, t)
    else:
        mean_obs = c @ np.swapaxes(mean, 1, 2)
        # diag(C cov C^T) per frame: (S, O, D*D) @ (S, D*D, T)
        var_obs = _outer_rows(c) @ np.swapaxes(cov.reshape(d * d, s, t), 0, 1)
    return ObservedPosterior(mean=mean_obs, var=var_obs)


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
    precision = _Precision(model, data.inv_var)
    model = precision.model  # whitened when D > 1: the same likelihood, another latent basis
    mean, logdet_blocks = precision.solve(_information_vector(model, data))
    p0_inv = np.linalg.inv(_floor_diag(model.prior_cov, MIN_PRIOR_VAR))

    logdet_h = logdet_blocks.sum(axis=1)
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
