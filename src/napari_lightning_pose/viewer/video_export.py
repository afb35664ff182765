"""Export a labeled video: keypoints in their uncertainty colours, tails and a colour bar
(in a panel beside the picture, so it covers none of it).

:func:`iter_export_video` decodes the video once, draws on each frame (PIL) and encodes an
H.264 mp4 with PyAV, yielding :class:`ExportProgress` events (a napari worker or a tqdm bar
shows them). Colours are the QC view's: the heat colormap of
:mod:`napari_lightning_pose.viewer.layer_styles` on the posterior SD in px with the same fixed
limits (or on the likelihood, reversed, for plain predictions), so a frame in the file looks
like the viewer. The file appears only when complete (written beside it, then renamed).
"""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from napari_lightning_pose.errors import LabelsError, VideoError
from napari_lightning_pose.io.atomic import atomic_path
from napari_lightning_pose.io.video import VideoReader
from napari_lightning_pose.progress import blocking
from napari_lightning_pose.viewer.layer_styles import heat_rgba
from napari_lightning_pose.viewer.prediction_layers import PoseTrack, pose_track_from_frame

#: Width of the colour bar and its margin, px.
BAR_WIDTH = 12
BAR_MARGIN = 8
#: Width of a character of PIL's default font, px (the bar's labels).
CHAR_WIDTH = 6


@dataclass(frozen=True)
class ExportProgress:
    """``done`` of ``total`` frames written."""

    done: int
    total: int
    kind: str = "step"

    def progress(self) -> tuple[int, int | None]:
        """``(done, total)`` for a progress bar."""
        return self.done, self.total

    def summary(self) -> dict[str, str]:
        """Shown beside the bar."""
        return {"stage": "export"}


def keypoint_colors_rgb(track: PoseTrack) -> np.ndarray:
    """(T, K, 3) uint8 colour of every keypoint in every frame (the QC view's colouring)."""
    if track.smoothed:
        rgba = heat_rgba(track.posterior_sd, track.contrast_limits)
    else:
        rgba = heat_rgba(track.likelihood, track.contrast_limits, reverse=True)
    return np.round(rgba[..., :3] * 255).astype(np.uint8)


def _bar_labels(track: PoseTrack) -> tuple[str, str]:
    """The texts at the top (uncertain) and the bottom (certain) of the colour bar."""
    lo, hi = track.contrast_limits
    if track.smoothed:
        return f"{hi:g} px", f"{lo:g} px"
    return "0", "1"


def bar_panel_width(track: PoseTrack) -> int:
    """Width (even, px) of the panel right of the picture that holds the colour bar and
    its labels, so the bar never covers the video."""
    chars = max(len(text) for text in _bar_labels(track))
    width = BAR_MARGIN + BAR_WIDTH + 4 + CHAR_WIDTH * chars + BAR_MARGIN
    return width + width % 2


def _draw_bar(draw: ImageDraw.ImageDraw, track: PoseTrack, left: int, height: int) -> None:
    """A vertical colour bar in the panel from x = ``left``, uncertain (hot) at the top,
    with its limits beside it."""
    lo, hi = track.contrast_limits
    top, bottom = BAR_MARGIN, max(BAR_MARGIN + 10, height - BAR_MARGIN)
    x0 = left + BAR_MARGIN
    values = np.linspace(hi, lo, bottom - top)
    rgba = heat_rgba(values, (lo, hi), reverse=not track.smoothed)
    for i, c in enumerate(np.round(rgba[:, :3] * 255).astype(int)):
        draw.line([(x0, top + i), (x0 + BAR_WIDTH - 1, top + i)], fill=tuple(c.tolist()))
    high, low = _bar_labels(track)
    draw.text((x0 + BAR_WIDTH + 4, top), high, fill=(255, 255, 255))
    draw.text((x0 + BAR_WIDTH + 4, bottom - 11), low, fill=(255, 255, 255))


