"""Pick frames of a video to label and write them as PNGs into the project.

``select_frames`` finds ``n`` diverse frames: one sequential pass turns (a subsample of) the
video into small greyscale thumbnails, k-means groups them into ``n`` clusters and the frame
nearest each cluster centre is picked, so every kind of scene/pose in the video gets a frame.
``method="uniform"`` spaces the frames evenly instead. ``export_frames`` writes the picked
frames, at full resolution and exactly as decoded, to ``labeled-data/<video>/img<frame>.png``
(plus their context neighbours, which Lightning Pose's context model reads).

Long jobs come in two forms: ``iter_*`` generators yielding ``FrameProgress`` events (for a
napari worker thread or a tqdm bar) and returning the result, and plain functions.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from napari_lightning_pose.data.context import CONTEXT_RADIUS
from napari_lightning_pose.io.atomic import atomic_write
from napari_lightning_pose.io.image_paths import (
    FRAME_DIGITS,
    frame_digits,
    image_path,
    parse_image_path,
)
from napari_lightning_pose.io.lock import hold_lock
from napari_lightning_pose.io.video import VideoReader
from napari_lightning_pose.labeling.appearance import cluster_by_appearance, thumbnail
from napari_lightning_pose.labeling.project import Project
from napari_lightning_pose.progress import blocking

METHODS = ("kmeans", "uniform")
#: How long frame selection waits for a labeling dock that is saving.
LOCK_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class FrameProgress:
    """Progress of frame selection or export: ``done`` of ``total`` units in ``stage``.

    Stages: ``"read"`` (frames scanned for thumbnails), ``"cluster"`` (k-means running) and
    ``"export"`` (PNGs written).
    """

    stage: str
    done: int
    total: int | None
    kind: str = "step"

    def progress(self) -> tuple[int, int | None]:
        """``(done, total)`` for a progress bar."""
        return self.done, self.total

    def summary(self) -> dict[str, str]:
        """The stage name, shown beside the bar."""
        return {"stage": self.stage}


def _reader(video: str | Path | VideoReader, stack: ExitStack) -> VideoReader:
    if isinstance(video, VideoReader):
        return video
    return stack.enter_context(VideoReader(video))


# ------------------------------------------------------------------------------ selection
def iter_select_frames(
    video: str | Path | VideoReader,
    n: int,
    method: str = "kmeans",
    seed: int = 0,
    thumb_size: tuple[int, int] = (32, 32),
    exclude: Iterable[int] = (),
    max_candidates: int = 2000,
) -> Generator[FrameProgress, None, np.ndarray]:
    """Pick ``n`` frames of ``video`` to label.

    Yields :class:`FrameProgress` as it reads, clusters or writes;
    what Returns lists is the generator's return value.

    Parameters
    ----------
    video
        A video file or an open ``VideoReader``.
    n
        Number of frames wanted. Fewer come back only when fewer frames are available.
    method
        ``"kmeans"``: cluster greyscale thumbnails into ``n`` groups and take the frame
        nearest each centre (diverse frames). ``"uniform"``: evenly spaced frames.
    seed
        Seed of k-means; the same seed and video give the same frames.
    thumb_size
        (height, width) of the thumbnails k-means compares.
    exclude
        Frame indices never to pick (e.g. frames already labeled).
    max_candidates
        Longer videos are subsampled to about this many evenly spaced candidate frames.

    Returns
    -------
    numpy.ndarray
        Sorted frame indices, shape (min(n, available),), int.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    with ExitStack() as stack:
        reader = _reader(video, stack)
        n_frames = len(reader)
        excluded = {int(i) for i in exclude}
        if method == "uniform":
            available = np.array([i for i in range(n_frames) if i not in excluded], dtype=int)
            return _uniform(available, n)
        step = max(1, math.ceil(n_frames / max_candidates))
        indices: list[int] = []
        thumbs: list[np.ndarray] = []
        for k, (i, frame) in enumerate(reader.iter_frames(0, None, step)):
            if i not in excluded:
                indices.append(i)
                thumbs.append(thumbnail(frame, thumb_size))
            if k % 50 == 0:
                yield FrameProgress("read", i + 1, n_frames)
        yield FrameProgress("read", n_frames, n_frames)
    if n >= len(indices):
        return np.array(indices, dtype=int)
    yield FrameProgress("cluster", 0, 1)
    picked = cluster_by_appearance(np.stack(thumbs), n, seed).nearest_to_centres()
    yield FrameProgress("cluster", 1, 1)
    return np.sort(np.asarray(indices, dtype=int)[picked])


select_frames = blocking(iter_select_frames)


def _uniform(available: np.ndarray, n: int) -> np.ndarray:
    """``n`` entries of ``available`` (sorted), spread evenly from its first to its last."""
    if n >= len(available):
        return available
    positions = np.round(np.linspace(0, len(available) - 1, n)).astype(int)
    return available[np.unique(positions)]


