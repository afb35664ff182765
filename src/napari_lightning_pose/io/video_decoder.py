"""Decoding a video forward from a keyframe, labelling each frame with its display index.

Reading frame ``i`` seeks to the last keyframe at or before it (from the frame index of
``io.video_index``) and decodes forward until the frame whose PTS is frame ``i``'s. The
decoder stays where it stopped, so reading ``i + 1`` next decodes one frame and does not
seek. A ``VideoReader`` keeps one decoder for random access and opens another for each
``iter_frames`` (``decode_range``); the prefetch thread (``io.prefetch``) has its own. A
process forked while decoders are open keeps its copies of them alive for good
(``_keep_inherited_decoders``). A frame that does not decode raises ``undecodable``'s error.
"""

from __future__ import annotations

import os
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import numpy as np

from napari_lightning_pose.errors import VideoError
from napari_lightning_pose.io.video_index import REENCODE, FrameIndex, open_container


def rgb_array(frame: av.VideoFrame, height: int, width: int) -> np.ndarray:
    """A decoded frame as an RGB array (height, width, 3), uint8, scaled on this thread.

    ``threads=1``: PyAV >= 17 scales with FFmpeg's slice threads by default, and a forked
    child (a data-loader worker, or ``ffmpeg`` started by napari's own reader through
    imageio) does not have them: with PyAV 18.1.1 such a child hung for good in
    ``sws_scale_frame``, or in ``sws_freeContext`` when it freed a frame converter. One
    thread also keeps the scaling off the other core, which our decoders already use.
    """
    return np.ascontiguousarray(
        frame.to_ndarray(format="rgb24", height=height, width=width, threads=1)
    )


def to_rgb(frame: av.VideoFrame, height: int, width: int) -> np.ndarray:
    """Convert a decoded frame to a read-only RGB array of shape (height, width, 3), uint8."""
    rgb = rgb_array(frame, height, width)
    rgb.flags.writeable = False
    return rgb


_LIVE_DECODERS: weakref.WeakSet[Decoder] = weakref.WeakSet()
_INHERITED: list[Decoder] = []  # in a forked child: the parent's decoders, never freed


def _keep_inherited_decoders() -> None:
    """After a fork, keep the parent's decoders alive in the child for good.

    Freeing one joins FFmpeg's decoding threads, which a forked child does not have: the
    child would hang (e.g. at exit, when the garbage collector finds a dropped reader).
    """
    _INHERITED.extend(_LIVE_DECODERS)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_keep_inherited_decoders)


class Decoder:
    """One open container decoding forward from a seek point, labelling frames by index.

    ``last`` is the index of the frame most recently returned (``-1`` at the start of the
    file, ``None`` right after a seek or at the end of the stream).
    """

    def __init__(self, path: Path, index: FrameIndex, threads: bool = True) -> None:
        _LIVE_DECODERS.add(self)
        self.path = path
        self.index = index
        self.threads = threads
        self._pts_to_index = index.pts_to_index()
        self.container, self.stream = self._open()
        self.errors: deque[str] = deque(maxlen=3)
        self.last: int | None = -1
        self._frames: Iterator[av.VideoFrame] | None = self._decode()

    def _open(self) -> tuple[av.container.InputContainer, av.video.VideoStream]:
        container, stream = open_container(self.path)
        # Frame and slice threads, one per core: long runs of frames from a keyframe to the
        # target decode several times faster on a multi-core machine, and frames stay exact.
        # A background decoder (prefetch) uses one thread, leaving the cores to the viewer.
        if self.threads:
            stream.thread_type = "AUTO"
        return container, stream

    def _decode(self) -> Iterator[av.VideoFrame]:
        codec = self.stream.codec_context
        try:
            for packet in self.container.demux(self.stream):
                if packet.size and packet.is_corrupt:
                    continue  # cut short: the scan left it out of the index too
                try:
                    yield from codec.decode(packet)
                except av.FFmpegError as err:  # this packet's frame will be missing
                    self.errors.append(err.strerror or str(err))
        except av.FFmpegError as err:
            self.errors.append(err.strerror or str(err))

    def seek(self, i: int) -> tuple[int, av.VideoFrame] | None:
        """Seek to a keyframe at or before frame ``i``; return the first frame decoded there."""
        self.errors.clear()
        if self.index.pts is None:
            return self._restart()
        kf = self.index.keyframe_before(i)
        while True:
            self.container.seek(int(self.index.pts[kf]), stream=self.stream, backward=True)
            self.last = None
            self._frames = self._decode()
            first = self.next()
            if first is None or first[0] <= i or kf == 0:
                return first
            # The container landed after the target: start from the keyframe before.
            kf = self.index.keyframe_before(kf - 1)

    def _restart(self) -> tuple[int, av.VideoFrame] | None:
        """Reopen the file at its start (for streams without timestamps)."""
        self.container.close()
        self.container, self.stream = self._open()
        self.last = -1
        self._frames = self._decode()
        return self.next()

    def next(self) -> tuple[int, av.VideoFrame] | None:
        """The next decoded frame and its index, or ``None`` at the end of the stream."""
        while self._frames is not None:
            frame = next(self._frames, None)
            if frame is None:
                break
            if self.index.pts is not None and frame.pts is not None:
                k = self._pts_to_index.get(frame.pts)
                if k is None:
                    continue  # not a frame of the index (e.g. trimmed by an edit list)
            elif self.last is not None:
                k = self.last + 1  # no timestamps: count
            else:
                continue  # no timestamp right after a seek: the frame cannot be placed
            self.last = k
            return k, frame
        self._frames = None
        self.last = None
        return None

    def close(self) -> None:
        self._frames = None
        self.container.close()


def undecodable(path: Path, i: int, errors: deque[str]) -> VideoError:
    """The error for frame ``i`` not decoding, with the decoder's last message if any."""
    detail = f": {errors[-1]}" if errors else ""
    return VideoError(
        path,
        f"frame {i} cannot be decoded (file truncated or corrupt?){detail}.",
        "Other frames may still be readable. " + REENCODE,
    )


def decode_range(
    path: Path, index: FrameIndex, wanted: Sequence[int], height: int, width: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(i, frame)`` for the ascending frames ``wanted`` in one forward decode.

    A decoder of its own seeks once to the first frame and afterwards only where ``wanted``
    jumps over a whole keyframe interval. Frames are writable (height, width, 3) uint8
    arrays; ``undecodable``'s error is raised at the first frame that does not decode.
    """
    if not wanted:
        return
    decoder = Decoder(path, index)
    try:
        item = decoder.next() if wanted[0] == 0 else decoder.seek(wanted[0])
        for expected in wanted:
            if item is not None and item[0] < index.keyframe_before(expected):
                item = decoder.seek(expected)  # skip whole keyframe intervals
            while item is not None and item[0] < expected:
                item = decoder.next()
            if item is None or item[0] != expected:
                raise undecodable(path, expected, decoder.errors)
            yield expected, rgb_array(item[1], height, width)
            item = decoder.next()
    finally:
        decoder.close()
