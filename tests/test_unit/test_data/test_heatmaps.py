"""Gaussian heatmap targets: peaked on the keypoint, normalised, empty for missing ones."""

from __future__ import annotations

import numpy as np
import torch

from napari_lightning_pose.data.heatmaps import gaussian_heatmaps


def test_peak_sits_on_the_keypoint() -> None:
    kp = np.array([[10.0, 5.0], [6.4, 9.6]])  # >= 4 sigma from the border: not truncated
    maps = gaussian_heatmaps(kp, (16, 20), sigma=1.25)
    assert maps.shape == (2, 16, 20)
    for k, (x, y) in enumerate(kp):
        iy, ix = np.unravel_index(int(maps[k].argmax()), (16, 20))
        assert (ix, iy) == (round(x), round(y))
        ys, xs = torch.meshgrid(torch.arange(16.0), torch.arange(20.0), indexing="ij")
        centroid = ((maps[k] * xs).sum(), (maps[k] * ys).sum())
        np.testing.assert_allclose([float(c) for c in centroid], [x, y], atol=1e-3)


def test_maps_sum_to_one_or_peak_at_one() -> None:
    kp = torch.tensor([[[8.0, 8.0]], [[4.5, 2.0]]])  # (B=2, K=1, 2)
    maps = gaussian_heatmaps(kp, (16, 16), sigma=2.0)
    assert maps.shape == (2, 1, 16, 16)
    np.testing.assert_allclose(maps.sum(dim=(-2, -1)).numpy(), 1.0, rtol=1e-5)
    raw = gaussian_heatmaps(kp, (16, 16), sigma=2.0, normalize=False)
    assert float(raw[0, 0, 8, 8]) == 1.0


def test_missing_and_far_away_keypoints_give_empty_maps() -> None:
    kp = torch.tensor([[np.nan, np.nan], [500.0, -400.0], [4.0, 4.0]])
    maps = gaussian_heatmaps(kp, (16, 16), sigma=1.25)
    assert float(maps[0].abs().sum()) == 0.0
    assert float(maps[1].abs().sum()) == 0.0
    assert float(maps[2].sum()) > 0.99
    assert torch.isfinite(maps).all()
