"""Temporal and PCA losses: ~0 where the constraint holds, positive with gradient otherwise;
the NaN-aware PCA fit; errors for bad PCA settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.io.config import default_config, validate_config
from napari_lightning_pose.losses.factory import build_unsupervised_losses
from napari_lightning_pose.losses.pca import PCAFit, fit_pca, fit_pose_pca, nan_covariance
from napari_lightning_pose.losses.pca_losses import PCAMultiviewLoss, PCASingleviewLoss
from napari_lightning_pose.losses.temporal import TemporalLoss

SCALE = torch.tensor([[0.5, 0.25]])  # original -> model pixels (x, y), one clip


def _outputs(kp_original: torch.Tensor, like: float = 0.9) -> dict[str, torch.Tensor]:
    """Model outputs (1, T, K, ...) whose keypoints are ``kp_original`` in original pixels."""
    kp = ((kp_original + 0.5) * SCALE[0] - 0.5)[None].clone().requires_grad_(True)
    return {"keypoints": kp, "likelihood": torch.full(kp.shape[:3], like)}


def _value(loss: torch.nn.Module, outputs: dict) -> float:
    return float(loss(outputs, {"scale": SCALE}).detach())


def _grad(loss: torch.Tensor, outputs: dict) -> float:
    loss.backward()
    return float(outputs["keypoints"].grad.abs().sum())


# ----------------------------------------------------------------------------- temporal
def test_temporal_is_zero_on_a_still_track_and_positive_on_jumps() -> None:
    still = torch.full((6, 3, 2), 50.0)
    loss = TemporalLoss(log_weight=None, epsilon=5.0, prob_threshold=0.1)
    assert _value(loss, _outputs(still)) == 0.0
    jumpy = still.clone()
    jumpy[3, 1] += torch.tensor([30.0, 40.0])  # 50 px jump in, 50 px out, for keypoint 1
    out = _outputs(jumpy)
    value = loss(out, {"scale": SCALE})
    # 2 jumps of 50 px among 5 pairs x 3 keypoints, minus epsilon 5 each
    assert float(value.detach()) == pytest.approx(2 * 45.0 / 15, rel=1e-5)
    assert _grad(value, out) > 0


def test_temporal_ignores_unconfident_frames_and_takes_per_keypoint_epsilon() -> None:
    track = torch.zeros(3, 2, 2)
    track[1] += 10.0  # both keypoints move by 14.1 px twice
    out = _outputs(track)
    out["likelihood"] = torch.tensor([[[0.9, 0.9], [0.9, 0.01], [0.9, 0.9]]])
    loss = TemporalLoss(None, epsilon=[0.0, 0.0], prob_threshold=0.05)
    # keypoint 1's pairs both touch the unconfident frame: only keypoint 0's 2 pairs count
    assert _value(loss, out) == pytest.approx(200**0.5, rel=1e-5)
    wide = TemporalLoss(None, epsilon=[20.0, 0.0], prob_threshold=0.05)
    assert _value(wide, out) == 0.0
    assert TemporalLoss(log_weight=1.0).weight == pytest.approx(1 / (2 * np.e))


# ----------------------------------------------------------------------------- PCA fit
def _subspace_poses(n: int, k: int, dims: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(2 * k, dims)))[0].T  # (dims, 2K) orthonormal
    mean = rng.uniform(50, 150, size=2 * k)
    rows = mean + (rng.normal(size=(n, dims)) * [30, 10, 3][:dims]) @ basis
    return rows.reshape(n, k, 2), basis


def test_pca_fit_matches_numpy_and_recovers_a_known_subspace() -> None:
    poses, basis = _subspace_poses(200, 4, 3)
    rows = poses.reshape(200, -1)
    mean, comps, explained = fit_pca(rows, 3)
    np.testing.assert_allclose(mean, rows.mean(0), atol=1e-9)
    ref = np.linalg.svd(rows - rows.mean(0), full_matrices=False)
    np.testing.assert_allclose(explained, ref[1] ** 2 / (ref[1] ** 2).sum(), atol=1e-9)
    proj = comps.T @ comps  # same subspace as numpy's and as the generating one
    np.testing.assert_allclose(proj, ref[2][:3].T @ ref[2][:3], atol=1e-8)
    np.testing.assert_allclose(proj, basis.T @ basis, atol=1e-8)
    assert fit_pca(rows, 0.999)[1].shape[0] == 3  # the variance fraction finds the 3 dims
    assert fit_pca(rows, 0.95)[1].shape[0] == 2  # 900 + 100 of 1009: 99.1 %


def test_pca_fit_with_missing_values_uses_pairwise_complete_covariance() -> None:
    poses, basis = _subspace_poses(300, 4, 3, seed=1)
    rows = poses.reshape(300, -1).copy()
    rng = np.random.default_rng(2)
    holes = rng.random((300, 4)) < 0.2  # 20 % of keypoints missing, x and y together
    rows[np.repeat(holes, 2, axis=1)] = np.nan
    mean, cov, counts = nan_covariance(rows)
    i, j = 0, 5
    both = np.isfinite(rows[:, i]) & np.isfinite(rows[:, j])
    expected = np.sum((rows[both, i] - mean[i]) * (rows[both, j] - mean[j])) / (both.sum() - 1)
    assert cov[i, j] == pytest.approx(expected) and counts[i, j] == both.sum()
    _, comps, _ = fit_pca(rows, 3)  # no frame dropped, and the subspace is found again
    kept = np.linalg.norm(basis[:2] @ comps.T, axis=1)  # the two dominant generating axes
    assert kept.min() > 0.99


# ----------------------------------------------------------------------------- PCA losses
def _singleview(poses: np.ndarray) -> PCASingleviewLoss:
    cfg = {"components_to_keep": 3, "epsilon": 0.0}
    fit = fit_pose_pca(poses, "pca_singleview", list(range(poses.shape[1])), cfg, list("abcd"))
    return PCASingleviewLoss(fit)


def test_pca_singleview_is_zero_in_the_subspace_and_positive_off_it() -> None:
    poses, _ = _subspace_poses(100, 4, 3)
    loss = _singleview(poses)
    inside = torch.as_tensor(_subspace_poses(8, 4, 3)[0], dtype=torch.float32)
    assert _value(loss, _outputs(inside)) < 1e-3
    off = inside.clone()
    off[2, 1] += 25.0
    out = _outputs(off)
    value = loss(out, {"scale": SCALE})
    assert float(value.detach()) > 0.3 and _grad(value, out) > 0


def _two_views(n: int, seed: int = 0) -> np.ndarray:
    """Poses (n, 6, 2): 3 body parts seen by two affine cameras (keypoints 0-2 and 3-5)."""
    cam_rng = np.random.default_rng(99)  # the same two cameras for every call
    cams = [(cam_rng.normal(size=(2, 3)), cam_rng.uniform(0, 50, 2)) for _ in range(2)]
    points = np.random.default_rng(seed).normal(size=(n, 3, 3)) * 20 + 100  # 3-D positions
    views = [points @ c.T + shift for c, shift in cams]
    return np.concatenate(views, axis=1)


def test_pca_multiview_is_zero_for_consistent_views_and_positive_otherwise() -> None:
    cfg = {"components_to_keep": 3, "epsilon": 0.0}
    train = _two_views(200)
    fit = fit_pose_pca(train, "pca_multiview", [[0, 1, 2], [3, 4, 5]], cfg, list("abcdef"))
    loss = PCAMultiviewLoss(fit)
    test = torch.as_tensor(_two_views(5, seed=7), dtype=torch.float32)
    assert _value(loss, _outputs(test)) < 1e-3
    broken = test.clone()
    broken[1, 4] += torch.tensor([15.0, -10.0])  # view 2 of body part 1 disagrees
    out = _outputs(broken)
    value = loss(out, {"scale": SCALE})
    assert float(value.detach()) > 0.02 and _grad(value, out) > 0  # one constraint in 4-D
    errors = fit.errors(broken.numpy())  # per frame and (view, body part)
    assert errors.shape == (5, 6) and np.argmax(errors[1]) in (1, 4)


def test_epsilon_null_is_a_percentile_of_the_training_errors_and_survives_the_checkpoint() -> None:
    rng = np.random.default_rng(3)
    poses = _subspace_poses(100, 4, 3)[0] + rng.normal(size=(100, 4, 2))
    cfg = {"components_to_keep": 3, "epsilon": None, "empirical_epsilon_percentile": 0.9,
           "empirical_epsilon_multiplier": 2.0}  # fmt: skip
    fit = fit_pose_pca(poses, "pca_singleview", [0, 1, 2, 3], cfg, list("abcd"))
    assert fit.epsilon == pytest.approx(2 * np.percentile(fit.errors(poses), 90))
    back = PCAFit.from_state(fit.to_state())
    np.testing.assert_array_equal(back.components, fit.components)
    assert back.epsilon == fit.epsilon and back.kind == "pca_singleview"


# ----------------------------------------------------------------------------- bad input
def _cfg(**data) -> dict:
    cfg = default_config()
    cfg["data"]["keypoint_names"] = list("abcdef")
    cfg["data"].update(data)
    return validate_config(cfg)


def test_too_few_labeled_poses_say_how_many_and_which_keypoints() -> None:
    poses = _two_views(20)
    poses[3:, 2] = np.nan  # keypoint c labeled in 3 frames only
    cfg = _cfg()
    cfg["model"]["losses_to_use"] = ["pca_singleview"]
    with pytest.raises(ConfigError, match=r"needs 12 labeled frames.*only 3 for c\b"):
        build_unsupervised_losses(cfg, poses)


def test_mirrored_column_matches_must_be_equal_length_and_in_range() -> None:
    with pytest.raises(ConfigError, match=r"mirrored_column_matches must be .* equal-length"):
        _cfg(mirrored_column_matches=[[0, 1], [2]])
    with pytest.raises(ConfigError, match=r"mirrored_column_matches must hold indices in 0\.\.5"):
        _cfg(mirrored_column_matches=[[0, 1], [2, 9]])
    cfg = default_config()  # keypoints counted by num_keypoints only: checked all the same
    cfg["data"].update(num_keypoints=6, mirrored_column_matches=[[0, 1], [2, 9]])
    with pytest.raises(ConfigError, match=r"mirrored_column_matches must hold indices in 0\.\.5"):
        validate_config(cfg)
    cfg["model"]["losses_to_use"] = ["pca_multiview"]
    cfg["data"]["mirrored_column_matches"] = None
    with pytest.raises(ConfigError, match=r"needs data\.mirrored_column_matches"):
        build_unsupervised_losses(validate_config(cfg), _two_views(20))
