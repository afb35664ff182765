"""Predict + smooth for a multi-camera session: the Predict + smooth dock's job for views.

Every member predicts every view's video of the session (``inference.sessions``) into
``out_dir/<member>/<session>_<view>.csv``; the members of all views are then smoothed jointly
(``ensemble.multicam``): through a 3-D latent seen via a PCA of the stacked views, or, when
the project has the session's calibration (``io.views.calibration_file``), as a 3-D point
seen through each camera's projection. The result is ``out_dir/<view>.eks.csv`` per view (and
``out_dir/3d.eks.csv`` with a calibration), as ``smooth --cameras`` writes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.inference.jobs import (
    PredictSmoothEvent,
    check_members,
    member_names,
    preload_torch,
)
from napari_lightning_pose.inference.sessions import model_views, session_videos
from napari_lightning_pose.io.views import calibration_file


def predict_and_smooth_session(
    checkpoints: Sequence[str | Path],
    videos: Sequence[str | Path],
    out_dir: str | Path,
    *,
    device: str | None = None,
    smoothing: str | float = "auto",
    stop: threading.Event | None = None,
) -> Iterator[PredictSmoothEvent]:
    """Predict one session's videos (one per view) with each member, then smooth the cameras
    jointly. The "done" event's ``camera_csvs`` maps each view (and ``"3d"``) to its file.

    Raises
    ------
    ConfigError
        The members are not multi-camera models, the videos are not one session, or the
        session's calibration does not calibrate the views.
    LabelsError
        A video naming no view, a view missing, or views with different frame counts
        (nothing is predicted then).
    """
    preload_torch()
    from napari_lightning_pose.ensemble import poses_only, write_smoothed_csv
    from napari_lightning_pose.ensemble.multicam import (
        assign_cameras,
        load_cameras,
        smooth_cameras,
        smooth_cameras_3d,
    )
    from napari_lightning_pose.inference.predict import predict_videos
    from napari_lightning_pose.io.calibration import load_calibration
    from napari_lightning_pose.io.pose_csv import write_pose_csv

    checkpoints = [Path(c) for c in checkpoints]
    out_dir = Path(out_dir)
    cfg = check_members(checkpoints)
    views = model_views(cfg)
    if not views:
        raise ConfigError(
            checkpoints[0], "was trained on a single-camera project: predict one video."
        )
    sessions = session_videos(videos, views)
    if len(sessions) != 1:
        raise ConfigError(
            None,
            f"the videos hold {len(sessions)} sessions {sorted(sessions)}; smoothing takes one.",
            "Pass the videos of one session (one per view).",
        )
    session, by_view = next(iter(sessions.items()))
    calibration_path = calibration_file(cfg, session)
    calibration = load_calibration(calibration_path, views) if calibration_path else None
    n, names = len(checkpoints), member_names(checkpoints)
    member_csvs: list[Path] = []
    n_frames = 0
    for m, (ckpt, name) in enumerate(zip(checkpoints, names, strict=True)):
        events = predict_videos(ckpt, list(by_view.values()), out_dir / name, device=device)
        offset = 0
        try:
            for event in events:
                if stop is not None and stop.is_set():
                    yield PredictSmoothEvent("stopped", m, n, member_csvs=list(member_csvs))
                    return
                n_frames = event.n_frames * len(views)
                yield PredictSmoothEvent("batch", m, n, offset + event.frames_done, n_frames)
                if event.kind == "done":
                    offset += event.n_frames
                    member_csvs.append(event.out_csv)
        finally:
            events.close()
        yield PredictSmoothEvent("member_done", m, n, n_frames, n_frames, list(member_csvs))
    if n < 2:
        yield PredictSmoothEvent("done", 0, 1, n_frames, n_frames, member_csvs, None, "one member")
        return
    yield PredictSmoothEvent("smoothing", n - 1, n, n_frames, n_frames, list(member_csvs))
    cams = load_cameras(assign_cameras(member_csvs, views))
    if calibration is None:
        result = smooth_cameras(cams, smoothing=smoothing)
    else:
        result = smooth_cameras_3d(cams, calibration, smoothing=smoothing)
    written: dict[str, Path] = {}
    for view, frame in result.frames.items():
        written[view] = write_smoothed_csv(frame, out_dir / f"{view}.eks.csv")
        write_pose_csv(poses_only(frame), out_dir / f"{view}.eks.poses.csv")
    if result.frame_3d is not None:
        written["3d"] = write_pose_csv(result.frame_3d, out_dir / "3d.eks.csv")
    note = f"session {session}: {len(views)} cameras"
    note += f", 3-D with {calibration_path.name}" if calibration_path else ""
    yield PredictSmoothEvent(
        "done", n - 1, n, n_frames, n_frames, member_csvs, written[views[0]], note, written
    )
