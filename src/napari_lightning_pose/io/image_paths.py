"""Image paths of labeled frames: the CSV index ``labeled-data/<video>/img<frame>.png``.

How a labels CSV names its frames (building, parsing, zero-padding) and which folder those
paths are relative to; kept apart from the CSV's reading and writing (``io.labels``), which
many modules that only name frames do not need.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

LABELED_DATA_DIR = "labeled-data"
FRAME_DIGITS = 5
#: Suffixes of labeled-frame images (compared lower-case).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

_IMAGE_NAME = re.compile(r"^img(\d+)\.(png|jpg|jpeg)$", re.IGNORECASE)


def image_path(video: str | None, frame: int, digits: int = FRAME_DIGITS) -> str:
    """The CSV index entry for ``frame`` of ``video``: ``labeled-data/<video>/img<frame>.png``.

    Parameters
    ----------
    video
        Video name without extension (the folder under ``labeled-data/``), or None for
        Lightning Pose's flat layout ``labeled-data/img<frame>.png``.
    frame
        Frame index in the video (0-based).
    digits
        Zero-padding of the frame number.
    """
    if frame < 0:
        raise ValueError(f"frame must be >= 0, got {frame}")
    name = f"img{int(frame):0{digits}d}.png"
    parts = [LABELED_DATA_DIR, name] if video is None else [LABELED_DATA_DIR, video, name]
    return str(PurePosixPath(*parts))


def frame_digits(images: Sequence[str | Path], default: int = FRAME_DIGITS) -> int:
    """The zero-padding of the ``img<frame>.png`` names in ``images`` (the most common one).

    A DeepLabCut project names frames with 4 digits (``img0108.png``), Lightning Pose's
    example with 2, we with ``FRAME_DIGITS``: new frames follow what a project already has.
    Names without leading zeros say nothing about padding and are not counted.
    """
    counts: dict[int, int] = {}
    for image in images:
        name = PurePosixPath(str(image).replace("\\", "/")).name
        match = _IMAGE_NAME.match(name)
        if match and (len(match.group(1)) > 1 and match.group(1).startswith("0")):
            width = len(match.group(1))
            counts[width] = counts.get(width, 0) + 1
    return max(counts, key=counts.__getitem__) if counts else default


def parse_image_path(path: str | Path) -> tuple[str | None, int | None]:
    """Split an image path into (video name, frame index); either is None when absent.

    ``labeled-data/mouse1/img00042.png`` gives ``("mouse1", 42)``, the flat
    ``labeled-data/img01.png`` gives ``(None, 1)`` and ``labeled-data/mouse1/frame.png``
    gives ``("mouse1", None)``. Backslashes (Windows-written CSVs) count as separators.
    """
    parts = PurePosixPath(str(path).replace("\\", "/")).parts
    match = _IMAGE_NAME.match(parts[-1]) if parts else None
    frame = int(match.group(1)) if match else None
    folder = parts[-2] if len(parts) >= 2 else None
    video = None if folder in (None, LABELED_DATA_DIR) else folder
    return video, frame


def images_root(csv_path: str | Path, images: Sequence[str]) -> Path:
    """The folder the CSV's image paths are relative to: the CSV's folder or one above it.

    A project CSV sits beside ``labeled-data/``; DeepLabCut keeps its
    ``CollectedData_<scorer>.csv`` inside ``labeled-data/<video>/`` with paths relative to
    the DeepLabCut project folder, two levels up. The first folder (the CSV's, then its
    parents) in which the first image exists wins; the CSV's folder when none has it.
    """
    csv_dir = Path(csv_path).resolve().parent
    first = next((str(im).replace("\\", "/") for im in images), None)
    if first is None:
        return csv_dir
    for folder in (csv_dir, *csv_dir.parents):
        if (folder / first).is_file():
            return folder
    return csv_dir
