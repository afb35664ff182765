"""Heatmap losses: zero for a perfect prediction, blind to missing keypoints, and they teach."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_lightning_pose.data.heatmaps import gaussian_heatmaps
from napari_lightning_pose.io.config import default_config
from napari_lightning_pose.losses.heatmap import HeatmapKLLoss, HeatmapMSELoss
from napari_lightning_pose.models.soft_argmax import soft_argmax, spatial_softmax

LOSSES = [HeatmapMSELoss, HeatmapKLLoss]
HW = (16, 20)


def _batch(keypoints: torch.Tensor) -> dict:
    return {"keypoints": keypoints, "heatmaps": gaussian_heatmaps(keypoints, HW, 1.25)}


def _outputs(logits: torch.Tensor) -> dict:
    return {"heatmaps": spatial_softmax(logits)}


@pytest.mark.parametrize("loss_cls", LOSSES)
def test_perfect_prediction_costs_nothing_and_a_wrong_one_costs(loss_cls) -> None:
    batch = _batch(torch.tensor([[[5.0, 6.0], [12.0, 3.5]]]))
    perfect = {"heatmaps": batch["heatmaps"].clone()}
    wrong = {"heatmaps": gaussian_heatmaps(torch.tensor([[[9.0, 9.0], [2.0, 12.0]]]), HW, 1.25)}
    assert float(loss_cls()(perfect, batch)) == pytest.approx(0.0, abs=1e-9)
    assert float(loss_cls()(wrong, batch)) > 0


@pytest.mark.parametrize("loss_cls", LOSSES)
def test_all_missing_keypoints_give_zero_loss_and_finite_zero_gradients(loss_cls) -> None:
    batch = _batch(torch.full((2, 3, 2), float("nan")))
    logits = torch.randn(2, 3, *HW, requires_grad=True)
    loss = loss_cls()(_outputs(logits), batch)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(logits.grad).all()
    assert float(logits.grad.abs().sum()) == 0.0


@pytest.mark.parametrize("loss_cls", LOSSES)
def test_missing_keypoint_does_not_change_the_loss(loss_cls) -> None:
    keypoints = torch.tensor([[[5.0, 6.0], [float("nan"), float("nan")]]])
    batch = _batch(keypoints)
    torch.manual_seed(0)
    logits = torch.randn(1, 2, *HW)
    other = logits.clone()
    other[:, 1] = torch.randn(*HW) * 10  # whatever the model says about the missing keypoint
    assert float(loss_cls()(_outputs(logits), batch)) == pytest.approx(
        float(loss_cls()(_outputs(other), batch))
    )
    only_first = {"keypoints": keypoints[:, :1], "heatmaps": batch["heatmaps"][:, :1]}
    assert float(loss_cls()(_outputs(logits), batch)) == pytest.approx(
        float(loss_cls()(_outputs(logits[:, :1]), only_first))
    )


def test_mse_matches_its_definition() -> None:
    torch.manual_seed(1)
    batch = _batch(torch.tensor([[[5.0, 6.0], [12.0, 3.5]]]))
    pred = spatial_softmax(torch.randn(1, 2, *HW))
    # per map: squared error summed over pixels (mean x h*w, Lightning Pose's scaling)
    expected = ((pred - batch["heatmaps"]) ** 2).sum(dim=(-2, -1)).mean()
    assert float(HeatmapMSELoss()({"heatmaps": pred}, batch)) == pytest.approx(float(expected))


def test_kl_matches_its_definition() -> None:
    torch.manual_seed(2)
    batch = _batch(torch.tensor([[[5.0, 6.0]]]))
    pred = spatial_softmax(torch.randn(1, 1, *HW))
    t = batch["heatmaps"]
    expected = (t * (t.clamp_min(1e-12).log() - pred.log())).sum()
    assert float(HeatmapKLLoss()({"heatmaps": pred}, batch)) == pytest.approx(
        float(expected), rel=1e-4
    )


@pytest.mark.parametrize("loss_cls", LOSSES)
def test_minimising_the_loss_moves_the_peak_onto_the_label(loss_cls) -> None:
    """Gradient descent on free logits with this loss lands the soft-argmax on the target."""
    target = torch.tensor([[[13.3, 4.6]]])
    batch = _batch(target)
    logits = torch.zeros(1, 1, *HW, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.1)
    for _ in range(200):
        optimizer.zero_grad()
        loss_cls()(_outputs(logits), batch).backward()
        optimizer.step()
    keypoints, confidence = soft_argmax(spatial_softmax(logits.detach()), 4)
    np.testing.assert_allclose(keypoints.numpy(), target.numpy(), atol=0.1)
    assert float(confidence) > 0.8


def test_kl_gives_flat_initial_maps_far_larger_gradients_than_mse() -> None:
    """Why ``kl`` is the default: on the nearly flat maps a fresh head outputs, the KL
    gradient on the logits is (prediction - target), while MSE's is damped by the tiny
    softmax probabilities (~1 / pixels), so MSE starts on a plateau."""
    keypoints = torch.tensor([[[32.0, 20.0]]])
    batch = {"keypoints": keypoints, "heatmaps": gaussian_heatmaps(keypoints, (64, 64), 1.25)}
    norms = {}
    for loss_cls in LOSSES:
        logits = torch.zeros(1, 1, 64, 64, requires_grad=True)
        loss_cls()(_outputs(logits), batch).backward()
        norms[loss_cls.name] = float(logits.grad.norm())
    assert norms["heatmap_kl"] > 100 * norms["heatmap_mse"]


def test_default_heatmap_loss_is_lightning_pose_mse() -> None:
    assert default_config()["model"]["heatmap_loss_type"] == "mse"
