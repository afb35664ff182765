"""Preprocessing shared by training and prediction, and the keypoint coordinate maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_lightning_pose.data.transforms import (
    IMAGENET_MEAN,
    heatmap_to_image,
    image_to_heatmap,
    keypoints_to_original,
    keypoints_to_resized,
    resize_frames,
    resize_scale,
    to_model_input,
)


def _dot_image(hw: tuple[int, int], xy: tuple[float, float], sigma: float = 3.0) -> np.ndarray:
    ys, xs = np.mgrid[: hw[0], : hw[1]]
    blob = np.exp(-((xs - xy[0]) ** 2 + (ys - xy[1]) ** 2) / (2 * sigma**2))
    return np.repeat((255 * blob).astype(np.uint8)[..., None], 3, axis=-1)


def _centroid(channel: torch.Tensor) -> np.ndarray:
    weights = channel.double().clamp_min(0)
    ys, xs = torch.meshgrid(
        torch.arange(channel.shape[0]), torch.arange(channel.shape[1]), indexing="ij"
    )
    total = weights.sum()
    return np.array([float((weights * xs).sum() / total), float((weights * ys).sum() / total)])


@pytest.mark.parametrize(
    "frames",
    [
        np.zeros((40, 30, 3), np.uint8),
        np.zeros((2, 40, 30, 3), np.uint8),
        torch.zeros(2, 40, 30, 3, dtype=torch.uint8),
        np.zeros((40, 30, 1), np.uint8),
    ],
)
def test_to_model_input_accepts_single_frames_batches_and_greyscale(frames) -> None:
    out = to_model_input(frames, (64, 32))
    batch = 1 if frames.ndim == 3 else frames.shape[0]
    assert out.shape == (batch, 3, 64, 32)
    assert out.dtype == torch.float32


def test_to_model_input_rejects_other_shapes() -> None:
    with pytest.raises(ValueError, match="frames must be"):
        to_model_input(np.zeros((40, 30), np.uint8), (32, 32))


def test_imagenet_mean_colour_normalises_to_zero() -> None:
    frame = np.empty((32, 32, 3), np.float32)
    frame[:] = np.array(IMAGENET_MEAN) * 255
    out = to_model_input(torch.from_numpy(frame), (32, 32))
    assert out.abs().max() < 1e-5


def test_greyscale_and_rgb_copies_give_the_same_input() -> None:
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (50, 40, 1), dtype=np.uint8)
    rgb = np.repeat(grey, 3, axis=-1)
    assert torch.equal(to_model_input(grey, (32, 32)), to_model_input(rgb, (32, 32)))


def test_read_only_frames_are_accepted_unchanged() -> None:
    frame = np.full((20, 20, 3), 7, np.uint8)
    frame.flags.writeable = False
    assert resize_frames(frame, (20, 20)).unique().tolist() == [7.0]


def test_resizing_moves_image_content_exactly_as_keypoints_move() -> None:
    orig_hw, resize_hw = (406, 396), (256, 256)
    for xy in [(100.0, 50.0), (300.5, 333.25), (20.0, 380.0)]:
        resized = resize_frames(_dot_image(orig_hw, xy, sigma=6.0), resize_hw)[0, 0]
        expected = keypoints_to_resized(np.array(xy), resize_scale(orig_hw, resize_hw))
        np.testing.assert_allclose(_centroid(resized), expected, atol=0.1)


def test_resized_and_original_keypoints_round_trip_and_keep_nan() -> None:
    scale = resize_scale((406, 396), (256, 256))
    np.testing.assert_allclose(scale, [256 / 396, 256 / 406])
    kp = np.array([[0.0, 0.0], [395.0, 405.0], [np.nan, np.nan]])
    back = keypoints_to_original(keypoints_to_resized(kp, scale), scale)
    np.testing.assert_allclose(back, kp)
    # the pixel area is preserved: the outer pixel edges map onto each other
    np.testing.assert_allclose(keypoints_to_resized(np.array([-0.5, -0.5]), scale), [-0.5, -0.5])
    np.testing.assert_allclose(
        keypoints_to_resized(np.array([395.5, 405.5]), scale), [255.5, 255.5]
    )


@pytest.mark.parametrize("stride", [2, 4, 8])
def test_heatmap_pixels_are_centred_on_their_input_pixel_blocks(stride: int) -> None:
    image = torch.zeros(1, 1, 64, 64)
    image[..., 3 * stride : 4 * stride, 5 * stride : 6 * stride] = 1.0  # heatmap pixel (5, 3)
    centre = _centroid(image[0, 0])
    np.testing.assert_allclose(image_to_heatmap(centre, stride), [5.0, 3.0])
    np.testing.assert_allclose(heatmap_to_image(np.array([5.0, 3.0]), stride), centre)
