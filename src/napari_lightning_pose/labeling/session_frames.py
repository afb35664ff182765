"""Frames to label in a multi-camera session: the same frame indices in every view.

The cross-camera PCA and triangulation need frames labeled in all views, so frames are picked
once, on the session's first view (k-means or uniform, as ``labeling.frames``), and the same
indices are written from every view's video into ``labeled-data/<session>_<view>/`` and
added to that view's labels CSV. Frames already in any view's CSV are not picked again.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from pathlib import Path

from napari_lightning_pose.data.context import CONTEXT_RADIUS
from napari_lightning_pose.io.image_paths import image_path, parse_image_path
from napari_lightning_pose.io.lock import hold_lock
from napari_lightning_pose.io.video import VideoReader
from napari_lightning_pose.labeling.frames import (
    LOCK_WAIT_SECONDS,
    FrameProgress,
    iter_export_frames,
    iter_select_frames,
    project_frame_digits,
)
from napari_lightning_pose.labeling.project import Project


def iter_pick_session_frames(
    project: Project,
    session: Mapping[str, Path],
    n: int,
    method: str = "kmeans",
    seed: int = 0,
    context: int = CONTEXT_RADIUS,
) -> Generator[FrameProgress, None, dict[str, list[str]]]:
    """Pick ``n`` new frames of a session (``{view: video}``, checked by
    ``io.views.group_sessions`` / ``check_frame_counts``) and add them to every view's CSV.

    Returns the new rows' image paths by view.
    """
    views = {view: project.for_view(view) for view in session}
    done: set[int] = set()
    for view, video in session.items():
        stem = Path(video).stem
        for v, f in map(parse_image_path, views[view].read_labels().index):
            if v == stem and f is not None:
                done.add(int(f))
    first = next(iter(session))
    with VideoReader(session[first]) as reader:
        frames = yield from iter_select_frames(reader, n, method, seed, exclude=sorted(done))
    added: dict[str, list[str]] = {}
    for view, video in session.items():
        proj = views[view]
        digits = project_frame_digits(proj, video)
        with hold_lock(proj.csv_path, "select-frames", timeout=LOCK_WAIT_SECONDS):
            yield from iter_export_frames(video, frames, proj.data_dir, context, digits)
            added[view] = [image_path(Path(video).stem, int(f), digits) for f in frames]
            proj.add_frames(added[view])
    return added
