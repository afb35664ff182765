"""The banded smoother must be exactly the Kalman filter + RTS smoother, only faster."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from napari_lightning_pose.ensemble import kalman


def loop_kalman_rts(c, q, mu, p0, y, r):
    """Textbook Kalman filter + Rauch-Tung-Striebel smoother, one frame at a time.

    Returns smoothed means (T, D), covariances (T, D, D) and the filter's log-likelihood.
    Entries of ``y``/``r`` that are NaN/inf are not observed.
    """
    n_frames = y.shape[0]
    m, p = mu.copy(), p0.copy()
    filt_m, filt_p, pred_m, pred_p = [], [], [], []
    loglik = 0.0
    for t in range(n_frames):
        pred_m.append(m.copy())
        pred_p.append(p.copy())
        seen = np.isfinite(y[t]) & np.isfinite(r[t])
        if seen.any():
            ct = c[seen]
            s = ct @ p @ ct.T + np.diag(r[t][seen])
            gain = p @ ct.T @ np.linalg.inv(s)
            innov = y[t][seen] - ct @ m
            loglik += multivariate_normal(np.zeros(len(innov)), s).logpdf(innov)
            m = m + gain @ innov
            p = p - gain @ ct @ p
        filt_m.append(m.copy())
        filt_p.append(p.copy())
        p = p + q
    sm, sp = [None] * n_frames, [None] * n_frames
    sm[-1], sp[-1] = filt_m[-1], filt_p[-1]
    for t in range(n_frames - 2, -1, -1):
        g = filt_p[t] @ np.linalg.inv(pred_p[t + 1])
        sm[t] = filt_m[t] + g @ (sm[t + 1] - pred_m[t + 1])
        sp[t] = filt_p[t] + g @ (sp[t + 1] - pred_p[t + 1]) @ g.T
    return np.array(sm), np.array(sp), loglik


def random_model(rng, n_series, n_obs, n_latent):
    c = rng.normal(size=(n_series, n_obs, n_latent))
    a = rng.normal(size=(n_series, n_latent, n_latent))
    q = a @ np.swapaxes(a, 1, 2) + 0.1 * np.eye(n_latent)
    b = rng.normal(size=(n_series, n_latent, n_latent))
    p0 = b @ np.swapaxes(b, 1, 2) + np.eye(n_latent)
    mu = rng.normal(size=(n_series, n_latent))
    return kalman.RandomWalkModel(c, q, mu, p0)


@pytest.mark.parametrize(("n_latent", "n_obs"), [(1, 1), (3, 4), (2, 3)])
def test_matches_kalman_filter_and_rts_smoother(n_latent, n_obs):
    rng = np.random.default_rng(n_latent * 10 + n_obs)
    n_series, n_frames = 3, 50
    model = random_model(rng, n_series, n_obs, n_latent)
    y = 3.0 * rng.normal(size=(n_series, n_frames, n_obs))
    r = rng.uniform(0.1, 5.0, size=(n_series, n_frames, n_obs))
    y[0, 10:20] = np.nan  # a run of missing frames
    r[1, 30:40, 0] = np.inf  # one coordinate unobserved
    y[2, 0] = np.nan  # first frame missing
    post = kalman.smooth(model, y, r)
    ll = kalman.log_likelihood(model, y, r)
    for s in range(n_series):
        m, p, loglik = loop_kalman_rts(
            model.emission[s],
            model.transition_cov[s],
            model.prior_mean[s],
            model.prior_cov[s],
            y[s],
            r[s],
        )
        np.testing.assert_allclose(post.mean[s], m, atol=1e-9)
        np.testing.assert_allclose(post.cov[s], p, atol=1e-9)
        assert ll[s] == pytest.approx(loglik, abs=1e-8)


def test_log_likelihood_is_the_gaussian_density_of_the_observations():
    """Independent check: y ~ N(C mu, C Sigma_z C' + R) with the random walk's Sigma_z."""
    rng = np.random.default_rng(3)
    n_frames, s, p0, mu = 12, 0.7, 4.0, 2.0
    y = rng.normal(size=(1, n_frames, 1))
    r = rng.uniform(0.5, 2.0, size=(1, n_frames, 1))
    t = np.arange(n_frames)
    sigma_z = p0 + s * np.minimum.outer(t, t)  # Cov(z_i, z_j) of a random walk
    expected = multivariate_normal(np.full(n_frames, mu), sigma_z + np.diag(r[0, :, 0])).logpdf(
        y[0, :, 0]
    )
    model = kalman.scalar_model(np.array([s]), np.array([mu]), np.array([p0]))
    assert kalman.log_likelihood(model, y, r)[0] == pytest.approx(expected, rel=1e-10)


def test_posterior_variance_is_the_analytic_steady_state():
    """Random walk (step s) seen with noise r: steady-state smoothed variance r/sqrt(1+4r/s)."""
    n_frames, s, r = 400, 0.5, 4.0
    y = np.full((1, n_frames, 1), 37.0)  # a constant signal: the variance does not care
    obs_var = np.full((1, n_frames, 1), r)
    model = kalman.scalar_model(np.array([s]), np.array([37.0]), np.array([100.0]))
    var = kalman.smooth(model, y, obs_var).cov[0, :, 0, 0]
    smoothed = r / np.sqrt(1 + 4 * r / s)
    predicted = (s + np.sqrt(s * s + 4 * s * r)) / 2  # filter's steady-state prediction
    filtered = predicted * r / (predicted + r)
    assert var[n_frames // 2] == pytest.approx(smoothed, rel=1e-10)
    assert var[-1] == pytest.approx(filtered, rel=1e-10)  # last frame: only the past helps
    assert kalman.smooth(model, y, obs_var).mean[0, :, 0] == pytest.approx(37.0)


def test_gap_is_bridged_linearly_with_growing_variance():
    n_frames = 200
    y = np.concatenate([np.full(80, 10.0), np.full(40, np.nan), np.full(80, 30.0)])
    r = np.ones(n_frames)
    model = kalman.scalar_model(np.array([0.2]), np.array([20.0]), np.array([100.0]))
    post = kalman.smooth(model, y.reshape(1, -1, 1), r.reshape(1, -1, 1))
    mean, var = post.mean[0, :, 0], post.cov[0, :, 0, 0]
    gap = slice(79, 121)  # the gap and the frames on either side
    # a random walk's posterior mean between two known ends is a straight line
    np.testing.assert_allclose(np.diff(mean[gap], 2), 0.0, atol=1e-9)
    assert mean[79] < mean[100] < mean[120]
    assert np.all(np.diff(var[80:100]) > 0) and np.all(np.diff(var[100:120]) < 0)
    assert var[100] > 10 * var[50]


def test_independent_series_do_not_leak_into_each_other():
    rng = np.random.default_rng(5)
    y = rng.normal(size=(4, 30, 1)) + np.array([0.0, 100.0, -50.0, 7.0])[:, None, None]
    r = np.ones_like(y)
    model = kalman.scalar_model(np.full(4, 0.3), y[:, :, 0].mean(1), np.full(4, 10.0))
    together = kalman.smooth(model, y, r)
    for s in range(4):
        alone = kalman.smooth(
            kalman.scalar_model(np.array([0.3]), y[s : s + 1, :, 0].mean(1), np.array([10.0])),
            y[s : s + 1],
            r[s : s + 1],
        )
        np.testing.assert_allclose(together.mean[s], alone.mean[0], atol=1e-10)
        np.testing.assert_allclose(together.cov[s], alone.cov[0], atol=1e-12)


def test_single_frame_and_constant_series():
    y = np.full((1, 1, 1), 5.0)
    model = kalman.scalar_model(np.array([1.0]), np.array([5.0]), np.array([0.0]))  # P0 = 0
    post = kalman.smooth(model, y, np.ones_like(y))
    assert np.isfinite(post.mean).all() and np.isfinite(post.cov).all()
    assert post.mean[0, 0, 0] == pytest.approx(5.0)
