"""The compiled (numba) passes over frames behind :mod:`.kalman`'s smoother and likelihood.

They work on the whitened model (:func:`.kalman._whiten`): the latent steps with unit
covariance, so the posterior precision ``H`` is block tridiagonal with ``-I`` off the diagonal
and two passes over the frames of every series give everything:

- forward: the block factorisation ``H = L diag(P_t) L^T`` with pivots
  ``P_t = H_tt - P_{t-1}^-1`` (their log-determinants sum to ``log|H|``) and the forward solve
  ``w_t = b_t + P_{t-1}^-1 w_{t-1}``;
- backward: the mean ``x_t = P_t^-1 (w_t + x_{t+1})`` and the marginal covariances by selected
  inversion, ``Sigma_t = P_t^-1 + P_t^-1 Sigma_{t+1} P_t^-1`` (positive terms only: no
  cancellation), of which only the wanted linear read-outs are stored.

:func:`forward_pass` and :func:`backward_pass` take any latent dimension ``D`` (blocks of
``D x D``); :func:`forward_info` is the forward pass for an emission that changes per frame (the
calibrated 3-D smoother's linearised projections), given the observations' information;
:func:`forward_scalar` and :func:`backward_scalar` are the same recurrences with scalars for
one latent observed once per frame (single-view EKS, the hot loop). All of them write into
arrays the caller allocates.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _invert_pivot(
    block: np.ndarray,
    unit_inv: np.ndarray,
    diag_inv: np.ndarray,
    out: np.ndarray,
    s: int,
    t: int,
    d: int,
) -> float:  # pragma: no cover - compiled; coverage cannot see inside
    """Invert the pivot ``P`` (lower triangle of ``block``) through ``P = L D L^T``, no roots.

    ``block`` is overwritten by the factor (``D_j`` on the diagonal, ``L_ij`` below it), the
    inverse goes to ``out[s, t]`` (both triangles; indices, not a view, keep the loop lean).
    Returns ``|P|``, or 0 when ``P`` is not
    positive definite (``out[s, t]`` is then incomplete).
    """
    det = 1.0
    for j in range(d):
        for k in range(j):
            block[j, j] -= block[j, k] * block[j, k] * block[k, k]
        if not block[j, j] > 0.0:
            return 0.0
        det *= block[j, j]
        diag_inv[j] = 1.0 / block[j, j]
        for i in range(j + 1, d):
            for k in range(j):
                block[i, j] -= block[i, k] * block[j, k] * block[k, k]
            block[i, j] *= diag_inv[j]
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
            out[s, t, i, j] = acc
            out[s, t, j, i] = acc
    return det


@njit(cache=True)
def forward_pass(
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
            det = _invert_pivot(block, unit_inv, diag_inv, pivot_inv, s, t, d)
            if not det > 0.0:
                return 1 + s * n_frames + t
            pivot_det[s, t] = det
            for i in range(d):
                carry[s, t, i] = rhs[i]
    return 0


@njit(cache=True)
def forward_info(
    info_block: np.ndarray,
    info_vec: np.ndarray,
    p0_inv: np.ndarray,
    prior_info: np.ndarray,
    pivot_inv: np.ndarray,
    carry: np.ndarray,
    pivot_det: np.ndarray,
    dim: tuple[float, ...],
) -> int:  # pragma: no cover - compiled; coverage cannot see inside
    """:func:`forward_pass` with the observations' information given per frame.

    For an emission that changes from frame to frame (a linearised camera projection):
    ``info_block[s, t] = C_t^T R_t^-1 C_t`` and ``info_vec[s, t] = C_t^T R_t^-1 y_t``, in the
    whitened latent. Other arguments and the return value as in :func:`forward_pass`.
    """
    n_series, n_frames = info_vec.shape[:2]
    d = len(dim)
    block = np.empty((d, d))
    unit_inv = np.empty((d, d))
    diag_inv = np.empty(d)
    rhs = np.empty(d)
    for s in range(n_series):
        for t in range(n_frames):
            steps = float((t > 0) + (t < n_frames - 1))
            for i in range(d):
                rhs[i] = info_vec[s, t, i]
                for j in range(i + 1):
                    block[i, j] = info_block[s, t, i, j]
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
            det = _invert_pivot(block, unit_inv, diag_inv, pivot_inv, s, t, d)
            if not det > 0.0:
                return 1 + s * n_frames + t
            pivot_det[s, t] = det
            for i in range(d):
                carry[s, t, i] = rhs[i]
    return 0


@njit(cache=True)
def backward_pass(
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
        From :func:`forward_pass`.
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
def forward_scalar(
    emission: np.ndarray,
    inv_var: np.ndarray,
    weighted: np.ndarray,
    p0_inv: np.ndarray,
    prior_info: np.ndarray,
    pivot_inv: np.ndarray,
    carry: np.ndarray,
    pivot_det: np.ndarray,
) -> int:  # pragma: no cover - compiled; coverage cannot see inside
    """:func:`forward_pass` for one latent observed once per frame (``D == O == 1``).

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
def backward_scalar(
    pivot_inv: np.ndarray,
    carry: np.ndarray,
    mean_map: np.ndarray,
    cov_map: np.ndarray,
    mean_out: np.ndarray,
    cov_out: np.ndarray,
) -> None:  # pragma: no cover - compiled; coverage cannot see inside
    """:func:`backward_pass` for ``D == 1`` (scalars throughout). Arguments as there."""
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
