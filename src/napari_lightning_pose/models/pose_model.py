"""The pose network: backbone + heatmap head + soft-argmax, built from the project config.

``models.factory.build_model(cfg)`` picks the model class from ``model.model_type``. Every
model takes a batch
of preprocessed images (``data.transforms.to_model_input``) and returns a dict of outputs, so
losses and the training loop read outputs by name and new model types (Lightning Pose's
context model ``heatmap_mhcrnn``, input (B, 5, 3, H, W), ``models.context``) slot in beside
``heatmap`` without changing them. Outputs of ``PoseHeatmapModel``:

- ``"heatmaps"``: (B, K, h, w) probability maps (each sums to 1), h = H / 2**downsample_factor;
- ``"keypoints"``: (B, K, 2) as (x, y) in model-input (resized image) pixels, pixel centres at
  integers;
- ``"likelihood"``: (B, K) confidence in [0, 1].

Precision on CUDA (measured on an H200 with models fitted to synthetic blobs): training under
bfloat16 or float16 autocast learns as float32 does. For inference prefer float32 or float16
autocast: float16 moved keypoints by < 0.01 px, bfloat16 by up to 1.7 px (ResNet-50) and
flipped an ambiguous peak by 20 px (ResNet-18). The head's last layer always runs in float32.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from napari_lightning_pose.data.transforms import heatmap_to_image
from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.models.heads import HeatmapHead
from napari_lightning_pose.models.soft_argmax import soft_argmax, spatial_softmax


class PoseHeatmapModel(nn.Module):
    """Single-frame heatmap pose network.

    Parameters
    ----------
    backbone
        Feature extractor with ``out_channels`` and ``stride`` (see ``build_backbone``).
    num_keypoints
        Number of keypoints K.
    downsample_factor
        Heatmaps are 1 / 2**downsample_factor of the input size (1, 2 or 3).
    peak_radius
        Half-width in heatmap pixels of the soft-argmax window (see ``soft_argmax``).

    Attributes
    ----------
    num_keypoints : int
    heatmap_stride : int
        Input pixels per heatmap pixel, 2**downsample_factor.
    model_type : str
        ``"heatmap"``.
    """

    model_type = "heatmap"

    def __init__(
        self, backbone: nn.Module, num_keypoints: int, downsample_factor: int, peak_radius: int
    ) -> None:
        super().__init__()
        stride = int(backbone.stride)
        self.heatmap_stride = 2**downsample_factor
        if not 1 <= self.heatmap_stride < stride:
            raise ConfigError(
                None,
                f"data.downsample_factor {downsample_factor} is out of range.",
                "Use 1 (heatmaps at 1/2 of the input), 2 (1/4, the default) or 3 (1/8).",
            )
        num_upsamples = (stride // self.heatmap_stride).bit_length() - 1
        self.backbone = backbone
        self.head = HeatmapHead(backbone.out_channels, num_keypoints, num_upsamples)
        self.num_keypoints = num_keypoints
        self.peak_radius = peak_radius

    def forward(self, images: torch.Tensor, clip: torch.Tensor | None = None) -> dict[str, Any]:
        """Predict heatmaps, keypoints and confidences for a batch of frames (and clips).

        Parameters
        ----------
        images
            (B, 3, H, W) ImageNet-normalised frames, H and W multiples of 32.
        clip
            Optional unlabeled clips (C, T, 3, H, W); they go through the backbone in the
            same call as ``images``.

        Returns
        -------
        dict
            ``"heatmaps"`` (B, K, H/s, W/s), ``"keypoints"`` (B, K, 2) in input pixels,
            ``"likelihood"`` (B, K), with s = ``heatmap_stride``; with ``clip`` also
            ``"unlabeled"``: the same keys for the clips, shaped (C, T, ...).
        """
        if clip is None:
            return self.heads(self.backbone(images))
        b, (c, t) = images.shape[0], clip.shape[:2]
        frames = torch.cat([images, clip.flatten(0, 1).to(memory_format=_layout(images))])
        out = self.heads(self.backbone(frames))
        labeled = {k: v[:b] for k, v in out.items()}
        labeled["unlabeled"] = {k: v[b:].unflatten(0, (c, t)) for k, v in out.items()}
        return labeled

    def heads(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Outputs (see :meth:`forward`) from backbone features (N, C, H/32, W/32)."""
        return heatmap_outputs(self.head(features), self.peak_radius, self.heatmap_stride)


def heatmap_outputs(logits: torch.Tensor, radius: int, stride: int) -> dict[str, torch.Tensor]:
    """Heatmaps, keypoints (input pixels) and likelihoods from heatmap logits (N, K, h, w)."""
    heatmaps = spatial_softmax(logits)
    keypoints, likelihood = soft_argmax(heatmaps, radius)
    return {
        "heatmaps": heatmaps,
        "keypoints": heatmap_to_image(keypoints, stride),
        "likelihood": likelihood,
    }


def _layout(x: torch.Tensor) -> torch.memory_format:
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


#: How a context model's prediction picks between its heads (``best_head``).
HEAD_CHOICES = ("confident", "context", "single")


def best_head(
    outputs: Mapping[str, Any], choice: str = "confident"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keypoints (B, K, 2) and likelihoods (B, K) to report.

    For a context model ``choice`` picks the head: ``"confident"`` takes each keypoint from
    whichever head (single-frame or context) is more confident, as Lightning Pose does;
    ``"context"`` or ``"single"`` always take that head. A single-frame model has one head.
    """
    kp, like = outputs["keypoints"], outputs["likelihood"]
    if "context_keypoints" not in outputs or choice == "single":
        return kp, like
    if choice == "context":
        return outputs["context_keypoints"], outputs["context_likelihood"]
    if choice != "confident":
        raise ValueError(f"head choice must be one of {HEAD_CHOICES}, got {choice!r}")
    use_ctx = outputs["context_likelihood"] > like
    kp = torch.where(use_ctx[..., None], outputs["context_keypoints"], kp)
    return kp, torch.where(use_ctx, outputs["context_likelihood"], like)


def head_prefixes(model: nn.Module) -> tuple[str, ...]:
    """Output-name prefixes of the model's heads: ``("",)``, or ``("", "context_")`` for a
    context model (its context head's outputs are ``context_heatmaps`` ...)."""
    return tuple(getattr(model, "head_prefixes", ("",)))


def head_outputs(outputs: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """One head's ``heatmaps``, ``keypoints`` and ``likelihood`` from a model's outputs."""
    return {
        key: outputs[prefix + key]
        for key in ("heatmaps", "keypoints", "likelihood")
        if prefix + key in outputs
    }
