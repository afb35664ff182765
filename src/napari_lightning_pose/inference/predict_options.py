"""How prediction runs the network: batch size, device, frame range and the speed-ups
(bf16 autocast, NHWC layout, ``torch.compile``) with the defaults the benchmarks chose."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class InferenceOptions:
    """How the network runs: batch size, device and optional speed-ups.

    What ``benchmarks/bench_predict.py`` measured decided the defaults:

    - ``amp`` (bf16 autocast; fp16 on GPUs without bf16). None (default) means: on a CPU
      with native bf16 instructions (``avx512_bf16`` / ``amx_bf16``) yes, where it made
      ResNet-18/50 prediction 1.6-2x faster on an AMD EPYC while moving keypoints by
      about 0.01 px (max 0.03 px); elsewhere no. On an H200 it did not help, because
      prediction there is bound by video decoding (about 520 frames/s; float32 ran at
      1.04x the decode-only time, autocast at 1.1-1.2x: its host-side work competes with
      the decoding thread).
    - ``channels_last`` (NHWC layout). None (default) means: on a CPU yes, where it made
      prediction 1.2-1.6x faster in float32 and 1.3-1.4x on top of bf16 (ResNet-18/50,
      EfficientNet-Lite0, 2 cores); on a GPU no, where it did not pay off for the same
      decode-bound reason.
    - ``compile`` (``torch.compile``, slow first run) is off: it did not pay off on the GPU.
      Turn it on for heavy models where the network is the bottleneck.
    - ``metrics``: also write the video metrics (``video_metrics``) beside the CSV.
    """

    batch_size: int = 16
    device: str | torch.device | None = None
    channels_last: bool | None = None
    amp: bool | None = None
    compile: bool = False
    queue_batches: int = 3
    # frame range [start, stop) to predict (the CSV holds those rows); None = to the end
    start: int = 0
    stop: int | None = None
    # a video cut short (fewer frames than its header says) writes OUT; otherwise the
    # readable frames go to <out>.partial.csv and a VideoError says so
    allow_partial: bool = False
    metrics: bool = True
    # context models: which head's keypoints to write (models.pose_model.best_head)
    context_head: str = "confident"

    def use_channels_last(self, device: torch.device) -> bool:
        """Whether the network and its inputs run in NHWC layout on ``device``."""
        return self.channels_last if self.channels_last is not None else device.type == "cpu"

    def amp_dtype(self, device: torch.device) -> torch.dtype | None:
        """The autocast dtype on ``device``, or None for float32."""
        use = self.amp if self.amp is not None else device.type == "cpu" and cpu_has_bf16()
        if not use:
            return None
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            return torch.float16
        return torch.bfloat16


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU runs bf16 natively (Linux: ``avx512_bf16`` or ``amx_bf16`` flag)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(text.split()))
