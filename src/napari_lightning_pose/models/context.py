"""The context model (``model.model_type: heatmap_mhcrnn``): predict frame t from t-2..t+2.

Design. Each of the five frames goes through the shared backbone ONCE. Two heads read the
features:

- the **single-frame head** (``HeatmapHead``, as in ``PoseHeatmapModel``) sees frame t only;
- the **context head** reduces each frame's stride-32 features with one shared 1x1
  convolution (C -> 64 channels, BatchNorm, ReLU), stacks the five reduced maps in window
  order (320 channels) and decodes them with a ``HeatmapHead`` of its own (1x1 mixing,
  bilinear upsampling + 3x3 convolutions). The first convolution mixes the frames at every
  location with weights learned per offset, so the head can fall back on a neighbour where
  frame t is occluded or blurred.

Lightning Pose instead upsamples each frame's features and runs a bidirectional
convolutional recurrence over the five maps at heatmap resolution. Fusing at stride 32
before upsampling costs a fraction of that (the upsampling runs once, not five times) and
keeps every window position's weights separate, which a recurrence shares; what it gives up
is recurrent gating. ``benchmarks/ablation_mirror_mouse.py`` measures what context adds.

Both heads are trained on labeled frames and both feed the unsupervised losses
(``training.step``); at prediction each keypoint takes the more confident head
(``pose_model.best_head``). Outputs: those of ``PoseHeatmapModel`` for the single-frame head
plus ``context_heatmaps``, ``context_keypoints``, ``context_likelihood``.

Video prediction computes each frame's backbone features once and slides the window over
them (:meth:`PoseContextModel.window_outputs`, used by ``predict``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from napari_lightning_pose.data.context import CONTEXT_FRAMES, CONTEXT_RADIUS
from napari_lightning_pose.models.heads import HeatmapHead, conv_bn_relu
from napari_lightning_pose.models.pose_model import PoseHeatmapModel, best_head, heatmap_outputs

REDUCED_CHANNELS = 64


class ContextHead(nn.Module):
    """Heatmap logits (N, K, h, w) from the features of a window (N, 5, C, H/32, W/32)."""

    def __init__(self, in_channels: int, num_keypoints: int, num_upsamples: int) -> None:
        super().__init__()
        self.reduce = conv_bn_relu(in_channels, REDUCED_CHANNELS, 1)
        self.decode = HeatmapHead(CONTEXT_FRAMES * REDUCED_CHANNELS, num_keypoints, num_upsamples)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Logits (N, K, h, w), float32."""
        n, f = windows.shape[:2]
        reduced = self.reduce(windows.flatten(0, 1))  # (N * 5, 64, h', w')
        return self.decode(reduced.unflatten(0, (n, f)).flatten(1, 2))


