"""Prediction of a multi-camera session: every view's video, one prediction CSV per view.

A model trained on a multi-camera project (``data.view_names``) predicts each view's video of
a session with the one shared network into ``<out_dir>/<session>_<view>.csv`` (the video's
own name, so ``smooth --cameras`` assigns each CSV to its camera). Before anything is
predicted, the videos are grouped into sessions (``io.views.group_sessions``) and checked: a
video naming no view, a session missing a view, or views with different frame counts are
refused with the file named, and nothing is written. Under ``torchrun`` rank ``r`` of ``W``
predicts sessions ``r, r + W, ...``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from napari_lightning_pose.errors import ConfigError, LabelsError
from napari_lightning_pose.io.video_index import probe_video
from napari_lightning_pose.io.views import check_frame_counts, group_sessions, view_in_name


def model_views(cfg: Mapping[str, Any]) -> list[str] | None:
    """The cameras a model was trained on, or None for a single-camera model."""
    views = cfg["data"].get("view_names")
    return list(views) if views else None


def session_videos(
    videos: Sequence[str | Path], views: Sequence[str]
) -> dict[str, dict[str, Path]]:
    """``{session: {view: video}}`` of ``videos``, checked (errors name the file)."""
    for video in videos:
        if view_in_name(Path(video).stem, views) is None:
            raise LabelsError(
                video,
                f"the file name holds none of the model's views {list(views)} (or several).",
                "Name each camera's video <session>_<view>.mp4, and pass every view's video.",
            )
    sessions = group_sessions(videos, views)
    for session in sessions.values():
        check_frame_counts(session, {v: probe_video(p).n_frames for v, p in session.items()})
    return sessions


def refuse_single_video(cfg: Mapping[str, Any], video: str | Path) -> None:
    """A multi-camera model predicts sessions, not one video into one CSV."""
    views = model_views(cfg)
    if views:
        raise ConfigError(
            video,
            f"the model was trained on cameras {views}: it predicts a session (every view's "
            "video), one CSV per view.",
            "Pass every view's video of the session and an output folder (predict --video "
            "S_top.mp4 S_bottom.mp4 --out DIR).",
        )


def predict_sessions(
    predict_one, videos: Sequence[str | Path], out_dir: Path, views: Sequence[str]
) -> Iterator[Any]:
    """Predict this rank's sessions, each view into ``out_dir/<video stem>.csv``.

    ``predict_one(video, out_csv)`` yields a video's events (``predict._predict_one`` with
    the loaded model bound).
    """
    from napari_lightning_pose import distributed  # torch: the window imports this module

    sessions = session_videos(videos, views)
    rank, world_size, _ = distributed.env_ranks()
    for name in distributed.shard(list(sessions), rank, world_size):
        for video in sessions[name].values():
            yield from predict_one(video, out_dir / f"{video.stem}.csv")
