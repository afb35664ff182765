"""The frames a ``VideoReader`` keeps: decoded frames by index, converted to RGB when read.

The decoder passes through frames around the target anyway; they are kept unconverted (the
RGB conversion is the costly part) and converted on their first read. With a prefetcher the
frame farthest from the one read last is evicted first, so the prefetched window stays.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import av
import numpy as np

from napari_lightning_pose.cache import LRUCache
from napari_lightning_pose.io.video_decoder import to_rgb

#: The default cache holds about this many bytes of RGB frames.
CACHE_BUDGET_BYTES = 256 * 2**20


def default_cache_size(height: int, width: int, prefetch: bool) -> int:
    """Frames that fit ``CACHE_BUDGET_BYTES``, between 8 and 64 (128 with a prefetcher)."""
    frame_bytes = max(height * width * 3, 1)
    most = 128 if prefetch else 64
    return int(np.clip(CACHE_BUDGET_BYTES // frame_bytes, 8, most))


class FrameCache:
    """An LRU cache of one video's frames, each decoded (``av.VideoFrame``) or RGB.

    Not thread-safe: the reader's lock guards it. ``cursor`` is the frame read last;
    ``keep_near_cursor`` (a prefetcher fills the cache) evicts the frame farthest from it.
    """

    def __init__(self, size: int, height: int, width: int, keep_near_cursor: bool) -> None:
        self._frames: LRUCache[int, av.VideoFrame | np.ndarray] = LRUCache(size)
        self.height, self.width = height, width
        self.keep_near_cursor = keep_near_cursor
        self.cursor: int | None = None

    def __len__(self) -> int:
        return len(self._frames)

    def __contains__(self, k: int) -> bool:
        return k in self._frames

    def __iter__(self) -> Iterator[int]:
        return iter(self._frames)

    def clear(self) -> None:
        self._frames.clear()

    def put(self, k: int, frame: av.VideoFrame | np.ndarray) -> None:
        """Cache frame ``k`` (decoded but unconverted, or RGB) as the most recent entry."""
        if self.has_rgb(k):
            self._frames.touch(k)
        else:
            self._frames.put(k, frame, victim=self._farthest_from_cursor)

    def has_rgb(self, k: int) -> bool:
        """True when frame ``k`` is cached already converted to RGB."""
        return isinstance(self._frames.peek(k), np.ndarray)

    def rgb(self, k: int) -> np.ndarray:
        """Cached frame ``k`` as a read-only RGB array (converted now if need be)."""
        entry = self._frames.get(k)
        if not isinstance(entry, np.ndarray):
            entry = to_rgb(entry, self.height, self.width)
            self._frames.put(k, entry)
        return entry

    def _farthest_from_cursor(self, frames: Sequence[int]) -> int | None:
        """The frame to evict: the farthest from the cursor, or None (least recently used)."""
        cursor = self.cursor
        if not self.keep_near_cursor or cursor is None:
            return None
        return max(frames, key=lambda j: abs(j - cursor))
