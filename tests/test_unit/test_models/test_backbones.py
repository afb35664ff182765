"""Backbones build by name, load weights from every route, and fail clearly when they cannot."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from napari_lightning_pose.data.transforms import to_model_input
from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.models.backbones import (
    BACKBONES,
    build_backbone,
    efficientnet_lite0_weights_path,
)

EXPECTED_CHANNELS = {
    "efficientnet_lite0": 1280,
    "efficientnet_lite0_s16": 112,
    "resnet18": 512,
    "resnet34": 512,
    "resnet50": 2048,
}


def _features(backbone: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    backbone.eval()
    with torch.inference_mode():
        return backbone(x)


@pytest.mark.parametrize("name", BACKBONES)
def test_each_backbone_gives_features_at_its_stride(name: str) -> None:
    backbone = build_backbone(name, weights=None)
    features = _features(backbone, torch.randn(2, 3, 64, 96))
    stride = 16 if name.endswith("_s16") else 32
    assert backbone.stride == stride
    assert backbone.out_channels == EXPECTED_CHANNELS[name]
    assert features.shape == (2, EXPECTED_CHANNELS[name], 64 // stride, 96 // stride)


def test_efficientnet_lite0_s16_is_the_pretrained_network_cut_at_stride_16() -> None:
    """Same ImageNet weights as the full network for every layer it keeps, and its output is
    the full network's after the stride-16 stage (block 10)."""
    cut = build_backbone("efficientnet_lite0_s16", weights="imagenet").eval()
    full = build_backbone("efficientnet_lite0", weights="imagenet").eval()
    full_state = full.state_dict()
    assert all(torch.equal(v, full_state[k]) for k, v in cut.state_dict().items())
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        y = full._swish(full._bn0(full._conv_stem(x)))
        for block in full._blocks[:11]:
            y = block(y)
        torch.testing.assert_close(cut(x), y)


def test_unknown_backbone_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="resnet18"):
        build_backbone("resnet19", weights=None)


def test_efficientnet_lite0_imagenet_weights_load_offline_and_differ_from_random() -> None:
    torch.manual_seed(0)
    random_init = build_backbone("efficientnet_lite0", weights=None)
    pretrained = build_backbone("efficientnet_lite0", weights="imagenet")
    stem_random = random_init.state_dict()["_conv_stem.weight"]
    stem_pretrained = pretrained.state_dict()["_conv_stem.weight"]
    assert not torch.allclose(stem_random, stem_pretrained)
    file_state = torch.load(efficientnet_lite0_weights_path(), weights_only=True)
    assert torch.equal(stem_pretrained, file_state["_conv_stem.weight"])


@pytest.mark.parametrize(
    ("image_name", "classes"),
    [("chelsea", range(281, 286)), ("coffee", (967, 968))],  # cats; espresso, cup
)
def test_efficientnet_lite0_imagenet_features_recognise_imagenet_classes(
    image_name: str, classes
) -> None:
    """Our backbone + our preprocessing + the package's classifier name the picture's class."""
    import skimage.data

    image = getattr(skimage.data, image_name)()  # uint8 (H, W, 3), shipped with scikit-image
    backbone = build_backbone("efficientnet_lite0", weights="imagenet")
    features = _features(backbone, to_model_input(image, (224, 224)))
    state = torch.load(efficientnet_lite0_weights_path(), weights_only=True)
    logits = features.mean(dim=(2, 3)) @ state["_fc.weight"].T + state["_fc.bias"]
    assert int(logits.argmax()) in classes


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
@pytest.mark.parametrize("name", ["resnet18", "efficientnet_lite0"])
def test_local_weights_file_round_trips_into_a_fresh_backbone(
    tmp_path: Path, name: str, suffix: str
) -> None:
    torch.manual_seed(1)
    source = build_backbone(name, weights=None)
    path = tmp_path / f"weights{suffix}"
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    torch.manual_seed(2)  # a fresh backbone would start elsewhere
    loaded = build_backbone(name, weights=str(path))
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(_features(source, x), _features(loaded, x))


def test_full_torchvision_state_dict_with_classifier_loads(tmp_path: Path) -> None:
    """A file saved from a whole torchvision ResNet (fc included, DDP prefix) loads."""
    net = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, path)
    backbone = build_backbone("resnet18", weights=path)
    assert torch.equal(
        backbone.state_dict()["layer4.1.bn2.weight"], net.state_dict()["layer4.1.bn2.weight"]
    )


def test_weights_of_another_architecture_raise_config_error(tmp_path: Path) -> None:
    path = tmp_path / "r18.pt"
    torch.save(build_backbone("resnet18", weights=None).state_dict(), path)
    with pytest.raises(ConfigError, match="do not fit backbone 'resnet50'") as info:
        build_backbone("resnet50", weights=path)
    assert str(path) in str(info.value)


def test_missing_weights_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.pth"
    with pytest.raises(ConfigError, match="not found") as info:
        build_backbone("resnet18", weights=path)
    assert str(path) in str(info.value)


def test_corrupt_weights_file_raises_config_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(ConfigError, match="cannot read backbone weights"):
        build_backbone("resnet18", weights=path)


def test_resnet_imagenet_uses_torchvision_weights_url(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(3)
    reference = torchvision.models.resnet34(weights=None).state_dict()
    calls = []

    def fake_download(url, **kwargs):
        calls.append((url, kwargs))
        return reference

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    backbone = build_backbone("resnet34", weights="imagenet")
    assert calls[0][0] == torchvision.models.ResNet34_Weights.IMAGENET1K_V1.url
    assert calls[0][1]["weights_only"] is True
    assert torch.equal(backbone.state_dict()["conv1.weight"], reference["conv1.weight"])


def test_resnet_imagenet_offline_names_both_offline_routes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def offline(url, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(ConfigError) as info:
        build_backbone("resnet50", weights="imagenet")
    message = str(info.value)
    assert "efficientnet_lite0" in message
    assert "model.backbone_weights" in message
    assert torchvision.models.ResNet50_Weights.IMAGENET1K_V1.url in message


@pytest.mark.parametrize("weights", ["none", "random", "None"])
def test_random_init_spellings_load_nothing(weights: str) -> None:
    torch.manual_seed(4)
    reference = build_backbone("resnet18", weights=None).state_dict()
    torch.manual_seed(4)
    spelled = build_backbone("resnet18", weights=weights).state_dict()
    assert all(torch.equal(reference[k], spelled[k]) for k in reference)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet18"])
def test_batch_norm_statistics_adapt_to_new_images_within_tens_of_steps(name: str) -> None:
    """Fine-tuning on new footage: eval-mode statistics must catch up in a short run."""
    backbone = build_backbone(name, weights="imagenet" if name == "efficientnet_lite0" else None)
    stem_conv, stem_bn = (
        (backbone._conv_stem, backbone._bn0)
        if name == "efficientnet_lite0"
        else (backbone.conv1, backbone.bn1)
    )
    torch.manual_seed(0)
    images = torch.randn(4, 3, 64, 64) * 0.3 + 1.5  # far from ImageNet statistics
    with torch.no_grad():
        target = stem_conv(images).mean(dim=(0, 2, 3))
        start_gap = (stem_bn.running_mean - target).abs().max()
        backbone.train()
        for _ in range(40):
            backbone(images)
    gap = (stem_bn.running_mean - target).abs().max()
    assert gap < 0.05 * start_gap
