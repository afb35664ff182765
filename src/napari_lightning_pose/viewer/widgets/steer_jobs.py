"""The Steer dock's work off the GUI thread: load an ensemble, re-smooth it into layer data.

Both are plain functions (no Qt) that the dock runs in napari's worker threads; the GUI
thread then only swaps layer data, so dragging the smoothing slider never freezes the window.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Smoothed:
    """One re-smooth, computed in a worker: the result and its layers, ready to show."""

    steer: Any
    result: Any
    track: Any
    layers: list[Any]
    #: napari layers of ``layers`` by kind, built in the worker (when asked: the first time)
    built: dict[str, Any] = field(default_factory=dict)


def smooth_to_layers(
    steer: Any,
    smoothing: Any,
    corrections: list[Any],
    skeleton: list[list[str]],
    name: str,
    build: bool = False,
) -> Smoothed:
    """Smooth through ``corrections`` and build the steered layers' data (no Qt: a worker);
    with ``build`` also the napari layers themselves (the first time: the GUI thread then
    only inserts them)."""
    from napari_lightning_pose.viewer.prediction_layers import (
        pose_track_from_frame,
        prediction_layer_data,
    )

    result = steer.smooth(smoothing, corrections)
    track = pose_track_from_frame(result.frame)
    layers = prediction_layer_data(track, skeleton, name=name)
    for _data, kwargs, _kind in layers:
        kwargs["metadata"] = {**kwargs.get("metadata", {}), "kind": "steered"}
    built = {}
    if build:
        from napari_lightning_pose.viewer.prediction_layers import build_layers

        built = {item[2]: layer for item, layer in zip(layers, build_layers(layers), strict=True)}
    return Smoothed(steer, result, track, layers, built)


def build_steer(member_csvs: list[Path], views: Any, image_size: Any) -> tuple[Any, list[Any]]:
    """The steerable smoother and the members' tracks (reads every CSV; a worker's job)."""
    from napari_lightning_pose.ensemble.steer import SteerableSmoother
    from napari_lightning_pose.viewer.prediction_layers import read_pose_track

    steer = SteerableSmoother(member_csvs, views=views, image_size=image_size)
    return steer, [read_pose_track(m) for m in member_csvs]


@functools.cache
def warm_up_smoother() -> threading.Thread:
    """Start (once per process) a thread that loads the smoother's imports and compiled
    kernels; the thread, to join. Run while the window waits (a prediction job in its own
    process): the first ensemble the Steer dock loads otherwise paid ~0.7 s of numba
    loading, most of it holding the GIL, in the very turns its result layers were drawn."""
    thread = threading.Thread(target=_smooth_tiny_ensemble, name="warm up smoother", daemon=True)
    thread.start()
    return thread


def _smooth_tiny_ensemble() -> None:
    """Smooth a 2-member, 8-frame ensemble: every kernel ``SteerableSmoother`` calls gets
    compiled or read from numba's cache for the types a real ensemble has."""
    import numpy as np
    import pandas as pd

    from napari_lightning_pose.ensemble.members import EnsembleMembers
    from napari_lightning_pose.ensemble.steer import SteerableSmoother

    frames = np.arange(8.0)
    track = np.stack([frames, frames], -1)[:, None, :]  # (T, K=1, 2): one keypoint moving
    xy = np.stack([track, track + 1.0])  # two members, 1 px apart
    members = EnsembleMembers(
        xy=xy,
        likelihood=np.full(xy.shape[:3], 0.9),
        keypoints=["warm-up"],
        index=pd.RangeIndex(len(frames)),
        sources=["member 0", "member 1"],
    )
    SteerableSmoother(members).smooth("auto")
