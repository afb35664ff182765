"""The Predict + smooth dock's single-video job and its result as napari layers (no Qt).

The worker runs ``jobs.predict_and_smooth`` in a child process (``inference.job_process``)
and then reads the result's CSVs into layers
(``prediction_layers``), the video's too when it was not open, so the GUI thread only adds
them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from napari_lightning_pose.inference.job_process import run_in_process
from napari_lightning_pose.inference.jobs import PredictSmoothEvent, predict_and_smooth


@dataclass
class ResultLayers:
    """The finished result as napari layers, built in the worker: members, then smoothed.

    ``video`` is the video's Image layer when it was not open as the job started (with the
    frame napari shows first already decoded), else None.
    """

    members: list[Any]
    smoothed: list[Any]
    video: Any = None


def video_layer(video: Path, decode_middle: bool = True) -> Any:
    """The video's Image layer; with ``decode_middle`` the frame napari shows first is
    decoded already (a worker's job).

    A viewer whose first layer this is moves to the middle frame; decoding it from the
    keyframe before it took ~0.1 s on the GUI thread.
    """
    from napari_lightning_pose.viewer.layers import video_layer_data
    from napari_lightning_pose.viewer.prediction_layers import build_layers
    from napari_lightning_pose.viewer.widgets.warmup import decode_shown_frame

    data, kwargs, kind = video_layer_data(video)
    if decode_middle:
        decode_shown_frame(data)  # kept in the reader's cache for napari's first draw
    return build_layers([(data, kwargs, kind)])[0]


def result_layers(
    smoothed_csv: Path | None,
    member_csvs: Sequence[Path],
    skeleton: Sequence[Sequence[str]],
    n_frames: int | None = None,
) -> ResultLayers:
    """Read the result's CSVs into napari layers (no Qt: the worker does it, not the GUI)."""
    from napari_lightning_pose.viewer.prediction_layers import (
        build_layers,
        member_layer_data,
        prediction_layer_data,
        read_pose_track,
    )

    members = [
        member_layer_data(read_pose_track(csv), f"{Path(csv).stem} raw") for csv in member_csvs
    ]
    main = smoothed_csv or member_csvs[0]
    smoothed = prediction_layer_data(
        main, skeleton, n_video_frames=n_frames, member_csvs=member_csvs
    )
    return ResultLayers(build_layers(members), build_layers(smoothed))


def predict_smooth_to_layers(
    checkpoints: Sequence[Path],
    video: Path,
    out_dir: Path,
    skeleton: Sequence[Sequence[str]],
    *,
    device: str | None = None,
    stop: Any = None,
    video_open: bool = True,
) -> Iterator[PredictSmoothEvent | ResultLayers]:
    """``jobs.predict_and_smooth``, then the result's layers, made ready in the same worker
    (with the video's layer too unless ``video_open``)."""
    last = None
    # torch runs in its own process (job_process); the layers are built here, in the worker
    events = run_in_process(
        predict_and_smooth, checkpoints, video, out_dir, device=device, stop=stop
    )
    for ev in events:
        last = ev
        yield ev
    if last is not None and last.kind == "done":
        from napari_lightning_pose.viewer.widgets.warmup import warm_first_image_layer

        warm_first_image_layer()  # napari's first Image layer (the video) costs no freeze
        result = result_layers(last.smoothed_csv, last.member_csvs, skeleton, last.n_frames)
        if not video_open:
            result.video = video_layer(video)
        yield result
