"""The soft-argmax read-out finds peaks to sub-pixel accuracy and reports a usable confidence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_lightning_pose.data.heatmaps import gaussian_heatmaps
from napari_lightning_pose.data.transforms import heatmap_to_image, image_to_heatmap
from napari_lightning_pose.models.soft_argmax import peak_radius, soft_argmax, spatial_softmax

SIGMA = 1.25


def test_recovers_subpixel_gaussian_peaks() -> None:
    rng = np.random.default_rng(0)
    truth = np.stack([rng.uniform(3, 60, 32), rng.uniform(3, 44, 32)], axis=-1)  # (32, 2)
    maps = gaussian_heatmaps(truth[None], (48, 64), SIGMA)  # (1, 32, 48, 64)
    keypoints, confidence = soft_argmax(maps, peak_radius(SIGMA))
    np.testing.assert_allclose(keypoints[0].numpy(), truth, atol=0.02)
    assert (confidence > 0.95).all() and (confidence <= 1.0).all()


@pytest.mark.parametrize("offset", [0.0, 0.3, 1.0, 1.6, 2.5])
def test_peaks_near_the_border_are_not_dragged_inwards(offset: float) -> None:
    truth = np.array([[offset, offset], [63.0 - offset, 47.0 - offset]])
    maps = gaussian_heatmaps(truth[None], (48, 64), SIGMA)
    keypoints, confidence = soft_argmax(maps, peak_radius(SIGMA))
    np.testing.assert_allclose(keypoints[0].numpy(), truth, atol=0.35)
    assert (confidence > 0.9).all() and (confidence <= 1.0).all()


def test_flat_map_gives_low_confidence() -> None:
    flat = torch.full((1, 1, 48, 64), 1.0 / (48 * 64))
    _, confidence = soft_argmax(flat, peak_radius(SIGMA))
    assert 0.0 <= float(confidence) < 0.05


def test_sharper_peak_gives_higher_confidence() -> None:
    centre = torch.tensor([[[30.0, 20.0]]])
    sharp = gaussian_heatmaps(centre, (48, 64), 1.0)
    broad = gaussian_heatmaps(centre, (48, 64), 6.0)
    _, c_sharp = soft_argmax(sharp, 4)
    _, c_broad = soft_argmax(broad, 4)
    assert float(c_sharp) > 0.9 > 0.5 > float(c_broad)


def test_weaker_second_mode_does_not_pull_the_estimate() -> None:
    strong = gaussian_heatmaps(torch.tensor([[[10.0, 10.0]]]), (48, 64), SIGMA)
    weak = gaussian_heatmaps(torch.tensor([[[50.0, 40.0]]]), (48, 64), SIGMA)
    mixed = 0.7 * strong + 0.3 * weak
    keypoints, confidence = soft_argmax(mixed, peak_radius(SIGMA))
    np.testing.assert_allclose(keypoints[0, 0].numpy(), [10.0, 10.0], atol=0.05)
    assert float(confidence) == pytest.approx(0.7, abs=0.02)


def test_all_zero_map_is_finite_with_zero_confidence() -> None:
    keypoints, confidence = soft_argmax(torch.zeros(2, 3, 16, 16), 4)
    assert torch.isfinite(keypoints).all()
    assert (confidence == 0).all()


def test_gradients_flow_from_keypoints_and_confidence_to_logits() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 16, 16, requires_grad=True)
    keypoints, confidence = soft_argmax(spatial_softmax(logits), 4)
    (keypoints.sum() + confidence.sum()).backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0


def test_spatial_softmax_maps_sum_to_one() -> None:
    probs = spatial_softmax(torch.randn(2, 3, 8, 10) * 5)
    np.testing.assert_allclose(probs.sum(dim=(-2, -1)).numpy(), 1.0, rtol=1e-5)


@pytest.mark.parametrize("stride", [2, 4, 8])
def test_image_keypoint_survives_target_and_readout(stride: int) -> None:
    """Image px -> heatmap target -> soft-argmax -> image px returns the same point."""
    truth = torch.tensor([[[37.3, 101.6], [200.0, 60.25]]])  # (1, 2, 2) in a 256 x 256 input
    maps = gaussian_heatmaps(
        image_to_heatmap(truth, stride), (256 // stride, 256 // stride), SIGMA
    )
    keypoints, _ = soft_argmax(maps, peak_radius(SIGMA))
    np.testing.assert_allclose(heatmap_to_image(keypoints, stride).numpy(), truth, atol=0.1)
