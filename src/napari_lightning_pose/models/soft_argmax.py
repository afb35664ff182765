"""Differentiable keypoint read-out from heatmaps: spatial softmax, then a local soft-argmax.

The head's logits become a probability map per keypoint (``spatial_softmax``: each map sums to
1). The keypoint is the probability-weighted mean position inside a small window around the
map's maximum (``soft_argmax``). Restricting the mean to that window keeps a second, weaker
mode elsewhere in the map from pulling the estimate off the peak, while inside the window the
estimate is sub-pixel and differentiable in the heatmap values (the window's position itself
carries no gradient). The confidence is the probability mass inside the window: close to 1
for a sharp single peak, about window area / map area for a flat map. It is written to
prediction files as ``likelihood``, as Lightning Pose does.
"""

from __future__ import annotations

import math

import torch


def spatial_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the pixels of each map: (B, K, h, w) logits -> (B, K, h, w), sums to 1."""
    b, k, h, w = logits.shape
    return torch.softmax(logits.reshape(b, k, h * w).float(), dim=-1).reshape(b, k, h, w)


def peak_radius(sigma: float) -> int:
    """Half-width of the soft-argmax window for Gaussian targets of std ``sigma`` (>= 2 px).

    ceil(3 sigma) keeps > 99 % of a Gaussian's mass inside the window wherever the peak sits
    between pixel centres, so the windowed mean is not biased towards the central pixel.
    """
    return max(2, math.ceil(3.0 * sigma))


def soft_argmax(heatmaps: torch.Tensor, radius: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Sub-pixel peak location and confidence of each probability map.

    Parameters
    ----------
    heatmaps
        Non-negative maps (B, K, h, w), each summing to 1 (``spatial_softmax`` output).
    radius
        The window is (2 radius + 1) x (2 radius + 1) heatmap pixels around the maximum; near
        the map border it shrinks (per axis) to stay centred on the maximum.

    Returns
    -------
    keypoints : torch.Tensor
        (B, K, 2) as (x, y) in heatmap pixels, pixel centres at integers.
    confidence : torch.Tensor
        (B, K) in [0, 1]: probability mass inside the full-size window (clipped at the border),
        so the confidence does not drop just because a peak lies near the edge.
    """
    b, k, h, w = heatmaps.shape
    flat_idx = heatmaps.detach().reshape(b, k, h * w).argmax(dim=-1)  # (B, K)
    peak_y = torch.div(flat_idx, w, rounding_mode="floor").to(heatmaps.dtype)
    peak_x = (flat_idx % w).to(heatmaps.dtype)
    xs = torch.arange(w, device=heatmaps.device, dtype=heatmaps.dtype)
    ys = torch.arange(h, device=heatmaps.device, dtype=heatmaps.dtype)
    dx = (xs - peak_x[..., None]).abs()  # (B, K, w)
    dy = (ys - peak_y[..., None]).abs()  # (B, K, h)
    # near a border the window shrinks to stay symmetric about the peak pixel, so the part of
    # the peak that the border cuts off does not drag the mean inwards
    radius_x = torch.minimum(torch.minimum(peak_x, (w - 1) - peak_x), peak_x.new_tensor(radius))
    radius_y = torch.minimum(torch.minimum(peak_y, (h - 1) - peak_y), peak_y.new_tensor(radius))
    sym_x = (dx <= radius_x[..., None]).to(heatmaps.dtype)
    sym_y = (dy <= radius_y[..., None]).to(heatmaps.dtype)
    window = heatmaps * sym_y[..., :, None] * sym_x[..., None, :]  # (B, K, h, w)
    weight = window.sum(dim=(-2, -1)).clamp_min(1e-12)  # (B, K)
    x = (window.sum(dim=-2) * xs).sum(dim=-1) / weight
    y = (window.sum(dim=-1) * ys).sum(dim=-1) / weight
    near_x = (dx <= radius).to(heatmaps.dtype)
    near_y = (dy <= radius).to(heatmaps.dtype)
    mass = (heatmaps * near_y[..., :, None] * near_x[..., None, :]).sum(dim=(-2, -1))
    # an all-zero map has no mass: report the (arbitrary) argmax pixel with confidence 0
    empty = mass <= 1e-12
    x = torch.where(empty, peak_x, x)
    y = torch.where(empty, peak_y, y)
    return torch.stack([x, y], dim=-1), mass.clamp(0.0, 1.0)
