"""Synthetic videos whose frames encode their own index, for exact frame-seeking tests.

Each frame carries its index as a 16-bit bar code: two rows of eight 16 x 16 blocks, white
for a 1 bit (blocks line up with H.264 macroblocks, so the code survives compression). The
bottom half is a moving gradient so the encoder has real motion to predict.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

HEIGHT, WIDTH = 64, 128


def index_frame(i: int) -> np.ndarray:
    """The RGB frame (64, 128, 3) uint8 that shows ``i`` as a bar code."""
    img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for bit in range(16):
        row, col = divmod(bit, 8)
        if (i >> bit) & 1:
            img[row * 16 : (row + 1) * 16, col * 16 : (col + 1) * 16] = 255
    yy, xx = np.mgrid[32:HEIGHT, 0:WIDTH]
    img[32:, :, 0] = (xx * 2 + i * 3) % 256
    img[32:, :, 1] = (yy * 4 + i * 5) % 256
    img[32:, :, 2] = 128
    return img


def frame_index(frame: np.ndarray) -> int:
    """Read the bar code back from a decoded frame (height 64, width 128, RGB)."""
    bits = frame[:32].reshape(2, 16, 8, 16, 3).mean(axis=(1, 3, 4)) > 128
    return int(sum(int(b) << k for k, b in enumerate(bits.ravel())))


def write_index_video(
    path: Path,
    n_frames: int = 150,
    gop: int = 50,
    bframes: int = 3,
    fps: int = 30,
    codec: str = "libx264",
    container_format: str | None = None,
    faststart: bool = False,
    pts: Sequence[int] | None = None,
) -> Path:
    """Encode ``n_frames`` bar-code frames; a keyframe every ``gop`` frames, with B-frames.

    ``pts`` (in 1/1000 s) gives each frame its own timestamp, for variable frame rates.
    """
    import av

    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format=container_format, options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = WIDTH, HEIGHT
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}"
            }
        else:
            stream.options = {"g": str(gop), "bf": str(bframes)}
        millisecond = Fraction(1, 1000)
        if pts is not None:
            stream.time_base = stream.codec_context.time_base = millisecond
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(index_frame(i), format="rgb24")
            if pts is not None:  # (the muxer may change stream.time_base once it starts)
                frame.pts = int(pts[i])
                frame.time_base = millisecond
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def sequential_decode(path: Path) -> list[np.ndarray]:
    """Every frame of ``path`` as RGB, decoded in one pass with plain PyAV (the reference)."""
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="session")
def video_tools() -> SimpleNamespace:
    """Helpers for tests that build their own videos (test files cannot import conftest)."""
    return SimpleNamespace(
        write=write_index_video,
        frame=index_frame,
        index_of=frame_index,
        decode=sequential_decode,
        height=HEIGHT,
        width=WIDTH,
    )


@pytest.fixture(scope="session")
def long_gop_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150-frame H.264 mp4, keyframe every 50 frames, up to 3 B-frames; shared, read-only."""
    return write_index_video(tmp_path_factory.mktemp("video") / "long_gop.mp4")
