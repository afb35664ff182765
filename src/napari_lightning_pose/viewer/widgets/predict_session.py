"""Predict + smooth for a multi-camera project: the dock's session job and what it opens.

On a multi-camera project the dock picks a session (every view's video) instead of one video.
Its worker runs ``inference.session_jobs.predict_and_smooth_session`` into
``predictions/<session>/`` (members in ``<member>/<session>_<view>.csv``, then
``<view>.eks.csv`` per camera) and reads the result with the Cameras dock's own loader
(``cameras.load_camera_layers``), so the grid it opens is the one "Open in grid" opens for
that folder. No Qt here: the worker builds the layers, the dock only adds them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from napari_lightning_pose.inference.jobs import PredictSmoothEvent
from napari_lightning_pose.viewer.camera_layers import CameraSession


@dataclass
class CameraResult:
    """A finished session's grid layers (built in the worker) and the files they show."""

    session: CameraSession
    layers: list[Any]


def project_sessions(project: Any) -> dict[str, dict[str, Path]]:
    """``{session: {view: video}}`` of a multi-camera project's video folder ({} for a single
    camera); ``LabelsError`` naming the files when a session lacks a view."""
    from napari_lightning_pose.io.views import group_sessions

    views = project.views
    if views is None:
        return {}
    return group_sessions(project.video_paths(), views.names)


def session_out_dir(cfg: Mapping[str, Any], session: str) -> Path:
    """Where a session's predictions go: ``<data_dir>/predictions/<session>``."""
    return Path(cfg["data"]["data_dir"]) / "predictions" / session


def predict_session_to_layers(
    checkpoints: Sequence[Path],
    videos: Mapping[str, Path],
    out_dir: Path,
    *,
    device: str | None = None,
    stop: Any = None,
) -> Iterator[PredictSmoothEvent | CameraResult]:
    """``predict_and_smooth_session``, then its grid layers (when it smoothed), in one
    worker."""
    from napari_lightning_pose.inference.job_process import run_in_process
    from napari_lightning_pose.inference.session_jobs import predict_and_smooth_session
    from napari_lightning_pose.viewer.widgets.cameras import load_camera_layers

    last = None
    events = run_in_process(  # torch in its own process (job_process)
        predict_and_smooth_session,
        checkpoints,
        list(videos.values()),
        out_dir,
        device=device,
        stop=stop,
    )
    for ev in events:
        last = ev
        yield ev
    if last is not None and last.kind == "done" and last.camera_csvs:
        from napari_lightning_pose.viewer.widgets.warmup import warm_first_image_layer

        warm_first_image_layer()
        session, layers = load_camera_layers(out_dir, videos)
        yield CameraResult(session, layers)