# --------------------------------------------------------------------------------- export
def with_context(frames: Iterable[int], context: int, n_frames: int) -> np.ndarray:
    """``frames`` plus their ``context`` neighbours on each side, clipped to the video, sorted."""
    frames = np.asarray(list(frames), dtype=int)
    offsets = np.arange(-context, context + 1)
    near = (frames[:, None] + offsets[None, :]).ravel()
    return np.unique(near[(near >= 0) & (near < n_frames)])


def iter_export_frames(
    video: str | Path | VideoReader,
    frames: Sequence[int],
    project_dir: str | Path,
    context: int = 0,
    digits: int = FRAME_DIGITS,
) -> Generator[FrameProgress, None, list[Path]]:
    """Write ``frames`` of ``video`` as PNGs to ``project_dir/labeled-data/<video stem>/``.

    Yields :class:`FrameProgress` as it reads, clusters or writes;
    what Returns lists is the generator's return value.

    ``digits`` is the zero-padding of the frame number in the file names.

    Parameters
    ----------
    video
        A video file or an open ``VideoReader``.
    frames
        Frame indices to write.
    project_dir
        The project's data folder (the one holding ``labeled-data/``).
    context
        Also write this many neighbours on each side of every frame (Lightning Pose's
        context model uses 2); they are not returned.

    Returns
    -------
    list of pathlib.Path
        The PNGs of ``frames`` (``img<frame:05d>.png``), sorted by frame. Each is written
        atomically with the frame's exact pixels (RGB as decoded); existing files are replaced.

    Notes
    -----
    This writes images only; ``pick_frames`` also adds the frames to the labels CSV.
    """
    project_dir = Path(project_dir)
    with ExitStack() as stack:
        reader = _reader(video, stack)
        stem = Path(reader.path).stem
        wanted = with_context(frames, context, len(reader))
        main = {int(f) for f in frames}
        written: list[Path] = []
        for done, i in enumerate(wanted):
            frame = reader[int(i)]
            path = project_dir / image_path(stem, int(i), digits)
            atomic_write(path, lambda tmp, frame=frame: Image.fromarray(frame).save(tmp, "PNG"))
            if int(i) in main:
                written.append(path)
            yield FrameProgress("export", done + 1, len(wanted))
    return written


export_frames = blocking(iter_export_frames)


# ------------------------------------------------------------------- whole project step
def project_frame_digits(
    project: Project, video: str | Path, images: Sequence[str] | None = None
) -> int:
    """The zero-padding of new frame names in ``project``: what its labeled frames and the
    PNGs of ``video`` already use (e.g. DeepLabCut's ``img0108``), so every dock (frame
    selection, Label these, suggestions, corrections) names a new frame the same way.

    ``images`` are the labels' image paths when the caller has read them already.
    """
    if images is None:
        images = list(project.read_labels().index)
    folder = project.frames_dir(video)
    on_disk = folder.glob("img*.png") if folder.is_dir() else []
    return frame_digits([*images, *(p.name for p in on_disk)])


def iter_pick_frames(
    project: Project | str | Path,
    video: str | Path,
    n: int,
    method: str = "kmeans",
    seed: int = 0,
    context: int = CONTEXT_RADIUS,
) -> Generator[FrameProgress, None, list[str]]:
    """Select ``n`` new frames of ``video``, write them, and add them to the project's CSV.

    Yields :class:`FrameProgress` as it reads, clusters or writes;
    what Returns lists is the generator's return value.

    Frames of ``video`` already in the CSV are never picked again. The new rows are all-NaN
    (to be labeled); existing rows are kept. Returns the new rows' image paths.

    Parameters
    ----------
    project
        A ``Project`` or its folder/config path.
    video
        The video to pick from (usually one of ``project.video_paths()``).
    n, method, seed
        As for ``select_frames``.
    context
        Neighbours written on each side of every frame for the context model.
    """
    proj = project if isinstance(project, Project) else Project.open(project)
    labels = proj.read_labels()
    stem = Path(video).stem
    done = [f for v, f in map(parse_image_path, labels.index) if v == stem and f is not None]
    digits = project_frame_digits(proj, video, labels.index)
    with VideoReader(video) as reader:
        frames = yield from iter_select_frames(reader, n, method, seed, exclude=done)
        # PNGs and CSV rows under the labels lock: a labeling dock neither saves nor lists
        # the frames between the two (it would take the context neighbours for frames)
        with hold_lock(proj.csv_path, "select-frames", timeout=LOCK_WAIT_SECONDS):
            yield from iter_export_frames(reader, frames, proj.data_dir, context, digits)
            images = [image_path(stem, int(f), digits) for f in frames]
            proj.add_frames(images)
    return images


pick_frames = blocking(iter_pick_frames)
