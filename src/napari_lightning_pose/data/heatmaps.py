"""Gaussian heatmap targets: the supervised signal the heatmap network learns to output.

Each keypoint becomes a Gaussian bump of standard deviation ``losses.heatmap_sigma`` (in heatmap
pixels) centred on its sub-pixel location, normalised to sum to 1 over the map so that it is
directly comparable with the network's spatial-softmax output. A missing (NaN) keypoint gives an
all-zero map, which the heatmap losses read as "leave this keypoint out".
"""

from __future__ import annotations

import numpy as np
import torch


def gaussian_heatmaps(
    keypoints: np.ndarray | torch.Tensor,
    heatmap_hw: tuple[int, int],
    sigma: float,
    normalize: bool = True,
) -> torch.Tensor:
    """Draw one Gaussian per keypoint on a heatmap grid.

    Parameters
    ----------
    keypoints
        Keypoint locations in heatmap pixels (x, y; pixel centres at integers), shape (..., K, 2),
        e.g. (K, 2) for one frame or (B, K, 2) for a batch. NaN rows mark missing keypoints.
    heatmap_hw
        Heatmap (height, width).
    sigma
        Standard deviation in heatmap pixels.
    normalize
        Scale each map to sum to 1 (default). Otherwise the peak value is 1 at the keypoint.

    Returns
    -------
    torch.Tensor
        float32, shape (..., K, h, w). Maps of missing keypoints, and of keypoints so far outside
        the grid that nothing of their Gaussian lands on it, are all zero.
    """
    kp = torch.as_tensor(keypoints, dtype=torch.float32)
    if kp.shape[-1] != 2:
        raise ValueError(f"keypoints must have shape (..., K, 2), got {tuple(kp.shape)}")
    h, w = heatmap_hw
    missing = torch.isnan(kp).any(dim=-1)  # (..., K)
    kp = torch.nan_to_num(kp, nan=0.0)
    xs = torch.arange(w, dtype=torch.float32, device=kp.device)
    ys = torch.arange(h, dtype=torch.float32, device=kp.device)
    # separable Gaussian: exp(-dx^2 / 2s^2) * exp(-dy^2 / 2s^2)
    gx = torch.exp(-((xs - kp[..., 0:1]) ** 2) / (2.0 * sigma**2))  # (..., K, w)
    gy = torch.exp(-((ys - kp[..., 1:2]) ** 2) / (2.0 * sigma**2))  # (..., K, h)
    maps = gy.unsqueeze(-1) * gx.unsqueeze(-2)  # (..., K, h, w)
    if normalize:
        total = maps.sum(dim=(-2, -1), keepdim=True)
        maps = torch.where(total > 1e-6, maps / total.clamp_min(1e-12), torch.zeros_like(maps))
    return maps.masked_fill(missing[..., None, None], 0.0)
