"""Heatmap head: upsamples stride-32 backbone features to one heatmap per keypoint.

The head narrows the features with a 1x1 convolution, then doubles the resolution a few times
(bilinear upsampling + 3x3 convolution, which avoids the checkerboard artefacts of transposed
convolutions) until the heatmaps reach 1 / 2**downsample_factor of the input size, and ends
with a 1x1 convolution to ``num_keypoints`` channels of logits. Channels halve at each step
(128, 64, 32, 32, ...), which keeps the head cheap next to the backbone on a CPU.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class HeatmapHead(nn.Module):
    """Turn features (B, C, H/32, W/32) into heatmap logits (B, K, H/s, W/s), s = heatmap stride.

    Parameters
    ----------
    in_channels
        Channels of the backbone features (C).
    num_keypoints
        Heatmaps to output (K).
    num_upsamples
        How many times to double the resolution: 5 - downsample_factor for a stride-32
        backbone (3 gives stride 4, 4 gives stride 2).
    width
        Channels after the first 1x1 convolution; halved at each upsampling, never below 32.
    """

    def __init__(
        self, in_channels: int, num_keypoints: int, num_upsamples: int, width: int = 128
    ) -> None:
        super().__init__()
        if num_upsamples < 0:
            raise ValueError(f"num_upsamples must be >= 0, got {num_upsamples}")
        self.num_upsamples = num_upsamples
        self.reduce = conv_bn_relu(in_channels, width, 1)
        stages = []
        c = width
        for _ in range(num_upsamples):
            c_out = max(32, c // 2)
            stages.append(
                nn.Sequential(
                    nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                    conv_bn_relu(c, c_out, 3),
                )
            )
            c = c_out
        self.upsample = nn.Sequential(*stages)
        self.final = nn.Conv2d(c, num_keypoints, kernel_size=1)
        # near-zero logits: heatmaps start almost flat, so early confidence is low and the
        # first losses are moderate
        nn.init.normal_(self.final.weight, std=1e-3)
        nn.init.zeros_(self.final.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Heatmap logits (B, K, h, w), float32, from features (B, C, h / 2**num_upsamples, ...).

        The last 1x1 convolution runs in float32 even under autocast: bfloat16 logits carry
        only ~3 significant digits, too coarse for sub-pixel peaks (it is a tiny layer).
        """
        x = self.upsample(self.reduce(features))
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.final(x.float())
