"""Calibrated cameras as functions: project 3-D points (with lens distortion), their
Jacobians, and linear triangulation. Pure numpy, vectorised over points.

The model is OpenCV's pinhole camera (what ``cv2.projectPoints`` and so Anipose use): a world
point ``X`` is at ``Xc = R X + t`` in the camera, at ``(x, y) = (Xc/Zc, Yc/Zc)`` on the
normalised image plane, distorted by::

    r2 = x^2 + y^2
    radial = (1 + k1 r2 + k2 r2^2 + k3 r2^3) / (1 + k4 r2 + k5 r2^2 + k6 r2^3)
    x' = x radial + 2 p1 x y + p2 (r2 + 2 x^2) + s1 r2 + s2 r2^2
    y' = y radial + p1 (r2 + 2 y^2) + 2 p2 x y + s3 r2 + s4 r2^2

and mapped to pixels by the camera matrix, ``u = fx x' + skew y' + cx``, ``v = fy y' + cy``.
(The reference EKS writes ``k4..k6`` as higher powers of the numerator instead of OpenCV's
denominator; the two agree for the usual five coefficients.)

:func:`project` is a rational function of the point, so its Jacobian is exact by the
complex-step rule ``J[:, j] = Im h(X + i eps e_j) / eps`` (no cancellation, no hand-written
derivatives of the distortion): :func:`project_jacobian`, the reference for the compiled
:func:`project_with_jacobian`, which the smoother calls (analytic chain rule, ~50x faster).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from napari_lightning_pose.ensemble.projection_passes import project_many, triangulate_points
from napari_lightning_pose.io.calibration import Camera

#: Complex step of :func:`project_jacobian`; exact to rounding for any step this small.
COMPLEX_STEP = 1e-20
#: :func:`undistort` iterates until no normalised coordinate moves more than this, or this often.
UNDISTORT_TOL = 1e-13
UNDISTORT_ITERATIONS = 50


def rodrigues(rvec: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) of a Rodrigues vector (axis times angle, radians)."""
    rvec = np.asarray(rvec, dtype=float)
    theta = float(np.linalg.norm(rvec))
    skew = np.array([[0.0, -rvec[2], rvec[1]], [rvec[2], 0.0, -rvec[0]], [-rvec[1], rvec[0], 0.0]])
    if theta < 1e-12:
        return np.eye(3) + skew
    k = skew / theta
    return np.eye(3) + np.sin(theta) * k + (1.0 - np.cos(theta)) * (k @ k)


def rotation_vector(rot: np.ndarray) -> np.ndarray:
    """Rodrigues vector (3,) of a rotation matrix (the inverse of :func:`rodrigues`)."""
    rot = np.asarray(rot, dtype=float)
    cos = np.clip((np.trace(rot) - 1.0) / 2.0, -1.0, 1.0)
    theta = float(np.arccos(cos))
    axis = np.array([rot[2, 1] - rot[1, 2], rot[0, 2] - rot[2, 0], rot[1, 0] - rot[0, 1]])
    if theta < 1e-12:
        return axis / 2.0
    if np.pi - theta < 1e-6:  # half turn: the axis from the symmetric part
        sym = (rot + np.eye(3)) / 2.0
        col = int(np.argmax(np.diagonal(sym)))
        unit = sym[:, col] / np.sqrt(sym[col, col])
        return theta * unit
    return theta * axis / (2.0 * np.sin(theta))


def _distort(cam: Camera, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's lens distortion of normalised coordinates (works on complex arrays)."""
    k1, k2, p1, p2, k3, k4, k5, k6, s1, s2, s3, s4 = cam.distortions
    r2 = x * x + y * y
    r4 = r2 * r2
    radial = (1.0 + k1 * r2 + k2 * r4 + k3 * r4 * r2) / (1.0 + k4 * r2 + k5 * r4 + k6 * r4 * r2)
    xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x) + s1 * r2 + s2 * r4
    yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y + s3 * r2 + s4 * r4
    return xd, yd


