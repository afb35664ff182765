"""Augmentation keeps every keypoint on the image content it labels."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from napari_lightning_pose.data.augment import (
    PIPELINES,
    Augmenter,
    AugmentParams,
    motion_blur,
    pipeline_params,
)
from napari_lightning_pose.errors import ConfigError

HW = (96, 128)
GEOMETRY = AugmentParams(
    p_rotate=1.0,
    max_rotation=45.0,
    p_scale=1.0,
    scale_range=(0.7, 1.3),
    p_translate=1.0,
    max_translation=0.15,
)


def _dots(keypoints: np.ndarray, sigma: float = 1.5) -> torch.Tensor:
    """An image whose channel k holds a bright dot at keypoint k (up to three keypoints)."""
    ys, xs = np.mgrid[: HW[0], : HW[1]]
    image = np.zeros((3, *HW), np.float32)
    for k, (x, y) in enumerate(keypoints):
        image[k] = 255 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    return torch.from_numpy(image)


def _brightest(channel: torch.Tensor) -> np.ndarray:
    """Sub-pixel brightest point: centroid of the 3x3 neighbourhood of the maximum."""
    iy, ix = np.unravel_index(int(channel.argmax()), channel.shape)
    y0, x0 = max(iy - 1, 0), max(ix - 1, 0)
    patch = channel[y0 : iy + 2, x0 : ix + 2].double()
    ys, xs = np.mgrid[y0 : y0 + patch.shape[0], x0 : x0 + patch.shape[1]]
    return np.array([(patch.numpy() * xs).sum(), (patch.numpy() * ys).sum()]) / patch.sum().item()


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("params", [GEOMETRY, PIPELINES["dlc"]], ids=["geometry", "dlc"])
def test_dot_under_each_keypoint_moves_with_it(seed: int, params: AugmentParams) -> None:
    keypoints = np.array([[30.0, 40.0], [64.0, 48.0], [100.0, 20.0]])
    image, moved = Augmenter(params)(_dots(keypoints), keypoints, np.random.default_rng(seed))
    assert image.shape == (3, *HW)
    for k in range(3):
        if np.isnan(moved[k]).any():
            # it left the frame: its dot must be (nearly) gone too
            assert float(image[k].max()) < 0.5 * 255
            continue
        np.testing.assert_allclose(_brightest(image[k]), moved[k], atol=1.0)


def test_flip_swaps_declared_pairs() -> None:
    keypoints = np.array([[10.0, 20.0], [50.0, 20.0], [30.0, 40.0]])  # left, right, centre
    flip = AugmentParams(p_flip=1.0)
    image = _dots(keypoints)
    out, moved = Augmenter(flip, flip_pairs=[(0, 1)])(image, keypoints, np.random.default_rng(0))
    w = HW[1]
    expected = np.array([[w - 1 - 50.0, 20.0], [w - 1 - 10.0, 20.0], [w - 1 - 30.0, 40.0]])
    np.testing.assert_allclose(moved, expected, atol=1e-9)
    assert torch.allclose(out, torch.flip(image, dims=[-1]), atol=1e-3)


def test_no_flip_without_declared_pairs() -> None:
    keypoints = np.array([[10.0, 20.0]])
    image = _dots(keypoints)
    out, moved = Augmenter(AugmentParams(p_flip=1.0))(image, keypoints, np.random.default_rng(0))
    assert torch.equal(out, image)
    np.testing.assert_array_equal(moved, keypoints)


def test_keypoints_pushed_out_of_the_frame_become_nan() -> None:
    zoom = AugmentParams(p_scale=1.0, scale_range=(2.0, 2.0))
    centre = ((HW[1] - 1) / 2, (HW[0] - 1) / 2)
    keypoints = np.array([[2.0, 3.0], list(centre), [np.nan, np.nan]])
    _, moved = Augmenter(zoom)(_dots(keypoints[:2]), keypoints, np.random.default_rng(0))
    assert np.isnan(moved[0]).all()  # corner, zoomed 2x about the centre: far outside
    np.testing.assert_allclose(moved[1], centre)  # the centre stays put
    assert np.isnan(moved[2]).all()  # missing stays missing


def test_same_generator_state_gives_the_same_result() -> None:
    keypoints = np.array([[30.0, 40.0], [64.0, 48.0]])
    image = _dots(keypoints)
    aug = Augmenter(PIPELINES["dlc"])
    a = aug(image, keypoints, np.random.default_rng(7))
    b = aug(image, keypoints, np.random.default_rng(7))
    c = aug(image, keypoints, np.random.default_rng(8))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1], equal_nan=True)
    assert not torch.equal(a[0], c[0])


def test_none_pipeline_is_the_identity() -> None:
    keypoints = np.array([[30.0, 40.0]])
    image = _dots(keypoints)
    out, moved = Augmenter(pipeline_params("none"))(image, keypoints, np.random.default_rng(0))
    assert torch.equal(out, image)
    np.testing.assert_array_equal(moved, keypoints)


def test_colour_changes_stay_in_range_and_leave_keypoints() -> None:
    colour = replace(AugmentParams(), p_color=1.0, max_brightness=0.5, contrast_range=(0.2, 3.0))
    keypoints = np.array([[30.0, 40.0]])
    out, moved = Augmenter(colour)(_dots(keypoints), keypoints, np.random.default_rng(1))
    assert float(out.min()) >= 0.0 and float(out.max()) <= 255.0
    np.testing.assert_array_equal(moved, keypoints)


@pytest.mark.parametrize("angle", [0.0, 45.0, 90.0, 135.0])
def test_motion_blur_keeps_brightness_and_dot_centre(angle: float) -> None:
    image = _dots(np.array([[64.0, 48.0]]))[:1]
    blurred = motion_blur(image, 7, angle)
    assert blurred.shape == image.shape
    assert float(blurred.sum()) == pytest.approx(float(image.sum()), rel=1e-3)
    assert float(blurred.max()) < float(image.max())  # it did blur
    np.testing.assert_allclose(_brightest(blurred[0]), [64.0, 48.0], atol=0.5)


def test_unknown_pipeline_name_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="none, default, dlc"):
        pipeline_params("heavy")
