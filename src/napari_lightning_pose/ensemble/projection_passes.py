"""Compiled (numba) per-point passes behind :mod:`.projection` and :mod:`.calibrated`.

:func:`project_point` is OpenCV's pinhole projection with distortion (see :mod:`.projection`)
and its Jacobian by the chain rule, for one point; the passes run it over every point of a
series: :func:`project_many` (projections and Jacobians), :func:`linearised_information`
(what the linearised cameras say about each frame's whitened latent, for the calibrated
smoother's Gauss-Newton steps) and :func:`reprojection_fit` (the weighted squared
reprojection error, for its line search). Cameras come as stacked arrays: rotation matrices
(V, 3, 3), translations (V, 3), camera matrices (V, 3, 3) and 12 distortions (V, 12).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def project_point(
    p0: float,
    p1: float,
    p2: float,
    rot: np.ndarray,
    trans: np.ndarray,
    matrix: np.ndarray,
    dist: np.ndarray,
    jac: np.ndarray,
) -> tuple[float, float]:  # pragma: no cover - compiled; coverage cannot see inside
    """Pixel ``(u, v)`` of world point ``(p0, p1, p2)``; its Jacobian (2, 3) goes to ``jac``."""
    k1, k2, q1, q2, k3, k4, k5, k6 = (
        dist[0],
        dist[1],
        dist[2],
        dist[3],
        dist[4],
        dist[5],
        dist[6],
        dist[7],
    )
    s1, s2, s3, s4 = dist[8], dist[9], dist[10], dist[11]
    fx, skew, cx, fy, cy = matrix[0, 0], matrix[0, 1], matrix[0, 2], matrix[1, 1], matrix[1, 2]
    xc0 = rot[0, 0] * p0 + rot[0, 1] * p1 + rot[0, 2] * p2 + trans[0]
    xc1 = rot[1, 0] * p0 + rot[1, 1] * p1 + rot[1, 2] * p2 + trans[1]
    xc2 = rot[2, 0] * p0 + rot[2, 1] * p1 + rot[2, 2] * p2 + trans[2]
    inv_z = 1.0 / xc2
    x = xc0 * inv_z
    y = xc1 * inv_z
    r2 = x * x + y * y
    num = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    den = 1.0 + r2 * (k4 + r2 * (k5 + r2 * k6))
    rad = num / den
    d_num = k1 + r2 * (2.0 * k2 + 3.0 * k3 * r2)
    d_den = k4 + r2 * (2.0 * k5 + 3.0 * k6 * r2)
    d_rad = (d_num * den - num * d_den) / (den * den)  # d radial / d r2
    xd = x * rad + 2.0 * q1 * x * y + q2 * (r2 + 2.0 * x * x) + s1 * r2 + s2 * r2 * r2
    yd = y * rad + q1 * (r2 + 2.0 * y * y) + 2.0 * q2 * x * y + s3 * r2 + s4 * r2 * r2
    # d(xd, yd) / d(x, y)
    px = s1 + 2.0 * s2 * r2
    py = s3 + 2.0 * s4 * r2
    a = rad + 2.0 * x * x * d_rad + 2.0 * q1 * y + 6.0 * q2 * x + 2.0 * x * px
    b = 2.0 * x * y * d_rad + 2.0 * q1 * x + 2.0 * q2 * y + 2.0 * y * px
    c = 2.0 * x * y * d_rad + 2.0 * q1 * x + 2.0 * q2 * y + 2.0 * x * py
    d = rad + 2.0 * y * y * d_rad + 6.0 * q1 * y + 2.0 * q2 * x + 2.0 * y * py
    # pixels by (x, y), then (x, y) by world point: [[1/Z, 0, -x/Z], [0, 1/Z, -y/Z]] @ R
    ua, ub = fx * a + skew * c, fx * b + skew * d
    va, vb = fy * c, fy * d
    for i in range(3):
        dx = (rot[0, i] - x * rot[2, i]) * inv_z
        dy = (rot[1, i] - y * rot[2, i]) * inv_z
        jac[0, i] = ua * dx + ub * dy
        jac[1, i] = va * dx + vb * dy
    return fx * xd + skew * yd + cx, fy * yd + cy


@njit(cache=True)
def project_many(
    points: np.ndarray,
    rot: np.ndarray,
    trans: np.ndarray,
    matrix: np.ndarray,
    dist: np.ndarray,
    out: np.ndarray,
    jac: np.ndarray,
) -> None:  # pragma: no cover - compiled; coverage cannot see inside
    """Projections (N, 2) and Jacobians (N, 2, 3) of points (N, 3) in one camera."""
    for n in range(points.shape[0]):
        u, v = project_point(
            points[n, 0], points[n, 1], points[n, 2], rot, trans, matrix, dist, jac[n]
        )
        out[n, 0] = u
        out[n, 1] = v


@njit(cache=True)
def linearised_information(
    points: np.ndarray,
    rots: np.ndarray,
    trans: np.ndarray,
    matrices: np.ndarray,
    dists: np.ndarray,
    obs: np.ndarray,
    inv_var: np.ndarray,
    chol: np.ndarray,
    info_block: np.ndarray,
    info_vec: np.ndarray,
    y_r_y: np.ndarray,
) -> None:  # pragma: no cover - compiled; coverage cannot see inside
    """The cameras linearised about ``points``, as information about the whitened latent.

    With ``J_t`` the stacked Jacobians at ``X_t``, the pseudo-observations
    ``y~_t = y_t - h(X_t) + J_t X_t`` and the whitened emission ``G_t = J_t L`` (``X = L u``):
    ``info_block[s, t] = G^T R^-1 G``, ``info_vec[s, t] = G^T R^-1 y~`` and
    ``y_r_y[s] = sum_t y~^T R^-1 y~``.

    Parameters
    ----------
    points : (S, T, 3)
    rots, trans, matrices, dists : the V cameras (see the module docstring)
    obs, inv_var : (S, T, 2V)
        Observations (camera-major x, y) and their inverse variances (0: unobserved).
    chol : (S, 3, 3)
        ``L``.
    info_block : (S, T, 3, 3), out
    info_vec : (S, T, 3), out
    y_r_y : (S,), out
    """
    n_series, n_frames = points.shape[:2]
    n_cams = rots.shape[0]
    jac = np.empty((2, 3))
    g = np.empty(3)
    for s in range(n_series):
        total = 0.0
        for t in range(n_frames):
            for i in range(3):
                info_vec[s, t, i] = 0.0
                for j in range(3):
                    info_block[s, t, i, j] = 0.0
            p0, p1, p2 = points[s, t, 0], points[s, t, 1], points[s, t, 2]
            for v in range(n_cams):
                uv = project_point(p0, p1, p2, rots[v], trans[v], matrices[v], dists[v], jac)
                for c in range(2):
                    w = inv_var[s, t, 2 * v + c]
                    if w == 0.0:
                        continue
                    pseudo = obs[s, t, 2 * v + c] - uv[c]
                    pseudo += jac[c, 0] * p0 + jac[c, 1] * p1 + jac[c, 2] * p2
                    for i in range(3):
                        g[i] = jac[c, 0] * chol[s, 0, i] + jac[c, 1] * chol[s, 1, i]
                        g[i] += jac[c, 2] * chol[s, 2, i]
                    for i in range(3):
                        info_vec[s, t, i] += g[i] * w * pseudo
                        for j in range(3):
                            info_block[s, t, i, j] += g[i] * w * g[j]
                    total += pseudo * w * pseudo
        y_r_y[s] = total


@njit(cache=True)
def reprojection_fit(
    points: np.ndarray,
    rots: np.ndarray,
    trans: np.ndarray,
    matrices: np.ndarray,
    dists: np.ndarray,
    obs: np.ndarray,
    inv_var: np.ndarray,
    fit: np.ndarray,
) -> None:  # pragma: no cover - compiled; coverage cannot see inside
    """``fit[s] = sum_t (y_t - h(X_t))^T R_t^-1 (y_t - h(X_t))``; arguments as above."""
    n_series, n_frames = points.shape[:2]
    jac = np.empty((2, 3))
    for s in range(n_series):
        total = 0.0
        for t in range(n_frames):
            for v in range(rots.shape[0]):
                uv = project_point(
                    points[s, t, 0],
                    points[s, t, 1],
                    points[s, t, 2],
                    rots[v],
                    trans[v],
                    matrices[v],
                    dists[v],
                    jac,
                )
                for c in range(2):
                    w = inv_var[s, t, 2 * v + c]
                    if w != 0.0:
                        resid = obs[s, t, 2 * v + c] - uv[c]
                        total += resid * w * resid
        fit[s] = total


@njit(cache=True)
def triangulate_points(
    pixels: np.ndarray,
    rots: np.ndarray,
    trans: np.ndarray,
    matrices: np.ndarray,
    dists: np.ndarray,
    tol: float,
    max_iterations: int,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled; coverage cannot see inside
    """Linear least-squares triangulation of points (N) seen by V cameras, distortion undone.

    Each camera's pixel is undistorted by fixed-point iteration (until the step is below
    ``tol`` or after ``max_iterations``), then gives two rows of ``A X = b``
    (``x (r3 . X + t3) = r1 . X + t1``, likewise for ``y``); the normal equations are solved
    by Cramer's rule. ``out[n]`` is NaN where fewer than two cameras saw point ``n``.

    Parameters
    ----------
    pixels : (V, N, 2)
        NaN where a camera did not see the point.
    rots, trans, matrices, dists : the V cameras (see the module docstring)
    out : (N, 3), out
    """
    n_cams, n_points = pixels.shape[:2]
    normal = np.empty((3, 3))
    rhs = np.empty(3)
    row = np.empty(3)
    for n in range(n_points):
        normal[:] = 0.0
        rhs[:] = 0.0
        seen = 0
        for v in range(n_cams):
            u, w = pixels[v, n, 0], pixels[v, n, 1]
            if not (np.isfinite(u) and np.isfinite(w)):
                continue
            seen += 1
            m, d = matrices[v], dists[v]
            yd = (w - m[1, 2]) / m[1, 1]
            xd = (u - m[0, 2] - m[0, 1] * yd) / m[0, 0]
            x, y = xd, yd
            for _ in range(max_iterations):
                r2 = x * x + y * y
                num = 1.0 + r2 * (d[0] + r2 * (d[1] + r2 * d[4]))
                den = 1.0 + r2 * (d[5] + r2 * (d[6] + r2 * d[7]))
                rad = num / den
                dx = x * rad + 2.0 * d[2] * x * y + d[3] * (r2 + 2.0 * x * x)
                dx += d[8] * r2 + d[9] * r2 * r2
                dy = y * rad + d[2] * (r2 + 2.0 * y * y) + 2.0 * d[3] * x * y
                dy += d[10] * r2 + d[11] * r2 * r2
                ex, ey = xd - dx, yd - dy
                x += ex
                y += ey
                if abs(ex) + abs(ey) <= tol:
                    break
            r, t = rots[v], trans[v]
            for c in range(2):
                coord = x if c == 0 else y
                for i in range(3):
                    row[i] = coord * r[2, i] - r[c, i]
                b = t[c] - coord * t[2]
                for i in range(3):
                    rhs[i] += row[i] * b
                    for j in range(3):
                        normal[i, j] += row[i] * row[j]
        if seen < 2:
            out[n, 0] = out[n, 1] = out[n, 2] = np.nan
            continue
        a = normal
        c00 = a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1]
        c01 = a[1, 2] * a[2, 0] - a[1, 0] * a[2, 2]
        c02 = a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]
        det = a[0, 0] * c00 + a[0, 1] * c01 + a[0, 2] * c02
        if det == 0.0:
            out[n, 0] = out[n, 1] = out[n, 2] = np.nan
            continue
        # the inverse of a symmetric matrix by its cofactors
        c11 = a[0, 0] * a[2, 2] - a[0, 2] * a[2, 0]
        c12 = a[0, 2] * a[1, 0] - a[0, 0] * a[1, 2]
        c22 = a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]
        out[n, 0] = (c00 * rhs[0] + c01 * rhs[1] + c02 * rhs[2]) / det
        out[n, 1] = (c01 * rhs[0] + c11 * rhs[1] + c12 * rhs[2]) / det
        out[n, 2] = (c02 * rhs[0] + c12 * rhs[1] + c22 * rhs[2]) / det
