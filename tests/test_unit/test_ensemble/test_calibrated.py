"""Calibrated 3-D EKS: projections as OpenCV's, triangulation, and 3-D within the noise."""

from __future__ import annotations

import numpy as np
import pytest

from napari_lightning_pose.ensemble.calibrated import smooth_calibrated
from napari_lightning_pose.ensemble.projection import (
    project,
    project_jacobian,
    project_with_jacobian,
    rodrigues,
    rotation_vector,
    triangulate,
)
from napari_lightning_pose.ensemble.stats import ensemble_stats
from napari_lightning_pose.ensemble.synthetic_rig import look_at, random_walk_3d, ring_rig

#: every OpenCV pinhole coefficient non-zero: k1 k2 p1 p2 k3 k4 k5 k6 s1 s2 s3 s4
FULL = (-0.25, 0.08, 0.002, -0.001, 0.01, 0.03, -0.01, 0.004, 0.001, -0.002, 0.0015, 0.0005)


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    """World points well off the optical axis (normalised radius up to ~0.5)."""
    return np.random.default_rng(0).normal(0.0, 120.0, (500, 3))


def test_projection_is_opencvs(points):
    cv2 = pytest.importorskip("cv2")
    for dist in (FULL[:5], FULL[:8], FULL):
        cam = look_at([500.0, 100.0, 150.0], "a", distortions=dist)
        ours = project(cam, points)
        theirs, _ = cv2.projectPoints(
            points, cam.rotation, cam.translation, cam.matrix, np.array(dist)
        )
        np.testing.assert_allclose(ours, theirs[:, 0], atol=1e-8)
        np.testing.assert_allclose(
            rodrigues(cam.rotation), cv2.Rodrigues(cam.rotation)[0], atol=1e-14
        )


def test_compiled_jacobian_matches_the_complex_step_and_differences(points):
    cam = look_at([500.0, 100.0, 150.0], "a", distortions=FULL)
    h, jac = project_with_jacobian(cam, points)
    h_ref, jac_ref = project_jacobian(cam, points)
    np.testing.assert_allclose(h, h_ref, atol=1e-9)
    np.testing.assert_allclose(jac, jac_ref, rtol=1e-10, atol=1e-12)
    eps = 1e-4  # central differences: error ~ eps^2 |h'''| ~ 1e-8 px per unit
    for j in range(3):
        step = np.zeros(3)
        step[j] = eps
        diff = (project(cam, points + step) - project(cam, points - step)) / (2 * eps)
        np.testing.assert_allclose(jac[..., j], diff, atol=1e-6)


def test_rotation_vector_inverts_rodrigues():
    rng = np.random.default_rng(1)
    for rvec in [*rng.normal(0, 1.0, (20, 3)), np.zeros(3), np.array([np.pi - 1e-9, 0, 0])]:
        np.testing.assert_allclose(
            rodrigues(rotation_vector(rodrigues(rvec))), rodrigues(rvec), atol=1e-7
        )


def test_triangulation_is_exact_without_noise_and_needs_two_cameras(points):
    cams = [
        look_at(c, n, distortions=FULL[:5])
        for c, n in (([600, 0, 200], "a"), ([0, 600, 250], "b"), ([-400, -400, 150], "c"))
    ]
    px = np.stack([project(c, points) for c in cams])
    np.testing.assert_allclose(triangulate(cams, px), points, atol=1e-6)
    px[1:, :10] = np.nan  # only one camera sees the first ten points
    px[0, 10:20] = np.nan  # two cameras still see these
    tri = triangulate(cams, px)
    assert np.isnan(tri[:10]).all()
    np.testing.assert_allclose(tri[10:], points[10:], atol=1e-6)


def _session(n_frames: int, noise: float, seed: int = 0):
    """Three cameras, 3 keypoints, 5 members with pixel noise: (cams, truth, center, var)."""
    cams = ring_rig(["a", "b", "c"])
    truth = random_walk_3d(n_frames, 3, step_sd=0.3, seed=seed)
    rng = np.random.default_rng(seed + 1)
    stats = []
    for cam in cams:
        px = project(cam, truth)
        members = px[None] + rng.normal(0.0, noise, (5, *px.shape))
        stats.append(ensemble_stats(members, np.full(members.shape[:-1], 0.9)))
    center = np.stack([s.center for s in stats])
    return cams, truth, center, np.stack([s.variance for s in stats])


def test_3d_is_within_the_noise_and_better_than_triangulation():
    cams, truth, center, var = _session(1500, noise=2.0)
    res = smooth_calibrated(cams, center, var, "auto")
    err = res.points - truth
    rmse = np.sqrt((err**2).mean())
    tri_rmse = np.sqrt(((triangulate(cams, center) - truth) ** 2).mean())
    assert rmse < 0.8 * tri_rmse  # the walk smooths the triangulated medians
    # posterior SD is the size of the actual error: normalised errors have unit spread
    z = err / np.sqrt(res.points_var)
    assert 0.7 < z.std() < 1.4, z.std()
    # every camera: projections closer to the truth than the ensemble medians, honest SD
    for v, cam in enumerate(cams):
        px = project(cam, truth)
        assert np.sqrt(((res.xy[v] - px) ** 2).mean()) < 0.8 * np.sqrt(
            ((center[v] - px) ** 2).mean()
        )
        z2 = (res.xy[v] - px) / np.sqrt(res.xy_var[v])
        assert 0.7 < z2.std() < 1.4
    assert res.iterations < 10 and (res.smoothing > 0).all()


def test_gaps_are_bridged_and_a_fixed_smoothing_is_used():
    cams, truth, center, var = _session(600, noise=1.0, seed=3)
    center[:, 200:240] = np.nan  # no camera sees anything for 40 frames
    var[:, 200:240] = np.nan
    center[0, 300:350, 1] = np.nan  # one keypoint is missing in one camera
    var[0, 300:350, 1] = np.nan
    res = smooth_calibrated(cams, center, var, 1.0)
    assert np.isfinite(res.points).all() and (res.smoothing == 1.0).all()
    sd = np.sqrt(res.points_var[:, 0].mean(axis=-1))
    assert sd[220] > 3 * sd[100]  # most uncertain in the middle of the gap
    assert np.abs(res.points[300:350, 1] - truth[300:350, 1]).max() < 3.0


def test_a_keypoint_never_seen_by_two_cameras_is_an_error():
    cams, _, center, var = _session(100, noise=1.0)
    center[1:, :, 2] = np.nan
    with pytest.raises(ValueError, match=r"keypoints \[2\]"):
        smooth_calibrated(cams, center, var, 1.0)