def draw_frame(
    frame: np.ndarray,
    track: PoseTrack,
    row: int,
    colors: np.ndarray,
    tail: int = 10,
    radius: int = 4,
    bar: bool = True,
) -> np.ndarray:
    """Draw keypoints of table row ``row`` (and ``tail`` rows of history) on ``frame``.

    Returns a new uint8 frame, (H, W, 3), or with ``bar`` (H, W + panel, 3): the colour
    bar in a dark panel right of the picture (:func:`bar_panel_width`), never over it. A
    keypoint with no position is not drawn.
    """
    picture = Image.fromarray(np.ascontiguousarray(frame[..., :3]))
    width, height = picture.size
    if bar:
        image = Image.new("RGB", (width + bar_panel_width(track), height), (20, 20, 20))
        image.paste(picture, (0, 0))
    else:
        image = picture
    draw = ImageDraw.Draw(image)
    start = max(0, row - tail)
    for k in range(len(track.keypoints)):
        pts = track.xy[start : row + 1, k]
        for i in range(len(pts) - 1):  # tail: segments coloured by their later frame
            a, b = pts[i], pts[i + 1]
            if np.isfinite(a).all() and np.isfinite(b).all():
                c = tuple(colors[start + i + 1, k].tolist())
                draw.line([tuple(a), tuple(b)], fill=c, width=max(1, radius // 2))
    for k in range(len(track.keypoints)):
        x, y = track.xy[row, k]
        if np.isfinite(x) and np.isfinite(y):
            c = tuple(colors[row, k].tolist())
            draw.ellipse(
                [x - radius, y - radius, x + radius, y + radius], fill=c, outline=(0, 0, 0)
            )
    if bar:
        _draw_bar(draw, track, width, height)
    return np.asarray(image)


def iter_export_video(
    video: str | Path,
    predictions: pd.DataFrame | PoseTrack,
    out: str | Path,
    tail: int = 10,
    radius: int = 4,
    start: int = 0,
    stop: int | None = None,
    crf: int = 18,
) -> Generator[ExportProgress, None, Path]:
    """Write ``video`` with the keypoints of ``predictions`` drawn on it as an mp4.

    Parameters
    ----------
    video : path
        The video the predictions are of.
    predictions : DataFrame or PoseTrack
        Smoothed table (coloured by posterior SD) or plain predictions (by likelihood);
        index = frame number.
    out : path
        The mp4 to write (replaced only once complete).
    tail : int
        Frames of history drawn behind each keypoint.
    radius : int
        Keypoint disc radius, px.
    start, stop : int
        Frame range (``range`` semantics; default the whole video).
    crf : int
        H.264 quality (lower = better, 18 is visually lossless).

    Yields
    ------
    ExportProgress

    Returns
    -------
    Path
        The mp4 written (the generator's return value).

    Raises
    ------
    LabelsError
        Predictions that do not cover the frames asked for.
    VideoError
        Unreadable video.
    """
    track = (
        predictions if isinstance(predictions, PoseTrack) else pose_track_from_frame(predictions)
    )
    colors = keypoint_colors_rgb(track)
    row_of = {int(f): i for i, f in enumerate(track.frames)}
    out = Path(out)
    with VideoReader(video) as reader:
        wanted = range(*slice(start, stop).indices(len(reader)))
        missing = [f for f in wanted if f not in row_of]
        if missing:
            raise LabelsError(
                track.path,
                f"has no predictions for frames {missing[:5]} of {Path(video).name}.",
                "Export the frames that were predicted, or predict the whole video.",
            )
        fps = reader.fps if np.isfinite(reader.fps) and reader.fps > 0 else 30.0
        _, height, width, _ = reader.shape
        with atomic_path(out) as tmp:
            try:
                container = av.open(os.fspath(tmp), "w", format="mp4")
            except av.error.FFmpegError as err:  # pragma: no cover - depends on the build
                raise VideoError(out, f"cannot write an mp4: {err}") from err
            with container:
                stream = container.add_stream("libx264", rate=round(fps))
                width += bar_panel_width(track)  # the colour bar's panel, right of it
                stream.width, stream.height = width - width % 2, height - height % 2
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf)}
                for done, (i, frame) in enumerate(
                    reader.iter_frames(wanted.start, wanted.stop), start=1
                ):
                    drawn = draw_frame(frame, track, row_of[i], colors, tail, radius)
                    drawn = drawn[: stream.height, : stream.width]
                    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(drawn), format="rgb24")
                    for packet in stream.encode(vf):
                        container.mux(packet)
                    if done % 10 == 0 or done == len(wanted):
                        yield ExportProgress(done, len(wanted))
                for packet in stream.encode():
                    container.mux(packet)
    return out


export_video = blocking(iter_export_video)
