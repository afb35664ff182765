"""Choose the smoothing parameter by maximising the marginal likelihood of the observations.

The smoothing parameter ``s`` scales the random walk's step covariance: small ``s`` trusts
the dynamics (smooth), large ``s`` trusts the ensemble (follows it). As in the reference
``ensemble-kalman-smoother`` package, ``s`` is fitted per keypoint (per keypoint group in
multi-view) on the Kalman filter's log marginal likelihood, with the observation noise held
at its median over time, and searched over ``log s`` in ``[-8, 8]``. Where the reference runs
Adam on ``log s`` until the loss stops changing, we use Brent's bounded minimisation
(golden-section steps plus parabolic interpolation), which lands on the optimum of the same
objective in about a dozen likelihood evaluations. The searches of all keypoints run in
lockstep, so each step is one block-tridiagonal factorisation for every keypoint at once.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np

#: Search interval for ``log s`` (the reference package clips to the same bounds).
LOG_SMOOTHING_BOUNDS = (-8.0, 8.0)
#: Brent stops when ``log s`` is known to within this (0.5 % in ``s``).
LOG_SMOOTHING_TOL = 5e-3
#: The constant observation variance used during the search is floored at this (px^2).
MIN_SEARCH_VAR = 1e-4


@dataclass(frozen=True)
class SmoothingFit:
    """Result of the search for one keypoint (or keypoint group).

    Attributes
    ----------
    smoothing : float
        The maximum-likelihood smoothing parameter ``s``.
    log_likelihood : float
        Log marginal likelihood at ``s`` (with time-constant observation noise).
    n_evaluations : int
        How many likelihood evaluations (each one smoother factorisation) the search took.
    """

    smoothing: float
    log_likelihood: float
    n_evaluations: int


def constant_search_variance(obs_var: np.ndarray) -> np.ndarray:
    """Observation variance held constant over time for the search: the median over frames.

    Parameters
    ----------
    obs_var : ndarray, shape (S, T, O)
        Time-varying variances; NaN/inf entries (unobserved) are left out of the median.

    Returns
    -------
    ndarray, shape (S, T, O)
        The per-series, per-coordinate median broadcast over frames, floored at
        ``MIN_SEARCH_VAR``; unobserved entries stay ``inf``.
    """
    finite = np.where(np.isfinite(obs_var), obs_var, np.nan)
    with np.errstate(all="ignore"):
        med = np.nanmedian(finite, axis=1, keepdims=True)
    med = np.maximum(np.nan_to_num(med, nan=1.0), MIN_SEARCH_VAR)
    return np.where(np.isfinite(obs_var), med, np.inf)


#: Brent's golden-section fraction, (3 - sqrt 5) / 2.
_GOLDEN = 0.5 * (3.0 - np.sqrt(5.0))
_SQRT_EPS = float(np.sqrt(np.finfo(float).eps))


def _brent_minimise(
    lo: float, hi: float, xtol: float
) -> Generator[float, float, tuple[float, float]]:
    """Brent's bounded scalar minimisation as a coroutine: yields x, is sent f(x).

    Returns ``(x, f(x))`` at the minimum found to within ``xtol`` (via ``StopIteration``).
    """
    a, b = lo, hi
    x = w = v = a + _GOLDEN * (b - a)
    fx = yield x
    fw = fv = fx
    step = last_step = 0.0  # this and the previous step's length (d and e in Brent's text)
    while True:
        mid = 0.5 * (a + b)
        tol = _SQRT_EPS * abs(x) + xtol / 3.0
        if abs(x - mid) <= 2.0 * tol - 0.5 * (b - a):
            return x, fx
        golden = True
        if abs(last_step) > tol:
            # vertex of the parabola through (x, fx), (w, fw), (v, fv), relative to x
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2.0 * (q - r)
            if q > 0:
                p = -p
            q = abs(q)
            previous, last_step = last_step, step
            if abs(p) < abs(0.5 * q * previous) and q * (a - x) < p < q * (b - x):
                step = p / q
                golden = False
                if (x + step - a) < 2.0 * tol or (b - x - step) < 2.0 * tol:
                    step = tol if x < mid else -tol
        if golden:
            last_step = (b - x) if x < mid else (a - x)
            step = _GOLDEN * last_step
        u = x + (step if abs(step) >= tol else np.copysign(tol, step))
        fu = yield u
        if fu <= fx:
            if u < x:
                b = x
            else:
                a = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v in (x, w):
                v, fv = u, fu


def fit_smoothing_many(
    log_likelihood: Callable[[np.ndarray], np.ndarray], n: int
) -> list[SmoothingFit]:
    """Maximise ``n`` independent likelihoods of ``s`` at once, by Brent search on ``log s``.

    Parameters
    ----------
    log_likelihood : callable
        ``s (n,) -> log p(observations_i | s_i)`` for all ``n`` keypoints (or groups) in one
        call.
    n : int
        Number of keypoints (or groups).

    Returns
    -------
    list of SmoothingFit
    """
    lo, hi = LOG_SMOOTHING_BOUNDS
    searches = [_brent_minimise(lo, hi, LOG_SMOOTHING_TOL) for _ in range(n)]
    log_s = np.array([next(search) for search in searches])
    results: list[tuple[float, float] | None] = [None] * n
    calls = np.zeros(n, dtype=int)
    while any(r is None for r in results):
        values = np.asarray(log_likelihood(np.exp(log_s)), dtype=float)
        for i, search in enumerate(searches):
            if results[i] is not None:
                continue
            calls[i] += 1
            cost = -values[i] if np.isfinite(values[i]) else 1e300
            try:
                log_s[i] = search.send(cost)
            except StopIteration as stop:
                results[i] = stop.value
    return [
        SmoothingFit(float(np.exp(x)), float(-f), int(c))
        for (x, f), c in zip(results, calls, strict=True)  # type: ignore[misc]
    ]


def fit_smoothing(log_likelihood: Callable[[float], float]) -> SmoothingFit:
    """Maximise one ``log_likelihood(s)`` over ``s`` (see :func:`fit_smoothing_many`)."""
    return fit_smoothing_many(lambda s: np.array([log_likelihood(float(s[0]))]), 1)[0]
