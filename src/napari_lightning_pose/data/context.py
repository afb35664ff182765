"""The context model's window: frames t-2 .. t+2 (one definition for the whole package).

Frame selection exports these neighbours beside each frame to label, the labeled-frame
dataset reads them for ``heatmap_mhcrnn`` models, and video prediction slides a window of
this size over the video.
"""

from __future__ import annotations

import numpy as np

#: Frames on each side of the frame of interest.
CONTEXT_RADIUS = 2
#: Offsets of the window's frames relative to the frame of interest: (-2, -1, 0, 1, 2).
CONTEXT_OFFSETS: tuple[int, ...] = tuple(range(-CONTEXT_RADIUS, CONTEXT_RADIUS + 1))
#: Frames in a window (5).
CONTEXT_FRAMES = len(CONTEXT_OFFSETS)


def window_indices(frames: np.ndarray | list[int], n_frames: int) -> np.ndarray:
    """Indices (N, 5) of each frame's window in a video of ``n_frames`` frames; at the
    edges the nearest existing frame repeats."""
    centre = np.asarray(frames, dtype=np.int64)[:, None]
    return np.clip(centre + np.asarray(CONTEXT_OFFSETS)[None, :], 0, n_frames - 1)
