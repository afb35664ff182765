"""Neighbour frames t-2..t+2 of a labeled frame, for the context model.

Where the image name gives the frame (``labeled-data/<video>/img00042.png``) and that video is
in ``data.video_dir``, the neighbours are decoded from the video (at its edges the first/last
frame repeats). Otherwise they are the neighbour PNGs by the number in the name
(``img41.png``, ``img43.png``, ... in the same folder, as Lightning Pose's flat layout and
``select-frames --context 2`` write them); a missing neighbour is replaced by the nearest
existing frame towards the labeled one. A frame with no neighbour at all is an error: a
context model trained on five copies of one frame would learn nothing from context.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from napari_lightning_pose.data.context import CONTEXT_OFFSETS, window_indices
from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io.image_paths import parse_image_path
from napari_lightning_pose.io.video import VIDEO_SUFFIXES, VideoReader

_NUMBER = re.compile(r"^(.*?)(\d+)(\.[A-Za-z]+)$")


def find_video(video_dir: Path, name: str) -> Path | None:
    """The video ``<name>.<ext>`` in ``video_dir``, or None."""
    for suffix in VIDEO_SUFFIXES:
        for cand in (video_dir / f"{name}{suffix}", video_dir / f"{name}{suffix.upper()}"):
            if cand.is_file():
                return cand
    return None


def neighbour_windows(
    data_dir: Path, video_dir: Path, image_paths: list[str], images: list[np.ndarray],
    read_image,
) -> list[list[np.ndarray]]:  # fmt: skip
    """Five uint8 frames (t-2..t+2) per labeled image, the labeled image itself in the
    middle. ``read_image(path)`` decodes a PNG like the labeled frames."""
    windows: list[list[np.ndarray] | None] = [None] * len(image_paths)
    by_video: dict[Path, list[tuple[int, int]]] = {}
    for i, rel in enumerate(image_paths):
        video, frame = parse_image_path(rel)
        found = find_video(video_dir, video) if video is not None and frame is not None else None
        if found is not None:
            by_video.setdefault(found, []).append((i, int(frame)))  # type: ignore[arg-type]
            continue
        windows[i] = _png_window(data_dir, rel, images[i], read_image)
    for path, rows in by_video.items():
        with VideoReader(path) as reader:
            n = reader.n_frames
            for i, frame in rows:
                idx = window_indices([min(frame, n - 1)], n)[0]
                frames = reader[idx]
                win = [np.asarray(f) for f in frames]
                win[len(win) // 2] = images[i]  # the labeled image as labeled
                windows[i] = [_like(f, images[i]) for f in win]
    return windows  # type: ignore[return-value]


def _like(frame: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``frame`` with ``ref``'s channel count (videos decode to RGB; PNGs may be grey)."""
    if frame.shape == ref.shape:
        return frame
    if ref.shape[-1] == 1 and frame.shape[-1] == 3:
        return frame[..., :1]
    if ref.shape[-1] == 3 and frame.shape[-1] == 1:
        return np.repeat(frame, 3, axis=-1)
    raise ValueError(f"neighbour frame {frame.shape} does not match {ref.shape}")


def _png_window(data_dir: Path, rel: str, image: np.ndarray, read_image) -> list[np.ndarray]:
    path = data_dir / rel
    match = _NUMBER.match(path.name)
    if match is None:
        raise LabelsError(
            path,
            "a heatmap_mhcrnn (context) model needs this frame's neighbours, but its name "
            "holds no frame number.",
            "Name frames img<number>.png, or put the video of labeled-data/<video>/ in "
            "data.video_dir.",
        )
    stem, number, suffix = match.groups()
    n, digits = int(number), len(number)

    def neighbour(k: int) -> Path:
        return path.with_name(f"{stem}{n + k:0{digits}d}{suffix}")

    window: list[np.ndarray] = []
    found_any = False
    for k in CONTEXT_OFFSETS:
        step = 1 if k < 0 else -1
        chosen = image
        for j in range(k, 0, step):  # nearest existing frame towards the labeled one
            if n + j >= 0 and neighbour(j).is_file():
                chosen = read_image(neighbour(j))
                found_any = True
                break
        window.append(_like(chosen, image))
    if not found_any:
        raise LabelsError(
            path,
            "a heatmap_mhcrnn (context) model needs the frames before and after it, but "
            f"neither the video nor neighbour images ({neighbour(-1).name}, "
            f"{neighbour(1).name}) exist.",
            "Export the neighbours (`napari-lightning-pose select-frames --context 2`), put "
            "the video in data.video_dir, or use model.model_type: heatmap.",
        )
    return window
