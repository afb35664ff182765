"""A Lightning Pose config trains with Lightning Pose's loss balance: values on fixed tensors
checked against numbers worked out by hand from Lightning Pose's definitions.

Lightning Pose's definitions (paninski-lab/lightning-pose, ``lightning_pose/losses/losses.py``
and ``lightning_pose/losses/factory.py``, read at commit f54c477):

- ``HeatmapMSELoss.compute_loss``: ``F.mse_loss(targets, predictions, reduction="none") * h * w``
  on the keypoints left after ``HeatmapLoss.remove_nans`` (target maps that are all zero are
  dropped), then ``reduce_loss(..., "mean")``: the mean over the remaining maps' pixels
  times h * w, i.e. **per keypoint the sum over pixels of (target - prediction)^2, averaged
  over labeled keypoints**. Both maps are spatial softmaxes / normalised Gaussians that sum to
  1 (``models/heads/heatmap.py``: ``spatial_softmax2d``; ``data/heatmaps.py``: ``heatmaps /
  sum``).
- ``LossFactory.__call__``: ``total += anneal * loss.weight * loss`` with ``weight = 1 / (2
  exp(log_weight))``, applied once; the supervised heatmap loss has ``log_weight`` 0 (weight
  1/2, ``get_loss_factories``) and no anneal.
- ``TemporalLoss``: per keypoint the L2 norm of consecutive frames' difference, ``relu(norm -
  epsilon)``, mean over (frame pairs, keypoints).
- ``PCALoss``: per keypoint the L2 norm of (pose - its reprojection onto the kept components),
  ``relu(error - epsilon)``, mean over (rows, keypoints).

The unsupervised losses here are in original image pixels (Lightning Pose's current code
applies them to original-pixel predictions too).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from napari_lightning_pose.io.config import default_config
from napari_lightning_pose.losses.balance import (
    discrete_heatmap_slope,
    heatmap_slope,
    label_pull_per_px,
    log_weight_for,
    strength_of,
)
from napari_lightning_pose.losses.factory import build_losses
from napari_lightning_pose.losses.pca import PCAFit
from napari_lightning_pose.losses.pca_losses import PCASingleviewLoss
from napari_lightning_pose.losses.temporal import TemporalLoss
from napari_lightning_pose.training.step import loss_terms


def _supervised_batch() -> tuple[dict, dict]:
    """Two frames x two keypoints of 2 x 2 maps; frame 1's keypoint 1 is unlabeled."""
    target = torch.zeros(2, 2, 2, 2)
    pred = torch.full((2, 2, 2, 2), 0.25)
    target[0, 0] = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # vs uniform: 0.75^2 + 3 * 0.25^2
    target[0, 1] = torch.tensor([[0.5, 0.5], [0.0, 0.0]])
    pred[0, 1] = torch.tensor([[0.5, 0.0], [0.5, 0.0]])  # diff 0, 0.5, -0.5, 0: 0.5
    target[1, 0] = torch.tensor([[0.0, 0.0], [0.0, 1.0]])  # vs uniform: 0.75 again
    keypoints = torch.tensor([[[0.0, 0.0], [0.5, 0.0]], [[1.0, 1.0], [np.nan, np.nan]]])
    return {"heatmaps": pred}, {"heatmaps": target, "keypoints": keypoints}


def test_supervised_mse_is_lightning_pose_value_and_weight() -> None:
    cfg = default_config()
    assert cfg["model"]["heatmap_loss_type"] == "mse"  # Lightning Pose's default
    (loss,) = build_losses(cfg)
    outputs, batch = _supervised_batch()
    # by hand: per labeled keypoint sum of squares 0.75, 0.5, 0.75; mean 2/3; weight 1/2
    assert float(loss.compute(outputs, batch)) == pytest.approx(2.0 / 3.0)
    assert loss.weight == 0.5
    assert float(loss(outputs, batch)) == pytest.approx(1.0 / 3.0)


def _clip_outputs(xy_model_px: list[list[float]]) -> tuple[dict, dict]:
    """One clip of T frames of one keypoint, model pixels; model input = original / 2."""
    kp = torch.tensor(xy_model_px, dtype=torch.float32)[None, :, None, :]  # (1, T, 1, 2)
    like = torch.ones(kp.shape[:3])
    return {"keypoints": kp, "likelihood": like}, {"scale": torch.tensor([[0.5, 0.5]])}


def test_temporal_loss_in_original_pixels_with_epsilon() -> None:
    # model px (0, 0) -> (15, 20) -> (15, 20): original-pixel jumps 50 and 0 (scale 1/2)
    outputs, clip = _clip_outputs([[0.0, 0.0], [15.0, 20.0], [15.0, 20.0]])
    loss = TemporalLoss(log_weight=5.0, epsilon=20.0)
    # by hand: relu(50 - 20) = 30, relu(0 - 20) = 0; mean 15; weight 1 / (2 e^5)
    assert float(loss.compute(outputs, clip)) == pytest.approx(15.0, rel=1e-6)
    assert float(loss(outputs, clip)) == pytest.approx(15.0 / (2 * math.exp(5.0)), rel=1e-6)


