"""Readers and writers: lazy video, label and prediction CSVs, project config.

``VideoReader``, ``VideoInfo`` and ``probe_video`` are imported on first use, so importing
this package stays cheap (no PyAV until a video is opened).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "VideoReader": "napari_lightning_pose.io.video",
    "VideoInfo": "napari_lightning_pose.io.video_index",
    "probe_video": "napari_lightning_pose.io.video_index",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
