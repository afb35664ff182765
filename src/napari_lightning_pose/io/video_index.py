"""Opening a video file and indexing its frames, without decoding them.

How frames are found
--------------------
Opening a video scans its packets once (a demux pass, no decoding: a few ms per thousand
frames). Each frame's presentation timestamp (PTS) is recorded and sorted, so frame ``i`` is
the ``i``-th frame in display order, exactly as a full sequential decode would produce it,
also for B-frames and variable frame rates. Keyframes are recorded too. Reading frame ``i``
seeks to the last keyframe at or before it and decodes forward (``io.video_decoder``).

Damaged files
-------------
``n_frames`` counts the complete video packets in the file. For a file cut short that is the
frames before the cut (a ``VideoWarning`` says so when the header promised more); every one
of them can be read. A file that cannot be opened at all (not a video, no video stream, an
MP4 whose index is missing) raises ``VideoError`` when it is opened (``VideoReader``,
``probe_video``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from napari_lightning_pose.errors import VideoError

REENCODE_HOW = "`ffmpeg -i in.mp4 -c:v libx264 -crf 18 -pix_fmt yuv420p out.mp4`."
REENCODE = "Re-encode it with ffmpeg and open the new file: " + REENCODE_HOW


class VideoWarning(UserWarning):
    """A video is readable but not as its header describes it (e.g. a file cut short)."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds: exact frame count, frame rate, frame size and codec.

    Attributes
    ----------
    path : Path
        The video file.
    n_frames : int
        Number of readable frames (from a packet scan, not the header).
    fps : float
        Average frame rate in frames per second (``nan`` if the file does not say).
    height, width : int
        Frame size in pixels.
    codec : str
        Codec name as FFmpeg spells it, e.g. ``"h264"``.
    """

    path: Path
    n_frames: int
    fps: float
    height: int
    width: int
    codec: str


@dataclass(frozen=True)
class FrameIndex:
    """Display-order timestamps and keyframes of a video stream, from one packet scan.

    ``pts`` has shape (n_frames,), sorted; it is ``None`` when the stream has no usable
    timestamps, and then frames are counted from the start of the file instead.
    ``keyframes`` holds the display indices of keyframes, sorted, shape (n_keyframes,).
    """

    n_frames: int
    pts: np.ndarray | None
    keyframes: np.ndarray

    def pts_to_index(self) -> dict[int, int]:
        """Map each timestamp to its frame index."""
        if self.pts is None:
            return {}
        return {int(p): i for i, p in enumerate(self.pts)}

    def keyframe_before(self, i: int) -> int:
        """Index of the last keyframe at or before frame ``i`` (0 if there is none)."""
        pos = int(np.searchsorted(self.keyframes, i, side="right")) - 1
        return int(self.keyframes[pos]) if pos >= 0 else 0


def open_container(path: Path) -> tuple[av.container.InputContainer, av.video.VideoStream]:
    """Open ``path`` and return it with its first video stream; ``VideoError`` if impossible."""
    if not path.exists():
        raise VideoError(path, "video file not found.", "Check the path and the file name.")
    if path.is_dir():
        raise VideoError(path, "is a folder, not a video file.", "Choose a video file in it.")
    try:
        container = av.open(str(path), mode="r")
    except PermissionError as err:
        raise VideoError(
            path, "cannot be read (permission denied).", "Check its permissions."
        ) from err
    except av.FFmpegError as err:
        with open(path, "rb") as f:
            head = f.read(12)
        if head[4:8] == b"ftyp":
            raise VideoError(
                path,
                "is an MP4/MOV file whose index (moov atom) is missing, so no frame can be found; "
                "this happens when a recording is cut short.",
                "Recover it from the camera software or with a repair tool such as `untrunc`, "
                "or record it again.",
            ) from err
        raise VideoError(
            path,
            f"cannot be opened as a video ({err.strerror or err}); it is probably not a video "
            "file, or it is damaged.",
            "Check that it is the video you meant; if it plays in other software, re-encode it: "
            + REENCODE_HOW,
        ) from err
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        container.close()
        raise VideoError(
            path,
            f"has no video stream (streams: {', '.join(kinds)}).",
            "Open the video file itself, not an audio or data file.",
        )
    stream = container.streams.video[0]
    return container, stream


def scan_frames(
    container: av.container.InputContainer, stream: av.video.VideoStream, path: Path
) -> FrameIndex:
    """Demux every packet of ``stream`` (no decoding) and build the frame index."""
    pts: list[int | None] = []
    key_pts: list[int | None] = []
    started = False  # nothing before the first keyframe can be decoded
    n_trimmed = 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0 or packet.is_corrupt:
                continue  # the flush packet, or one cut short
            started = started or packet.is_keyframe
            if packet.is_discard:  # decoded as a reference, but an edit list hides it
                n_trimmed += 1
                continue
            if started:
                pts.append(packet.pts)
                if packet.is_keyframe:
                    key_pts.append(packet.pts)
    except av.FFmpegError:
        pass  # a read error ends the scan: the packets before it are the readable frames
    header = int(stream.frames or 0)
    n = len(pts)
    if n == 0:
        raise VideoError(path, "has a video stream but no readable frames.", REENCODE)
    if header > n + n_trimmed:
        warnings.warn(
            f"{path}: the header says {header} frames but only {n} are in the file (was it cut "
            f"short?); frames 0..{n - 1} can be read.",
            VideoWarning,
            stacklevel=3,
        )
    if any(p is None for p in pts) or len(set(pts)) != n:
        # No usable timestamps: frames are counted from the start, so every seek restarts there.
        return FrameIndex(n, None, np.zeros(1, dtype=np.int64))
    sorted_pts = np.sort(np.asarray(pts, dtype=np.int64))
    keyframes = np.searchsorted(sorted_pts, np.asarray(key_pts, dtype=np.int64))
    return FrameIndex(n, sorted_pts, np.unique(keyframes))


def stream_fps(stream: av.video.VideoStream, index: FrameIndex) -> float:
    """Average frame rate from the container, else from the timestamps, else ``nan``."""
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate:
            return float(rate)
    if index.pts is not None and index.n_frames > 1 and stream.time_base:
        span = float((index.pts[-1] - index.pts[0]) * stream.time_base)
        if span > 0:
            return (index.n_frames - 1) / span
    return float("nan")


def probe_video(path: str | Path) -> VideoInfo:
    """Describe a video (exact frame count, fps, size, codec) without decoding it.

    Parameters
    ----------
    path : str or Path
        The video file.

    Returns
    -------
    VideoInfo
        ``n_frames`` comes from a packet scan, so it is exact even when the header is wrong.

    Raises
    ------
    VideoError
        If the file is missing, not a video, or has no readable frames.
    """
    path = Path(path)
    container, stream = open_container(path)
    try:
        index = scan_frames(container, stream, path)
        cc = stream.codec_context
        return VideoInfo(
            path, index.n_frames, stream_fps(stream, index), cc.height, cc.width, cc.name
        )
    finally:
        container.close()
