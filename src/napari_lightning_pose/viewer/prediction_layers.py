"""Prediction and smoothed CSVs -> napari layer data, as pure functions (no Qt, no viewer).

A prediction CSV (Lightning Pose / DeepLabCut: ``x, y, likelihood`` per keypoint, one row per
video frame) or our smoothed CSV (``ensemble.smooth.EKS_COORDS``: adds ensemble and posterior
variances) is read once into a :class:`PoseTrack` of arrays. From it come

- a Points layer ``(N, 3)`` of ``frame, y, x`` whose features keep the numbers
  (``keypoint``, ``frame``, ``likelihood``, ``posterior_sd``, ``ensemble_sd``) and whose face
  colour maps ``posterior_sd`` in px (smoothed) or ``likelihood`` (plain predictions) through
  the heat colormap of ``layer_styles`` with fixed contrast limits;
- a Tracks layer ``(N, 4)`` of ``track_id, frame, y, x`` (one track per keypoint) with tails
  coloured on the same scale;
- a Vectors layer of skeleton edges, one line per frame and edge.

:func:`build_layers` makes napari layers of such tuples (``napari.layers`` imported there
only), for the docks' workers.

Axis 0 is the video's frame number (the CSV's index), so the layers line up with the video
opened by the video reader. Pixel coordinates are the same in the CSV and in napari, so x and
y are only swapped, never shifted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_lightning_pose.ensemble.uncertainty import ensemble_std, posterior_std
from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io import pose_csv
from napari_lightning_pose.viewer.layer_styles import (
    LIKELIHOOD_LIMITS,
    POSTERIOR_SD_LIMITS_PX,
    MemberPointsStyle,
    PredictionSkeletonStyle,
    UncertaintyPointsStyle,
    UncertaintyTracksStyle,
)
from napari_lightning_pose.viewer.layers import LayerData, xy_skeleton_vectors

PREDICTION_FEATURES = ("keypoint", "frame", "likelihood", "posterior_sd", "ensemble_sd")
SMOOTHED_MARK = "x_posterior_var"


@dataclass
class PoseTrack:
    """Predicted keypoints of one video as arrays.

    Attributes
    ----------
    keypoints : list of str
        Keypoint names, K.
    frames : numpy.ndarray
        (T,) int: video frame of each row (the CSV's index).
    xy : numpy.ndarray
        (T, K, 2) x, y in px (NaN where not predicted).
    likelihood : numpy.ndarray
        (T, K) confidence in 0..1.
    posterior_sd : numpy.ndarray or None
        (T, K) posterior SD in px, ``sqrt(x_posterior_var + y_posterior_var)`` (smoothed).
    ensemble_sd : numpy.ndarray or None
        (T, K) ensemble spread in px, ``sqrt(x_ens_var + y_ens_var)`` (smoothed).
    posterior_var : numpy.ndarray or None
        (T, K, 2) posterior variance of x and y in px^2 (smoothed), for bands on x and y.
    path : Path or None
        The file read, for messages and layer metadata.
    """

    keypoints: list[str]
    frames: np.ndarray
    xy: np.ndarray
    likelihood: np.ndarray
    posterior_sd: np.ndarray | None = None
    ensemble_sd: np.ndarray | None = None
    posterior_var: np.ndarray | None = None
    path: Path | None = None

    @property
    def smoothed(self) -> bool:
        """True for smoothed output (it has posterior SDs)."""
        return self.posterior_sd is not None

    @property
    def n_frames(self) -> int:
        """Rows (video frames) in the table."""
        return len(self.frames)

    @property
    def color_by(self) -> str:
        """The feature the colour shows: ``posterior_sd`` or ``likelihood``."""
        return "posterior_sd" if self.smoothed else "likelihood"

    @property
    def contrast_limits(self) -> tuple[float, float]:
        """Fixed limits of the colour scale (px for posterior SD)."""
        return POSTERIOR_SD_LIMITS_PX if self.smoothed else LIKELIHOOD_LIMITS


def pose_track_from_frame(df: pd.DataFrame, path: str | Path | None = None) -> PoseTrack:
    """Turn a prediction or smoothed table (three column levels) into a :class:`PoseTrack`.

    Raises
    ------
    LabelsError
        The table has no ``likelihood`` columns (a labels file, not predictions) or its
        index is not frame numbers.
    """
    path = Path(path) if path is not None else None
    pose_csv.require_coords(df, ("x", "y", "likelihood"), path, "" if path else "table")
    names = pose_csv.keypoint_names(df)
    try:
        frames = np.asarray(pd.to_numeric(pd.Index(df.index)), dtype=float)
    except (TypeError, ValueError) as err:
        raise LabelsError(
            path,
            f"rows are labelled {list(map(str, df.index[:2]))}, not video frame numbers.",
            "Open a prediction CSV of a video (labels CSVs open with the labels reader).",
        ) from err
    if not np.all(frames == np.round(frames)):
        raise LabelsError(path, "row labels are not whole frame numbers.")
    xy = pose_csv.coords_array(df, ("x", "y"))
    likelihood = pose_csv.coords_array(df, ("likelihood",))[..., 0]
    coords = set(df.columns.get_level_values("coords"))
    post = ens = var = None
    if {"x_posterior_var", "y_posterior_var"} <= coords:
        var = pose_csv.coords_array(df, ("x_posterior_var", "y_posterior_var"))
        post = posterior_std(df)[names].to_numpy(dtype=float)
    if {"x_ens_var", "y_ens_var"} <= coords:
        ens = ensemble_std(df)[names].to_numpy(dtype=float)
    return PoseTrack(names, frames.astype(int), xy, likelihood, post, ens, var, path)


def read_pose_track(path: str | Path) -> PoseTrack:
    """Read a Lightning Pose / DeepLabCut prediction CSV or our smoothed CSV."""
    df = pose_csv.read_pose_csv(path, required_coords=("x", "y", "likelihood"))
    return pose_track_from_frame(df, path)


def check_frame_count(track: PoseTrack, n_video_frames: int, video: str | Path = "") -> None:
    """Raise ``LabelsError`` unless the predictions cover exactly the video's frames.

    A mismatch means the file is of another video (or a cut of it): drawn over this one its
    keypoints would sit on the wrong frames.
    """
    last = int(track.frames.max(initial=-1))
    check_frames_cover_video(track.path, track.n_frames, last, n_video_frames, video)


def check_frames_cover_video(
    csv_path: str | Path | None,
    n_frames: int,
    last_frame: int,
    n_video_frames: int,
    video: str | Path = "",
) -> None:
    """:func:`check_frame_count` from a layer's metadata (``track_frames``, ``last_frame``)."""
    if n_frames != n_video_frames or (n_frames and last_frame >= n_video_frames):
        name = Path(video).name if video else "the open video"
        raise LabelsError(
            csv_path,
            f"has {n_frames} frames (last {last_frame}) but "
            f"{name} has {n_video_frames}; its keypoints would land on the wrong frames.",
            "Open the predictions made for this video, or predict it again.",
        )


def _color_values(track: PoseTrack) -> np.ndarray:
    """(T, K) values of the colour feature, NaN replaced by the uncertain end of the scale."""
    lo, hi = track.contrast_limits
    if track.smoothed:
        return np.where(np.isfinite(track.posterior_sd), track.posterior_sd, hi)
    return np.where(np.isfinite(track.likelihood), track.likelihood, lo)


def prediction_to_points(track: PoseTrack) -> tuple[np.ndarray, pd.DataFrame]:
    """Points layer data ``(N, 3)`` of ``frame, y, x`` and its features, one row per keypoint
    and frame where it was predicted (NaN positions give no point).

    Features: ``keypoint`` (categorical, keypoint order), ``frame`` (int), ``likelihood``,
    ``posterior_sd`` and ``ensemble_sd`` (px; NaN for plain predictions). The colour feature
    (``track.color_by``) has no NaN, so the colormap always applies.
    """
    n_t, n_k = track.likelihood.shape
    t, k = np.nonzero(np.isfinite(track.xy).all(axis=2))
    data = np.column_stack([track.frames[t], track.xy[t, k, 1], track.xy[t, k, 0]]).astype(float)
    nan = np.full((n_t, n_k), np.nan)
    post = track.posterior_sd if track.posterior_sd is not None else nan
    ens = track.ensemble_sd if track.ensemble_sd is not None else nan
    colour = _color_values(track)
    features = pd.DataFrame(
        {
            "keypoint": pd.Categorical(
                np.asarray(track.keypoints, dtype=object)[k], categories=track.keypoints
            ),
            "frame": track.frames[t].astype(int),
            "likelihood": track.likelihood[t, k],
            "posterior_sd": post[t, k],
            "ensemble_sd": ens[t, k],
        }
    )
    features[track.color_by] = colour[t, k]
    return data.reshape(-1, 3), features


def scaled_color(track: PoseTrack) -> np.ndarray:
    """(T, K) colour feature scaled to 0..1 by the contrast limits (for Tracks)."""
    lo, hi = track.contrast_limits
    return np.clip((_color_values(track) - lo) / (hi - lo), 0.0, 1.0)


def prediction_to_tracks(track: PoseTrack) -> tuple[np.ndarray, pd.DataFrame]:
    """Tracks layer data ``(N, 4)`` of ``track_id, frame, y, x`` (track = keypoint index) and
    features ``keypoint``, the colour feature and ``<colour feature>_scaled`` (0..1 by the
    fixed contrast limits, which ``UncertaintyTracksStyle`` colours by)."""
    finite = np.isfinite(track.xy).all(axis=2)
    k, t = np.nonzero(finite.T)  # keypoint-major, frames ascending: napari's track order
    data = np.column_stack([k, track.frames[t], track.xy[t, k, 1], track.xy[t, k, 0]])
    colour = _color_values(track)
    features = pd.DataFrame(
        {
            "keypoint": np.asarray(track.keypoints, dtype=object)[k],
            track.color_by: colour[t, k],
            f"{track.color_by}_scaled": scaled_color(track)[t, k],
        }
    )
    return data.astype(float).reshape(-1, 4), features


def prediction_layer_data(
    track: PoseTrack | str | Path,
    skeleton: Sequence[Sequence[str]] = (),
    name: str | None = None,
    n_video_frames: int | None = None,
    tails: bool = True,
    member_csvs: Sequence[str | Path] = (),
) -> list[LayerData]:
    """Layer-data tuples for one prediction or smoothed file: tails, skeleton, keypoints.

    Parameters
    ----------
    track
        A :class:`PoseTrack` or the CSV to read.
    skeleton
        Keypoint pairs to join; no skeleton layer when empty.
    name
        Layer name prefix; defaults to the file's stem.
    n_video_frames
        Frames of the video the layers go over; checked with :func:`check_frame_count`.
    tails
        Add the Tracks layer.
    member_csvs
        The raw members' CSVs behind a smoothed file, kept in the metadata (``member_csvs``)
        for the trace panel.

    Returns
    -------
    list of (data, kwargs, layer_type)
        ``"tracks"`` (when ``tails``), ``"vectors"`` (when a skeleton edge applies) and
        ``"points"``, in drawing order (points on top). Each layer's metadata holds
        ``csv_path``, ``keypoint_names``, ``color_by``, ``contrast_limits`` and ``kind``
        (``"smoothed"`` or ``"prediction"``).
    """
    if not isinstance(track, PoseTrack):
        track = read_pose_track(track)
    if n_video_frames is not None:
        check_frame_count(track, n_video_frames)
    stem = name or (track.path.name.removesuffix(".csv") if track.path else "predictions")
    metadata = {
        "csv_path": str(track.path) if track.path else None,
        "keypoint_names": list(track.keypoints),
        "color_by": track.color_by,
        "contrast_limits": tuple(track.contrast_limits),
        "kind": "smoothed" if track.smoothed else "prediction",
        "skeleton": [list(edge) for edge in skeleton],
        "member_csvs": [str(m) for m in member_csvs],
        # what the viewer checks against the open video when the layers are added
        "track_frames": track.n_frames,
        "last_frame": int(track.frames.max(initial=-1)),
    }
    layers: list[LayerData] = []
    if tails:
        tdata, tfeatures = prediction_to_tracks(track)
        if len(tdata):
            style = UncertaintyTracksStyle(
                name=f"{stem} tails",
                color_by=f"{track.color_by}_scaled",
                reverse=not track.smoothed,
            )
            layers.append(
                (
                    tdata,
                    {**style.as_kwargs(), "features": tfeatures, "metadata": metadata},
                    "tracks",
                )
            )
    vectors = xy_skeleton_vectors(track.xy, track.keypoints, skeleton, track.frames)
    if len(vectors):
        style = PredictionSkeletonStyle(name=f"{stem} skeleton")
        layers.append((vectors, {**style.as_kwargs(), "ndim": 3, "metadata": metadata}, "vectors"))
    data, features = prediction_to_points(track)
    points_style = UncertaintyPointsStyle(
        name=stem, color_by=track.color_by, contrast_limits=track.contrast_limits
    )
    points_kwargs: dict[str, Any] = {
        **points_style.as_kwargs(),
        "features": features,
        "metadata": metadata,
        "ndim": 3,
    }
    layers.append((data, points_kwargs, "points"))
    return layers


def member_layer_data(track: PoseTrack, name: str) -> LayerData:
    """A faint, hidden Points layer of one raw ensemble member's predictions."""
    data, features = prediction_to_points(track)
    kwargs = {
        **MemberPointsStyle(name=name).as_kwargs(),
        "features": features,
        "ndim": 3,
        "metadata": {"csv_path": str(track.path) if track.path else None, "kind": "member"},
    }
    return data, kwargs, "points"


def build_layers(items: Sequence[LayerData]) -> list[Any]:
    """napari layers from layer-data tuples (``napari.layers`` only, no Qt: a worker may).

    Building a layer formats its features, colours and texts (17,000 points: 10-60 ms of
    CPU each); done in a worker, the GUI thread is left only inserting it. The layers are
    the ones ``viewer.add_<kind>(data, **kwargs)`` would add.
    """
    from napari.layers import Layer

    layers = []
    for data, kwargs, kind in items:
        kwargs = dict(kwargs)
        if kind == "image":  # what viewer.add_image gives a single-channel image
            kwargs.setdefault("blending", "translucent_no_depth")
        layers.append(Layer.create(data, kwargs, kind))
    return layers
