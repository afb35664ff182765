"""Augmentation of a frame and its keypoints together, so labels stay on the body parts.

One random affine map (rotation, scale, translation and, when left/right keypoint pairs are
declared in ``data.flip_pairs``, a horizontal flip that swaps each pair) moves both the image
and its keypoints; brightness/contrast changes and motion blur touch only the image. Keypoints
moved outside the frame become NaN (missing), so the heatmap loss skips them.

It runs on the resized float image (values 0..255, before ImageNet normalisation) inside the
dataset, so a frame is resampled once. Draws come from a ``numpy.random.Generator``: the same
generator state gives the same result. ``training.imgaug`` picks the strength: ``"none"``,
``"default"`` or ``"dlc"`` (stronger, in the spirit of DeepLabCut's pipeline).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from napari_lightning_pose.errors import ConfigError


@dataclass(frozen=True)
class AugmentParams:
    """Probabilities and ranges of each augmentation (angles in degrees, shifts as fractions)."""

    p_rotate: float = 0.0
    max_rotation: float = 0.0
    p_scale: float = 0.0
    scale_range: tuple[float, float] = (1.0, 1.0)
    p_translate: float = 0.0
    max_translation: float = 0.0
    p_flip: float = 0.0
    p_color: float = 0.0
    max_brightness: float = 0.0  # fraction of 255 added
    contrast_range: tuple[float, float] = (1.0, 1.0)
    p_blur: float = 0.0
    blur_lengths: tuple[int, int] = (3, 7)  # odd kernel lengths in pixels, inclusive


PIPELINES: dict[str, AugmentParams] = {
    "none": AugmentParams(),
    "default": AugmentParams(
        p_rotate=0.5,
        max_rotation=25.0,
        p_scale=0.5,
        scale_range=(0.85, 1.15),
        p_translate=0.5,
        max_translation=0.08,
        p_flip=0.5,
        p_color=0.5,
        max_brightness=0.1,
        contrast_range=(0.75, 1.25),
        p_blur=0.3,
        blur_lengths=(3, 7),
    ),
    "dlc": AugmentParams(
        p_rotate=0.7,
        max_rotation=45.0,
        p_scale=0.7,
        scale_range=(0.7, 1.3),
        p_translate=0.7,
        max_translation=0.15,
        p_flip=0.5,
        p_color=0.7,
        max_brightness=0.2,
        contrast_range=(0.6, 1.4),
        p_blur=0.5,
        blur_lengths=(3, 9),
    ),
}


def pipeline_params(name: str) -> AugmentParams:
    """The ``AugmentParams`` for a ``training.imgaug`` name; ``ConfigError`` if unknown."""
    if name not in PIPELINES:
        raise ConfigError(
            None,
            f"unknown training.imgaug {name!r}.",
            f"Use one of: {', '.join(PIPELINES)}.",
        )
    return PIPELINES[name]


def flip_permutation(num_keypoints: int, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """Keypoint order after a horizontal flip: each (left, right) pair swaps, others stay."""
    perm = np.arange(num_keypoints)
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


def affine_matrix(
    hw: tuple[int, int], angle_deg: float, scale: float, shift_xy: tuple[float, float], flip: bool
) -> np.ndarray:
    """3x3 matrix mapping input pixels (x, y, 1) to output pixels, about the image centre.

    Order: optional horizontal flip, then rotation (counter-clockwise on screen for positive
    angles) and scaling about the centre, then a shift in pixels.
    """
    h, w = hw
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    to_centre = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=np.float64)
    mirror = np.diag([-1.0 if flip else 1.0, 1.0, 1.0])
    a = math.radians(angle_deg)
    # y points down, so this rotation turns the picture counter-clockwise as seen on screen
    rot = np.array(
        [[math.cos(a), math.sin(a), 0], [-math.sin(a), math.cos(a), 0], [0, 0, 1]],
        dtype=np.float64,
    )
    back = np.array([[1, 0, cx + shift_xy[0]], [0, 1, cy + shift_xy[1]], [0, 0, 1]])
    return back @ (scale * rot + np.diag([0, 0, 1 - scale])) @ mirror @ to_centre


def warp_image(image: torch.Tensor, matrix: np.ndarray) -> torch.Tensor:
    """Resample ``image`` (C, h, w) so that input pixel p lands on ``matrix @ p`` (bilinear).

    Output pixels whose source lies outside the image are 0.
    """
    _, h, w = image.shape
    inverse = torch.as_tensor(np.linalg.inv(matrix), dtype=torch.float32)
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    out_px = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1)  # (h, w, 3)
    src = out_px @ inverse.T  # (h, w, 3) source pixel of each output pixel
    # grid_sample's normalised coordinates with align_corners=False: pixel i -> (2i + 1)/n - 1
    grid = torch.stack([(2 * src[..., 0] + 1) / w - 1, (2 * src[..., 1] + 1) / h - 1], dim=-1)
    warped = F.grid_sample(
        image[None].float(), grid[None], mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return warped[0]


def motion_blur_kernel(length: int, angle_deg: float) -> torch.Tensor:
    """A normalised (length, length) kernel: a line of the given length through the centre."""
    r = (length - 1) / 2.0
    coords = torch.arange(length, dtype=torch.float32) - r
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    a = math.radians(angle_deg)
    along = xs * math.cos(a) + ys * math.sin(a)
    across = -xs * math.sin(a) + ys * math.cos(a)
    kernel = torch.clamp(1.0 - across.abs(), min=0.0) * (along.abs() <= r + 0.5).float()
    return kernel / kernel.sum()


def motion_blur(image: torch.Tensor, length: int, angle_deg: float) -> torch.Tensor:
    """Blur ``image`` (C, h, w) along a line, as a moving camera or animal would (same size)."""
    kernel = motion_blur_kernel(length, angle_deg).to(image)
    c = image.shape[0]
    weight = kernel.expand(c, 1, length, length)
    padded = F.pad(image[None], [length // 2] * 4, mode="replicate")
    return F.conv2d(padded, weight, groups=c)[0]


def adjust_color(image: torch.Tensor, brightness: float, contrast: float) -> torch.Tensor:
    """Scale contrast about the image mean and add ``brightness`` (in 0..255 units), clipped."""
    mean = image.mean()
    return ((image - mean) * contrast + mean + brightness).clamp(0.0, 255.0)


class Augmenter:
    """Random augmentation of an image and its keypoints, applied together.

    Parameters
    ----------
    params
        Ranges and probabilities, e.g. ``pipeline_params(cfg["training"]["imgaug"])``.
    flip_pairs
        (left, right) keypoint index pairs. Horizontal flips happen only when this is non-empty.
    """

    def __init__(self, params: AugmentParams, flip_pairs: Sequence[tuple[int, int]] = ()) -> None:
        self.params = params
        self.flip_pairs = [tuple(p) for p in flip_pairs]

    def __call__(
        self, image: torch.Tensor, keypoints: np.ndarray, rng: np.random.Generator
    ) -> tuple[torch.Tensor, np.ndarray]:
        """Augment one frame.

        Parameters
        ----------
        image
            float (C, h, w), values 0..255.
        keypoints
            (K, 2) in the image's pixels (x, y); NaN for missing.
        rng
            Source of all random draws.

        Returns
        -------
        image : torch.Tensor
            float (C, h, w), values 0..255.
        keypoints : np.ndarray
            (K, 2) float64 in the output image's pixels; NaN where missing or pushed outside.
        """
        p = self.params
        _, h, w = image.shape
        keypoints = np.asarray(keypoints, dtype=np.float64)
        angle = rng.uniform(-p.max_rotation, p.max_rotation) if rng.random() < p.p_rotate else 0.0
        scale = rng.uniform(*p.scale_range) if rng.random() < p.p_scale else 1.0
        shift = (0.0, 0.0)
        if rng.random() < p.p_translate:
            shift = tuple(rng.uniform(-p.max_translation, p.max_translation, 2) * (w, h))
        flip = bool(self.flip_pairs) and rng.random() < p.p_flip
        if angle or scale != 1.0 or shift != (0.0, 0.0) or flip:
            matrix = affine_matrix((h, w), angle, scale, shift, flip)
            image = warp_image(image, matrix)
            homog = np.concatenate([keypoints, np.ones((len(keypoints), 1))], axis=1)
            keypoints = (homog @ matrix.T)[:, :2]
            if flip:
                keypoints = keypoints[flip_permutation(len(keypoints), self.flip_pairs)]
        if rng.random() < p.p_blur:
            lo, hi = p.blur_lengths
            length = int(rng.choice(np.arange(lo, hi + 1, 2)))
            image = motion_blur(image, length, rng.uniform(0.0, 180.0))
        if rng.random() < p.p_color:
            brightness = rng.uniform(-p.max_brightness, p.max_brightness) * 255.0
            image = adjust_color(image, brightness, rng.uniform(*p.contrast_range))
        outside = (
            (keypoints[:, 0] < -0.5)
            | (keypoints[:, 0] > w - 0.5)
            | (keypoints[:, 1] < -0.5)
            | (keypoints[:, 1] > h - 0.5)
        )
        keypoints = keypoints.copy()
        keypoints[outside] = np.nan
        return image, keypoints