def test_pca_singleview_loss_by_hand() -> None:
    # a 1-D subspace along x of keypoint 0 in a 2-keypoint pose (4 coordinates), mean 0
    fit = PCAFit(
        "pca_singleview", np.zeros(4), np.array([[1.0, 0.0, 0.0, 0.0]]),
        np.array([1.0, 0.0, 0.0, 0.0]), 5.0, np.array([0, 1]),
    )  # fmt: skip
    loss = PCASingleviewLoss(fit, log_weight=2.0)
    # original pose (3, 4), (6, 8) -> model px (x + 0.5) / 2 - 0.5 ... give it in model px:
    pose = (np.array([[3.0, 4.0], [6.0, 8.0]]) + 0.5) * 0.5 - 0.5
    outputs = {"keypoints": torch.tensor(pose, dtype=torch.float32)[None, None]}
    outputs["likelihood"] = torch.ones(1, 1, 2)
    clip = {"scale": torch.tensor([[0.5, 0.5]])}
    # by hand: reprojection (3, 0, 0, 0); residual (0, 4, 6, 8): keypoint errors 4 and 10;
    # relu(e - 5): 0 and 5; mean 2.5; weight 1 / (2 e^2)
    assert float(loss.compute(outputs, clip)) == pytest.approx(2.5, rel=1e-5)
    assert float(loss(outputs, clip)) == pytest.approx(2.5 / (2 * math.exp(2.0)), rel=1e-5)


def test_total_loss_applies_each_weight_once() -> None:
    """``loss_terms``: 1/2 x heatmap MSE + anneal x weight x each unsupervised loss."""
    sup_out, batch = _supervised_batch()
    clip_out, clip = _clip_outputs([[0.0, 0.0], [15.0, 20.0], [15.0, 20.0]])
    temporal = TemporalLoss(log_weight=1.0, epsilon=20.0)
    outputs = {**sup_out, "unlabeled": clip_out}
    terms = loss_terms(outputs, batch, build_losses(default_config()), [temporal], 0.5,
                       clip=clip)  # fmt: skip
    assert float(terms["heatmap_mse"]) == pytest.approx(1.0 / 3.0)
    assert float(terms["temporal"]) == pytest.approx(0.5 * 15.0 / (2 * math.e), rel=1e-6)


def _mirror_mouse_cfg(resize: int, kind: str = "mse") -> dict:
    cfg = default_config()
    cfg["data"]["image_orig_dims"] = {"height": 406, "width": 396}
    cfg["data"]["image_resize_dims"] = {"height": resize, "width": resize}
    cfg["model"]["heatmap_loss_type"] = kind
    return cfg


def test_label_pull_matches_the_gaussian_formula() -> None:
    """MSE of two unit-mass Gaussians (sigma s) d apart: 2 S (1 - exp(-d^2 / 4 s^2)) with
    S = 1 / (4 pi s^2); slope at d = s: S / s * exp(-1/4) per heatmap pixel; weighted 1/2 and
    divided by the original pixels per heatmap pixel (4 * sqrt(406 / 256 * 396 / 256))."""
    s = 1.25
    slope = 1 / (4 * math.pi * s**2) / s * math.exp(-0.25)
    per_px = 4 * math.sqrt(406 / 256 * 396 / 256)
    assert label_pull_per_px(_mirror_mouse_cfg(256)) == pytest.approx(0.5 * slope / per_px, 0.01)
    # half the input size: a heatmap pixel covers twice the original pixels
    assert label_pull_per_px(_mirror_mouse_cfg(128)) == pytest.approx(
        label_pull_per_px(_mirror_mouse_cfg(256)) / 2, rel=1e-3
    )


@pytest.mark.parametrize("kind", ["mse", "kl"])
def test_closed_form_slope_is_the_discrete_maps_slope(kind: str) -> None:
    """Where the map holds the Gaussian and samples it finely (1 <= sigma <= size / 8) the
    closed form used without torch is the loss's own slope on the discrete maps to 0.5 %;
    where the border cuts it (sigma 5 on a 16 px map: 48 % off) or the pixels are coarse
    (sigma 0.75: 8 % off), the discrete maps decide."""
    for size in (16, 32, 64, 128):
        for sigma in (0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 8.0):
            if 1.0 <= sigma <= size / 8:
                assert heatmap_slope(kind, sigma, size) == pytest.approx(
                    discrete_heatmap_slope(kind, sigma, size), rel=5e-3
                ), (size, sigma)
    cut = heatmap_slope(kind, 5.0, 16)
    assert cut == discrete_heatmap_slope(kind, 5.0, 16)
    assert abs(cut - heatmap_slope(kind, 5.0, 64)) > 0.3 * cut
    assert heatmap_slope(kind, 0.75, 64) == discrete_heatmap_slope(kind, 0.75, 64)


def test_strength_is_scale_free_and_round_trips() -> None:
    mse256, kl256 = _mirror_mouse_cfg(256), _mirror_mouse_cfg(256, "kl")
    # Lightning Pose's paper weight (log_weight 5) and its shipped 10.7 at its own settings
    assert strength_of(5.0, mse256) == pytest.approx(1.33, abs=0.02)
    assert strength_of(10.7, mse256) == pytest.approx(0.0045, abs=0.0002)
    for cfg in (mse256, kl256, _mirror_mouse_cfg(128)):
        assert strength_of(log_weight_for(2.0, cfg), cfg) == pytest.approx(2.0)
    # the same strength needs a 25x larger weight under KL: slopes 1 / sigma vs S e^-1/4 / sigma
    ratio = math.exp(log_weight_for(1.0, mse256) - log_weight_for(1.0, kl256))
    assert ratio == pytest.approx(4 * math.pi * 1.25**2 * math.exp(0.25), rel=0.05)
