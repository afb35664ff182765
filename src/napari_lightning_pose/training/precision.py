"""Mixed precision: which autocast dtype ``training.precision`` means on a device.

Training may run under bf16/fp16 autocast; measuring pixel errors never does (see
``training.evaluation``): bf16 moved keypoints by up to 1.7 px on GPUs, which is more than
the differences between checkpoints that choose ``best.ckpt``.
"""

from __future__ import annotations

from typing import Any

import torch

from napari_lightning_pose.errors import ConfigError


def autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    """``torch.autocast`` to ``dtype`` on ``device``, or a no-op context when dtype is None."""
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def amp_dtype_for(precision: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``training.precision`` on ``device``; None means full float32.

    ``"auto"`` is bf16 on CUDA GPUs that support it and float32 elsewhere; ``"32"`` /
    ``"32-true"`` force float32; ``"16-mixed"`` (CUDA only, with a GradScaler) and
    ``"bf16-mixed"`` choose mixed precision.
    """
    p = str(precision).lower()
    cuda = device.type == "cuda"
    if p in ("32", "32-true", "fp32", "float32"):
        return None
    if p == "auto":
        return torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else None
    if p in ("bf16", "bf16-mixed"):
        return torch.bfloat16
    if p in ("16", "16-mixed", "fp16"):
        if not cuda:
            raise ConfigError(
                None,
                "training.precision '16-mixed' needs a CUDA GPU.",
                "Use 'auto', '32' or 'bf16-mixed' on the CPU.",
            )
        return torch.float16
    raise ConfigError(
        None,
        f"training.precision is {precision!r}.",
        "Use one of: auto, 32, 16-mixed, bf16-mixed.",
    )