def project(cam: Camera, points: np.ndarray) -> np.ndarray:
    """Pixel coordinates (..., 2) of world points (..., 3) in ``cam``.

    Real or complex input (the latter for :func:`project_jacobian`); points behind the
    camera are projected all the same (the model has no notion of visibility).
    """
    rot = rodrigues(cam.rotation)
    xc = points @ rot.T + cam.translation
    x = xc[..., 0] / xc[..., 2]
    y = xc[..., 1] / xc[..., 2]
    xd, yd = _distort(cam, x, y)
    m = cam.matrix
    return np.stack([m[0, 0] * xd + m[0, 1] * yd + m[0, 2], m[1, 1] * yd + m[1, 2]], axis=-1)


def project_jacobian(cam: Camera, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Projections (..., 2) and their Jacobians (..., 2, 3) with respect to the point.

    Complex-step differentiation: three complex evaluations, exact to rounding.
    """
    points = np.asarray(points, dtype=float)
    jac = np.empty((*points.shape[:-1], 2, 3))
    for j in range(3):
        shifted = points.astype(complex)
        shifted[..., j] += 1j * COMPLEX_STEP
        jac[..., j] = project(cam, shifted).imag / COMPLEX_STEP
    return project(cam, points), jac


def undistort(cam: Camera, pixels: np.ndarray) -> np.ndarray:
    """Normalised, undistorted image coordinates (..., 2) of pixels (..., 2).

    Inverts the distortion by fixed-point iteration (as ``cv2.undistortPoints`` does).
    """
    m = cam.matrix
    yd = (pixels[..., 1] - m[1, 2]) / m[1, 1]
    xd = (pixels[..., 0] - m[0, 2] - m[0, 1] * yd) / m[0, 0]
    x, y = xd.copy(), yd.copy()
    for _ in range(UNDISTORT_ITERATIONS):
        dx, dy = _distort(cam, x, y)
        # step by the residual: the distortion's Jacobian is close to the identity
        ex, ey = xd - dx, yd - dy
        x, y = x + ex, y + ey
        if not np.nanmax(np.abs(ex) + np.abs(ey), initial=0.0) > UNDISTORT_TOL:
            break
    return np.stack([x, y], axis=-1)


def triangulate(cameras: Sequence[Camera], pixels: np.ndarray) -> np.ndarray:
    """Least-squares (linear) triangulation of points seen by several cameras.

    Each camera's pixels are undistorted (as :func:`undistort`) and give two linear equations
    in the world point (``x (r3 . X + t3) = r1 . X + t1``, likewise for ``y``), solved in the
    least-squares sense (compiled: :func:`.projection_passes.triangulate_points`).

    Parameters
    ----------
    cameras : sequence of V Camera
    pixels : ndarray, shape (V, ..., 2)
        Each camera's pixel coordinates; NaN where a camera did not see the point.

    Returns
    -------
    ndarray, shape (..., 3)
        World points; NaN where fewer than two cameras saw the point.
    """
    pixels = np.asarray(pixels, dtype=float)
    shape = pixels.shape[1:-1]
    flat = np.ascontiguousarray(pixels.reshape(len(cameras), -1, 2))
    out = np.empty((flat.shape[1], 3))
    triangulate_points(
        flat,
        np.stack([rodrigues(c.rotation) for c in cameras]),
        np.stack([np.asarray(c.translation, dtype=float) for c in cameras]),
        np.stack([np.asarray(c.matrix, dtype=float) for c in cameras]),
        np.stack([np.asarray(c.distortions, dtype=float) for c in cameras]),
        UNDISTORT_TOL,
        UNDISTORT_ITERATIONS,
        out,
    )
    return out.reshape(*shape, 3)


def project_with_jacobian(cam: Camera, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`project_jacobian`, compiled: projections (..., 2) and Jacobians (..., 2, 3)."""
    flat = np.ascontiguousarray(np.asarray(points, dtype=float).reshape(-1, 3))
    out = np.empty((len(flat), 2))
    jac = np.empty((len(flat), 2, 3))
    project_many(
        flat,
        rodrigues(cam.rotation),
        np.asarray(cam.translation, dtype=float),
        np.asarray(cam.matrix, dtype=float),
        np.asarray(cam.distortions, dtype=float),
        out,
        jac,
    )
    shape = np.shape(points)[:-1]
    return out.reshape(*shape, 2), jac.reshape(*shape, 2, 3)