class PoseContextModel(PoseHeatmapModel):
    """Single-frame head + context head over one shared backbone (see module docstring).

    Takes windows (B, 5, 3, H, W), frame t in the middle; ``clip`` (C, T + 4, 3, H, W) gives
    outputs for its T middle frames, each from its own window.
    """

    model_type = "heatmap_mhcrnn"
    head_prefixes = ("", "context_")

    def __init__(
        self,
        backbone: nn.Module,
        num_keypoints: int,
        downsample_factor: int,
        peak_radius: int,
        neighbour_gradients: bool = False,
    ) -> None:
        super().__init__(backbone, num_keypoints, downsample_factor, peak_radius)
        self.context_head = ContextHead(
            backbone.out_channels, num_keypoints, self.head.num_upsamples
        )
        self.neighbour_gradients = neighbour_gradients

    def forward(self, images: torch.Tensor, clip: torch.Tensor | None = None) -> dict[str, Any]:
        """Outputs of both heads for windows (B, 5, 3, H, W) and, optionally, clips."""
        if images.dim() != 5 or images.shape[1] != CONTEXT_FRAMES:
            raise ValueError(
                f"a heatmap_mhcrnn model takes windows (B, {CONTEXT_FRAMES}, 3, H, W), got "
                f"{tuple(images.shape)}"
            )
        b = images.shape[0]
        if self.neighbour_gradients or not torch.is_grad_enabled():
            frames = [images.flatten(0, 1)]
            if clip is not None:
                frames.append(clip.flatten(0, 1))
            feats = self.frame_features(torch.cat(frames))
            labeled = feats[: b * CONTEXT_FRAMES].unflatten(0, (b, CONTEXT_FRAMES))
            clip_feats = feats[b * CONTEXT_FRAMES :]
        else:
            labeled, clip_feats = self._features_without_neighbour_gradients(images, clip)
        out = self.window_outputs(labeled)
        if clip is not None:
            c, length = clip.shape[:2]
            clip_feats = clip_feats.unflatten(0, (c, length))
            windows = clip_feats.unfold(1, CONTEXT_FRAMES, 1)  # (C, T, ch, h, w, 5)
            windows = windows.permute(0, 1, 5, 2, 3, 4).flatten(0, 1)
            t = length - CONTEXT_FRAMES + 1
            clip_out = self.window_outputs(windows)
            out["unlabeled"] = {k: v.unflatten(0, (c, t)) for k, v in clip_out.items()}
        return out

    def _features_without_neighbour_gradients(
        self, images: torch.Tensor, clip: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Window features (B, 5, C, h, w) and the clips' frame features (C * L, C, h, w)
        where only frames that are some window's centre carry gradients to the backbone.

        A labeled window's four neighbours, and a clip's first and last two frames, go
        through the backbone without autograd (the same values: BatchNorm is frozen or in the
        same mode), which skips four fifths of a labeled batch's backward pass.
        """
        centre = [images[:, CONTEXT_RADIUS]]
        if clip is not None:
            centre.append(clip[:, CONTEXT_RADIUS:-CONTEXT_RADIUS].flatten(0, 1))
        with torch.no_grad():
            side = [images[:, [i for i in range(CONTEXT_FRAMES) if i != CONTEXT_RADIUS]]]
            if clip is not None:
                edges = [*range(CONTEXT_RADIUS), *range(-CONTEXT_RADIUS, 0)]
                side.append(clip[:, edges])
            side_feats = self.frame_features(torch.cat([s.flatten(0, 1) for s in side]))
        centre_feats = self.frame_features(torch.cat(centre))
        b, r = images.shape[0], CONTEXT_RADIUS
        ch = centre_feats.shape[1:]
        around = side_feats[: b * 2 * r].unflatten(0, (b, 2 * r))
        labeled = torch.cat([around[:, :r], centre_feats[:b, None], around[:, r:]], dim=1)
        if clip is None:
            return labeled, centre_feats[:0]
        c, length = clip.shape[:2]
        edge = side_feats[b * 2 * r :].unflatten(0, (c, 2 * r))
        middle = centre_feats[b:].unflatten(0, (c, length - 2 * r))
        clip_feats = torch.cat([edge[:, :r], middle, edge[:, r:]], dim=1)
        return labeled, clip_feats.reshape(c * length, *ch)

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Backbone features (N, C, H/32, W/32) of single frames (N, 3, H, W)."""
        return self.backbone(frames.contiguous(memory_format=torch.channels_last))

    def window_outputs(self, windows: torch.Tensor) -> dict[str, torch.Tensor]:
        """Both heads' outputs from window features (N, 5, C, H/32, W/32)."""
        out = self.heads(windows[:, CONTEXT_RADIUS])
        ctx = heatmap_outputs(self.context_head(windows), self.peak_radius, self.heatmap_stride)
        out.update({f"context_{k}": v for k, v in ctx.items()})
        return out


class SlidingWindows:
    """Context-model prediction that computes each frame's backbone features once.

    Features of incoming frames join a buffer; every frame whose window t-2..t+2 is complete
    gets both heads' outputs (``window_outputs``), the buffer keeps the last 4 frames'
    features. The first and last frame's features are repeated at the video's edges (the
    same windows as ``data.context.window_indices``), so a video shorter than 5 frames is
    predicted too.
    """

    def __init__(self, model: nn.Module, head: str = "confident") -> None:
        self.model = model
        self.head = head  # pose_model.best_head's choice
        self.buffer: torch.Tensor | None = None
        self.next_frame = 0  # first frame without outputs yet

    def push(
        self, images: torch.Tensor, last: bool
    ) -> tuple[np.ndarray, tuple[torch.Tensor, torch.Tensor]]:
        """Add frames (B, 3, H, W); returns the frames now predicted and their outputs."""
        feats = self.model.frame_features(images)
        if self.buffer is None:  # left edge: frame 0 stands in for frames -2 and -1
            feats = torch.cat([feats[:1].expand(CONTEXT_RADIUS, *feats.shape[1:]), feats])
        else:
            feats = torch.cat([self.buffer, feats])
        if last:  # right edge: the last frame stands in for the 2 frames after it
            feats = torch.cat([feats, feats[-1:].expand(CONTEXT_RADIUS, *feats.shape[1:])])
        ready = feats.shape[0] - 2 * CONTEXT_RADIUS
        self.buffer = feats[-2 * CONTEXT_RADIUS :]
        if ready <= 0:
            return np.zeros(0, dtype=np.int64), (feats[:0], feats[:0])
        windows = feats.unfold(0, CONTEXT_FRAMES, 1).permute(0, 4, 1, 2, 3)
        kp, like = best_head(self.model.window_outputs(windows), self.head)
        indices = np.arange(self.next_frame, self.next_frame + ready)
        self.next_frame += ready
        return indices, (kp, like)
