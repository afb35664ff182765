"""The pose model: output dict shapes and ranges, config errors, and that it can learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from napari_lightning_pose.data.heatmaps import gaussian_heatmaps
from napari_lightning_pose.data.transforms import image_to_heatmap
from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.io.config import default_config
from napari_lightning_pose.losses.heatmap import HeatmapMSELoss
from napari_lightning_pose.models.backbones import build_backbone
from napari_lightning_pose.models.factory import build_model


def _cfg(backbone: str = "resnet18", downsample: int = 2, k: int = 3) -> dict:
    cfg = default_config()
    cfg["data"]["keypoint_names"] = [f"kp{i}" for i in range(k)]
    cfg["data"]["downsample_factor"] = downsample
    cfg["model"]["backbone"] = backbone
    cfg["model"]["backbone_weights"] = None
    return cfg


@pytest.mark.parametrize(("downsample", "stride"), [(1, 2), (2, 4), (3, 8)])
def test_outputs_have_documented_shapes_and_ranges(downsample: int, stride: int) -> None:
    torch.manual_seed(0)
    model = build_model(_cfg(downsample=downsample)).eval()
    with torch.inference_mode():
        out = model(torch.randn(2, 3, 64, 96))
    assert model.num_keypoints == 3 and model.heatmap_stride == stride
    assert out["heatmaps"].shape == (2, 3, 64 // stride, 96 // stride)
    assert out["keypoints"].shape == (2, 3, 2)
    assert out["likelihood"].shape == (2, 3)
    np.testing.assert_allclose(out["heatmaps"].sum(dim=(-2, -1)).numpy(), 1.0, rtol=1e-4)
    kp = out["keypoints"].numpy()
    assert (kp[..., 0] >= -0.5).all() and (kp[..., 0] <= 95.5).all()
    assert (kp[..., 1] >= -0.5).all() and (kp[..., 1] <= 63.5).all()
    assert ((out["likelihood"] >= 0) & (out["likelihood"] <= 1)).all()


def test_default_config_builds_efficientnet_with_imagenet_weights() -> None:
    cfg = default_config()
    cfg["data"]["keypoint_names"] = ["a", "b"]
    model = build_model(cfg)
    assert model.backbone.name == "efficientnet_lite0"
    reference = build_backbone("efficientnet_lite0", "imagenet").state_dict()
    assert torch.equal(model.backbone.state_dict()["_bn1.weight"], reference["_bn1.weight"])


def test_relative_weights_path_is_found_in_the_project_folder(tmp_path: Path) -> None:
    torch.manual_seed(5)
    source = build_backbone("resnet18", None)
    torch.save(source.state_dict(), tmp_path / "r18.pt")
    cfg = _cfg()
    cfg["data"]["data_dir"] = str(tmp_path)
    cfg["model"]["backbone_weights"] = "r18.pt"
    model = build_model(cfg)
    assert torch.equal(
        model.backbone.state_dict()["conv1.weight"], source.state_dict()["conv1.weight"]
    )


@pytest.mark.parametrize(
    ("model_type", "match"), [("regression", "not available"), ("cnn", "unknown")]
)
def test_unsupported_model_types_raise(model_type: str, match: str) -> None:
    cfg = _cfg()
    cfg["model"]["model_type"] = model_type
    with pytest.raises(ConfigError, match=match):
        build_model(cfg)


def test_config_without_keypoints_raises() -> None:
    cfg = _cfg(k=0)
    with pytest.raises(ConfigError, match="keypoint_names"):
        build_model(cfg)


def test_out_of_range_downsample_factor_raises() -> None:
    with pytest.raises(ConfigError, match="downsample_factor"):
        build_model(_cfg(downsample=5))


def test_loss_gradients_reach_backbone_and_head() -> None:
    torch.manual_seed(0)
    model = build_model(_cfg()).train()
    images = torch.randn(2, 3, 64, 64)
    keypoints = torch.tensor([[[10.0, 20.0], [30.0, 40.0], [np.nan, np.nan]]] * 2)
    batch = {
        "keypoints": keypoints,
        "heatmaps": gaussian_heatmaps(image_to_heatmap(keypoints, 4), (16, 16), 1.25),
    }
    HeatmapMSELoss()(model(images), batch).backward()
    for part in (model.backbone.conv1, model.head.final):
        assert torch.isfinite(part.weight.grad).all() and part.weight.grad.abs().sum() > 0


def _blob_batch(
    rng: np.random.Generator, n: int, size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dark frames with two bright blobs (keypoints 0 and 1) at random known positions."""
    kp = rng.uniform(8, size - 8, (n, 2, 2))
    ys, xs = np.mgrid[:size, :size]
    images = np.zeros((n, 3, size, size), dtype=np.float32)
    for i in range(n):
        for k in range(2):
            blob = np.exp(-((xs - kp[i, k, 0]) ** 2 + (ys - kp[i, k, 1]) ** 2) / (2 * 2.0**2))
            images[i, k] += 3.0 * blob  # keypoint k lights channel k: they are distinguishable
    return torch.from_numpy(images), torch.from_numpy(kp).float()


@pytest.mark.slow
def test_model_fits_blob_positions() -> None:
    """Fitting one batch of synthetic blobs drives the predicted keypoints onto the blobs.

    Checks that loss, heatmap targets and the keypoint read-out agree on coordinates: swapped
    axes or an off-by-stride error would leave the keypoints far off while the loss falls.
    """
    torch.manual_seed(0)
    images, kp = _blob_batch(np.random.default_rng(0), 4)
    batch = {
        "keypoints": kp,
        "heatmaps": gaussian_heatmaps(image_to_heatmap(kp, 4), (16, 16), 1.25),
    }
    model = build_model(_cfg(k=2)).train()
    loss_fn = HeatmapMSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(50):
        optimizer.zero_grad()
        out = model(images)
        loss = loss_fn(out, batch)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    error = (out["keypoints"].detach() - kp).norm(dim=-1)
    assert losses[-1] < losses[0] / 5
    assert float(error.median()) < 1.5
