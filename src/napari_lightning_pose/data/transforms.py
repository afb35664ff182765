"""Frame preprocessing and keypoint coordinate maps shared by training and prediction.

The labeled-frame dataset and video prediction both call :func:`to_model_input` (or its two
halves :func:`resize_frames` and :func:`normalize`), so a frame reaches the network the same
way in both. Coordinates follow one convention everywhere: x to the right, y down, pixel
centres at integers, so the top-left pixel covers [-0.5, 0.5) in x and y.

Three pixel grids appear: the original frame (H, W), the resized model input
(``data.image_resize_dims``: h, w) and the heatmap (h / stride, w / stride with
stride = 2 ** ``data.downsample_factor``). The helpers below move keypoints between them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

ArrayLike = np.ndarray | torch.Tensor


def resize_frames(
    frames: ArrayLike, resize_hw: tuple[int, int], device: torch.device | str | None = None
) -> torch.Tensor:
    """Turn uint8 frames into a float batch resized to the model input size, values 0..255.

    Shrinking uses antialiased bilinear interpolation so fine texture does not alias; greyscale
    frames are repeated to three channels.

    Parameters
    ----------
    frames
        uint8 array or tensor of shape (B, H, W, C) or (H, W, C) with C = 3 (RGB) or 1 (grey).
    resize_hw
        Output (height, width).
    device
        Where to compute; the uint8 data moves there before conversion (4x less to copy).

    Returns
    -------
    torch.Tensor
        float32, shape (B, 3, h, w), values in [0, 255] (up to interpolation overshoot).
    """
    if isinstance(frames, np.ndarray) and not frames.flags.writeable:
        frames = frames.copy()  # torch wants writable memory (PIL/video frames may be read-only)
    x = torch.as_tensor(frames)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"frames must be (B, H, W, 3|1) or (H, W, 3|1), got {tuple(x.shape)}")
    if device is not None:
        x = x.to(device, non_blocking=True)
    x = x.permute(0, 3, 1, 2).float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if tuple(x.shape[-2:]) != tuple(resize_hw):
        shrinking = x.shape[-2] > resize_hw[0] or x.shape[-1] > resize_hw[1]
        x = F.interpolate(
            x, size=tuple(resize_hw), mode="bilinear", align_corners=False, antialias=shrinking
        )
    return x.contiguous()


def normalize(images: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalise a float batch (B, 3, h, w) with values 0..255 (returns a new tensor)."""
    mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0
    std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0
    return (images - mean) / std


def to_model_input(
    frames: ArrayLike, resize_hw: tuple[int, int], device: torch.device | str | None = None
) -> torch.Tensor:
    """Preprocess uint8 frames for the network: resize, then ImageNet-normalise.

    Parameters
    ----------
    frames
        uint8 array or tensor, (B, H, W, C) or (H, W, C), C = 3 or 1.
    resize_hw
        Model input (height, width), ``data.image_resize_dims``.
    device
        Optional device to run the conversion on.

    Returns
    -------
    torch.Tensor
        float32 (B, 3, h, w), ImageNet-normalised.
    """
    return normalize(resize_frames(frames, resize_hw, device))


def resize_scale(orig_hw: tuple[int, int], resize_hw: tuple[int, int]) -> np.ndarray:
    """Per-axis factors (x, y) from original to resized pixels: (w / W, h / H), shape (2,)."""
    return np.array([resize_hw[1] / orig_hw[1], resize_hw[0] / orig_hw[0]], dtype=np.float64)


def keypoints_to_resized(keypoints: ArrayLike, scale: ArrayLike) -> ArrayLike:
    """Map keypoints (..., 2) from original to resized pixels given ``scale`` (x, y).

    Pixel centres stay pixel centres: ``x_r = (x + 0.5) * s - 0.5``. NaN stays NaN.
    """
    return (keypoints + 0.5) * scale - 0.5


def keypoints_to_original(keypoints: ArrayLike, scale: ArrayLike) -> ArrayLike:
    """Map keypoints (..., 2) from resized back to original pixels (inverse of the above)."""
    return (keypoints + 0.5) / scale - 0.5


def image_to_heatmap(keypoints: ArrayLike, stride: int) -> ArrayLike:
    """Map keypoints (..., 2) from model-input pixels to heatmap pixels of the given stride.

    Heatmap pixel j covers input pixels [j * stride, (j + 1) * stride), centred at
    ``j * stride + (stride - 1) / 2``.
    """
    return (keypoints - (stride - 1) / 2.0) / stride


def heatmap_to_image(keypoints: ArrayLike, stride: int) -> ArrayLike:
    """Map keypoints (..., 2) from heatmap pixels back to model-input pixels."""
    return keypoints * stride + (stride - 1) / 2.0
