"""Lazy video reading: a numpy-like ``(frames, height, width, 3)`` uint8 array decoded on demand.

How ``VideoReader`` finds frame ``i`` (one packet scan at opening, then a seek to the keyframe
before ``i`` and a forward decode) is told in ``io.video_index`` and ``io.video_decoder``;
which frames a numpy-style index selects, in ``io.frame_keys``; what the cache keeps, in
``io.frame_cache``.

A small LRU cache keeps recently read frames, a few frames before the target that the decoder
passed through anyway (so stepping backwards is cheap), and ``read_ahead`` frames after a
random access (so scrubbing forwards is smooth). One lock guards the decoder and the cache,
which makes a reader safe to share with napari's asynchronous slicing threads. A reader made
with ``prefetch=True`` (napari's video layers) also keeps the frames around the last one read
decoded, from a background thread with its own decoder (``io.prefetch``), so stepping back
and forth in a viewer rarely waits for a decode.

A frame whose data is present but does not decode raises ``VideoError`` naming the frame;
for files cut short or that cannot be opened at all, see ``io.video_index``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np

from napari_lightning_pose.errors import VideoError
from napari_lightning_pose.io.frame_cache import FrameCache, default_cache_size
from napari_lightning_pose.io.frame_keys import normalise_index, selected_frames, split_key
from napari_lightning_pose.io.video_decoder import Decoder, decode_range, to_rgb, undecodable
from napari_lightning_pose.io.video_index import (
    REENCODE,
    FrameIndex,
    VideoInfo,
    open_container,
    scan_frames,
    stream_fps,
)

if TYPE_CHECKING:
    from napari_lightning_pose.io.prefetch import Prefetcher

__all__ = ["VIDEO_SUFFIXES", "ReaderStats", "VideoReader"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")
"""File name endings the napari reader opens as videos (case-insensitive)."""


@dataclass
class ReaderStats:
    """Counters describing the work a ``VideoReader`` did, for benchmarks and tuning.

    Attributes
    ----------
    seeks : int
        Container seeks (each one restarts decoding at a keyframe).
    frames_decoded : int
        Frames that came out of the decoder.
    cache_hits : int
        Frame requests served from the cache without decoding.
    """

    seeks: int = 0
    frames_decoded: int = 0
    cache_hits: int = 0


class VideoReader:
    """A video as a lazy numpy-like array of shape (frames, height, width, 3), dtype uint8.

    Frames are decoded on demand: ``reader[i]`` is exactly frame ``i`` of a full sequential
    decode; ``reader[a:b:c]``, negative indices, integer lists and tuples such as
    ``reader[5, :, :, 0]`` work as on a numpy array. Reading is thread-safe, so the reader
    can be a napari Image layer's data. See the module docstring for how seeking works.

    Parameters
    ----------
    path : str or Path
        A video file FFmpeg can read (.mp4, .avi, .mov, .mkv, ...).
    cache_size : int, optional
        Frames kept in the LRU cache. Default: as many as fit in 256 MiB, between 8 and 64
        (64 for a 396 x 406 video, about 31 MB).
    read_ahead : int, optional
        Frames decoded (not converted) after the target on a random access, so stepping
        forwards afterwards is immediate. Default ``min(8, cache_size // 4)`` (0 with
        ``prefetch``); must be smaller than ``cache_size // 2``.
    prefetch : bool, optional
        Keep the frames around the last one read decoded in the cache, from a background
        thread (``io.prefetch.Prefetcher``: ``cache_size // 4`` ahead, ``cache_size // 2``
        behind), so a viewer stepping either way finds them ready. The default cache is
        then up to 128 frames (still within 256 MiB). For viewers; off by default.

    Raises
    ------
    VideoError
        If the file is missing, not a video, has no video stream, or no frame decodes.

    Examples
    --------
    >>> with VideoReader("videos/test_vid.mp4") as video:
    ...     frame = video[812]  # (406, 396, 3) uint8
    ...     for i, frame in video.iter_frames(0, 100):
    ...         ...
    """

    max_array_bytes: int = 2 * 2**30
    """``np.asarray(reader)`` decodes the whole video only below this size (bytes)."""

    def __init__(
        self,
        path: str | Path,
        cache_size: int | None = None,
        read_ahead: int | None = None,
        prefetch: bool = False,
    ) -> None:
        self.path = Path(path)
        container, stream = open_container(self.path)
        try:
            self._index = scan_frames(container, stream, self.path)
            self._fps = stream_fps(stream, self._index)
            self._codec = stream.codec_context.name
            self._time_base = stream.time_base
            height, width = stream.codec_context.height, stream.codec_context.width
        finally:
            container.close()
        if cache_size is None:
            cache_size = default_cache_size(height, width, prefetch)
        if read_ahead is None:  # with prefetch, the frames ahead are decoded in the background
            read_ahead = 0 if prefetch else min(8, cache_size // 4)
        if cache_size < 2 or not 0 <= read_ahead < cache_size // 2:
            raise ValueError(
                f"need cache_size >= 2 and 0 <= read_ahead < cache_size // 2, got "
                f"cache_size={cache_size}, read_ahead={read_ahead}"
            )
        self.cache_size = cache_size
        self.read_ahead = read_ahead
        self._look_behind = (cache_size - read_ahead - 1) // 2
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        self.prefetcher: Prefetcher | None = None
        self.stats = ReaderStats()

        self._decoder = Decoder(self.path, self._index)
        first = self._decoder.next()  # proves the video decodes, and is cached for napari
        if first is None:
            self._decoder.close()
            raise VideoError(self.path, "no frame of this video can be decoded.", REENCODE)
        if not (height and width):  # some containers only say once a frame is decoded
            height, width = first[1].height, first[1].width
        self._shape = (self._index.n_frames, int(height), int(width), 3)
        self._cache = FrameCache(cache_size, int(height), int(width), keep_near_cursor=prefetch)
        self.stats.frames_decoded += 1
        self._cache.put(*first)
        if prefetch:
            from napari_lightning_pose.io.prefetch import Prefetcher

            self.prefetcher = Prefetcher(self, behind=cache_size // 2, ahead=cache_size // 4)

    # ------------------------------------------------------------------ array-like interface
    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(n_frames, height, width, 3)."""
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        """Always ``uint8``."""
        return np.dtype(np.uint8)

    @property
    def ndim(self) -> int:
        """Always 4: frames, height, width, colour."""
        return 4

    @property
    def size(self) -> int:
        """Number of elements, as for a numpy array."""
        return int(np.prod(self._shape))

    @property
    def nbytes(self) -> int:
        """Bytes the whole video would take decoded (it never is, unless asked)."""
        return self.size

    def __len__(self) -> int:
        return self._shape[0]

    # ------------------------------------------------------------------ video properties
    @property
    def n_frames(self) -> int:
        """Number of readable frames."""
        return self._shape[0]

    def keyframe_before(self, i: int) -> int:
        """Index of the last keyframe at or before frame ``i``: where decoding ``i`` starts."""
        return self._index.keyframe_before(int(i))

    @property
    def fps(self) -> float:
        """Average frame rate (frames per second); ``nan`` if unknown."""
        return self._fps

    @property
    def info(self) -> VideoInfo:
        """The same description ``probe_video`` gives."""
        n, h, w, _ = self._shape
        return VideoInfo(self.path, n, self._fps, h, w, self._codec)

    @property
    def timestamps(self) -> np.ndarray:
        """Presentation time of each frame in seconds from the first, shape (n_frames,).

        Honest for variable-frame-rate files; ``arange(n) / fps`` when the file has no
        timestamps.
        """
        pts = self._index.pts
        if pts is None or not self._time_base:
            return np.arange(self.n_frames) / self._fps
        return ((pts - pts[0]) * float(Fraction(self._time_base))).astype(float)

    def __repr__(self) -> str:
        return f"VideoReader({str(self.path)!r}, shape={self._shape}, fps={self._fps:g})"

    # ------------------------------------------------------------------ indexing
    def __getitem__(self, key: Any) -> np.ndarray:
        """Frames selected numpy-style along axis 0, then any further indices applied.

        An integer gives one frame (height, width, 3); a slice or a list/array of integers
        gives (k, height, width, 3). Returned arrays are fresh copies the caller may modify.
        """
        frame_key, rest = split_key(key, self.ndim)
        n = self.n_frames
        if isinstance(frame_key, int | np.integer):
            frame = self._read(normalise_index(int(frame_key), n)).copy()
            return frame[rest] if rest else frame
        wanted = selected_frames(frame_key, n)
        out = np.empty((len(wanted), *self._shape[1:]), dtype=np.uint8)
        for j in np.argsort(wanted, kind="stable"):  # ascending: the decoder moves forwards
            out[j] = self._read(int(wanted[j]))
        return out[(slice(None), *rest)] if rest else out

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """Decode every frame into one array (refused above ``max_array_bytes``)."""
        if copy is False:
            raise ValueError("a VideoReader cannot be viewed as an array without decoding it")
        if self.nbytes > self.max_array_bytes:
            raise ValueError(
                f"{self.path}: decoding all {self.n_frames} frames would need "
                f"{self.nbytes / 2**30:.1f} GiB. Index the frames you need "
                "(reader[i], reader[a:b]) or loop with reader.iter_frames()."
            )
        frames = self[:]
        return frames if dtype is None else frames.astype(dtype)

    def __iter__(self) -> Iterator[np.ndarray]:
        for _, frame in self.iter_frames():
            yield frame

    # ------------------------------------------------------------------ sequential reading
    def iter_frames(
        self, start: int = 0, stop: int | None = None, step: int = 1
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, frame)`` for ``range(start, stop, step)`` in one forward decode.

        Uses its own decoder, so it is the fast way to read many frames, e.g. for prediction,
        and it does not disturb random access from other threads. It seeks once to reach
        ``start`` and afterwards only where ``step`` jumps over a whole keyframe interval.
        Frames are (height, width, 3) uint8 arrays the caller owns. ``start``/``stop`` follow
        ``range`` and are clipped to the video; ``step >= 1``.

        Raises
        ------
        VideoError
            When a frame in the range cannot be decoded (the frames before it were yielded).
        """
        if step < 1:
            raise ValueError(f"step must be >= 1, got {step}")
        self._check_open()
        _, height, width, _ = self._shape
        wanted = range(*slice(start, stop, step).indices(self.n_frames))
        yield from decode_range(self.path, self._index, wanted, height, width)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the file and drop the cache; reading afterwards raises ``ValueError``."""
        if self.prefetcher is not None:
            self.prefetcher.stop()
        with self._lock:
            if not self._closed:
                self._closed = True
                self._decoder.close()
                self._cache.clear()

    def __enter__(self) -> VideoReader:
        return self

    def __getstate__(self) -> dict[str, Any]:
        """Pickle as path and settings: the copy opens the file anew (e.g. in a worker)."""
        return {"path": self.path, "cache_size": self.cache_size, "read_ahead": self.read_ahead}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["cache_size"], state["read_ahead"])

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{self.path}: this VideoReader is closed.")

    def _read(self, i: int) -> np.ndarray:
        """Frame ``i`` (0 <= i < n_frames) as a read-only RGB array, from cache or decoder."""
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            self._check_open()
            self._cache.cursor = i
            if i in self._cache:
                self.stats.cache_hits += 1
                frame = self._cache.rgb(i)
            else:
                frame = self._decode_frame(i)
        if self.prefetcher is not None:
            self.prefetcher.point_at(i)  # after the read: it does not compete with it
        return frame

    def _after_fork(self) -> None:
        """In a forked child (e.g. a DataLoader worker), stop sharing the parent's file.

        A forked process shares the open file's read position with its parent, and the lock
        may have been copied while held, so the child gets its own lock, decoder and cache.
        """
        self._lock = threading.Lock()
        self._pid = os.getpid()
        _, height, width, _ = self._shape
        self._cache = FrameCache(self.cache_size, height, width, keep_near_cursor=False)
        self.prefetcher = None  # its thread stayed in the parent
        if not self._closed:
            self._decoder = Decoder(self.path, self._index)

    def _decode_frame(self, i: int, force_seek: bool = False) -> np.ndarray:
        decoder = self._decoder
        last = decoder.last
        kf = self._index.keyframe_before(i)
        # Decoding forwards from where the decoder is costs no more than a seek would.
        seeking = force_seek or last is None or not kf - 1 <= last < i
        if seeking:
            self.stats.seeks += 1
            item = decoder.seek(i)
        else:
            item = decoder.next()
        while item is not None and item[0] < i:
            self.stats.frames_decoded += 1
            if item[0] >= i - self._look_behind:
                self._cache.put(*item)
            item = decoder.next()
        if item is None or item[0] != i:
            if not seeking:  # the decoder may hold a broken reference: try once afresh
                return self._decode_frame(i, force_seek=True)
            raise undecodable(self.path, i, decoder.errors)
        self.stats.frames_decoded += 1
        self._cache.put(*item)
        if seeking:
            for _ in range(self.read_ahead):
                ahead = decoder.next()
                if ahead is None:
                    break
                self.stats.frames_decoded += 1
                self._cache.put(*ahead)
        return self._cache.rgb(i)

    # ------------------------------------------------------------------ for io.prefetch
    @property
    def frame_index(self) -> FrameIndex:
        """Where each frame and keyframe is in the file (read once, at opening)."""
        return self._index

    def cached_frames(self) -> set[int]:
        """The frames held in the cache now (any thread)."""
        with self._lock:
            return set(self._cache)

    def offer(self, k: int, frame: av.VideoFrame) -> bool:
        """Cache frame ``k`` decoded by another thread; False once the reader is closed.

        The RGB conversion runs on the calling thread (the prefetcher's), not the viewer's.
        """
        _, height, width, _ = self._shape
        with self._lock:
            if self._closed:
                return False
            if self._cache.has_rgb(k):
                return True
        rgb = to_rgb(frame, height, width)
        with self._lock:
            if self._closed:
                return False
            self._cache.put(k, rgb)
        return True
