"""A multi-camera result -> napari layer data, as pure functions (no Qt, no viewer).

``smooth --cameras ... --out-dir DIR`` writes ``DIR/<camera>.eks.csv`` per camera and, with a
calibration, ``DIR/3d.eks.csv`` (``ensemble.multicam``). :func:`find_camera_session` finds
those files, each camera's video and members and the calibration from the folder alone;
:func:`camera_grid_layer_data` gives, camera after camera, the video and the smoothed layers
of ``prediction_layers`` (the same tails, skeleton and points coloured by posterior SD), all
with the same number of layers per camera, so napari's grid with that stride puts each camera
in its own view box on one time slider (``GRID_STRIDE`` in the metadata, read where the
layers are added: ``widgets.layer_watch``). :func:`points_3d_layer_data` gives the 3-D
keypoints and skeleton, ``frame, z, y, x``, coloured by the 3-D posterior SD on the 2-D scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_lightning_pose.ensemble.files import SMOOTHED_SUFFIX
from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.viewer.layer_styles import (
    POSTERIOR_SD_LIMITS_PX,
    PredictionSkeletonStyle,
    UncertaintyPointsStyle,
    heat_colormap_kwargs,
)
from napari_lightning_pose.viewer.layers import LayerData

#: The 3-D table ``smooth --cameras --calibration`` writes beside the cameras' tables.
TABLE_3D = "3d.eks.csv"
#: Metadata key of the camera layers: how many consecutive layers make one camera's view.
GRID_STRIDE = "camera_grid_stride"


@dataclass(frozen=True)
class CameraSession:
    """The files of one multi-camera result (``smooth --cameras`` output folder).

    Attributes
    ----------
    out_dir : Path
    cameras : tuple of str
        Camera names, sorted (from ``<camera>.eks.csv``).
    smoothed : dict of camera to Path
    videos : dict of camera to Path
        Each camera's video (empty when none was found: the layers open without videos).
    members : dict of camera to list of Path
        The ensemble members' prediction CSVs found beside or in the folder's member
        folders (``<out_dir>/<member>/``, as the Predict + smooth dock writes), per camera
        (may be empty).
    table_3d : Path or None
        ``3d.eks.csv`` when the smoothing was calibrated.
    calibration : Path or None
        The rig's ``calibration.toml`` when one is found (reprojection errors).
    """

    out_dir: Path
    cameras: tuple[str, ...]
    smoothed: dict[str, Path]
    videos: dict[str, Path] = field(default_factory=dict)
    members: dict[str, list[Path]] = field(default_factory=dict)
    table_3d: Path | None = None
    calibration: Path | None = None


def is_camera_folder(path: str | Path) -> bool:
    """True for a folder holding ``<camera>.eks.csv`` of at least two cameras."""
    path = Path(path)
    return path.is_dir() and len(_camera_tables(path)) >= 2


def _camera_tables(folder: Path) -> dict[str, Path]:
    return {
        p.name.removesuffix(SMOOTHED_SUFFIX): p
        for p in sorted(folder.glob(f"*{SMOOTHED_SUFFIX}"))
        if p.name != TABLE_3D and p.is_file()
    }


def _nearby_videos(out_dir: Path, project_videos: Sequence[Path]) -> list[Path]:
    """Videos in the output folder, the two folders above it and the project's video folder."""
    from napari_lightning_pose.io.video import VIDEO_SUFFIXES  # av: imported when needed

    found = [Path(v) for v in project_videos]
    for folder in (out_dir, out_dir.parent, out_dir.parent.parent):
        if folder.is_dir():
            found += [p for p in sorted(folder.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES]
    return list(dict.fromkeys(p.resolve() for p in found if p.is_file()))


def _pick_videos(out_dir: Path, cameras: Sequence[str], videos: Sequence[Path]) -> dict[str, Path]:
    """One video per camera; among several sessions' the one named like the output folder."""
    from napari_lightning_pose.io.views import session_name, view_in_name

    by_camera: dict[str, list[Path]] = {}
    for video in videos:
        camera = view_in_name(video.stem, cameras)
        if camera is not None:
            by_camera.setdefault(camera, []).append(video)
    picked: dict[str, Path] = {}
    hints = {out_dir.name, out_dir.parent.name}
    for camera, found in by_camera.items():
        if len(found) > 1:
            found = [v for v in found if session_name(v.stem, camera) in hints] or found
        if len(found) > 1:
            raise LabelsError(
                out_dir,
                f"several videos could be camera {camera!r}'s: {[v.name for v in found]}.",
                "Name the output folder after the session (predictions/<session>/), or give "
                "the videos explicitly.",
            )
        picked[camera] = found[0]
    return picked


def find_camera_session(
    out_dir: str | Path, videos: Mapping[str, str | Path] | None = None
) -> CameraSession:
    """The multi-camera result in ``out_dir``, with the videos, members and calibration found.

    Parameters
    ----------
    out_dir
        The folder ``smooth --cameras`` wrote.
    videos
        Each camera's video; by default found by camera name (``<session>_<camera>.mp4``) in
        the folder, the two above it and the project's video folder (``io.views``).

    Raises
    ------
    LabelsError
        Fewer than two cameras' tables in the folder, or videos that do not name one camera.
    """
    from napari_lightning_pose.ensemble.files import find_project_config, is_member_csv
    from napari_lightning_pose.io.views import view_in_name

    out_dir = Path(out_dir)
    tables = _camera_tables(out_dir) if out_dir.is_dir() else {}
    if len(tables) < 2:
        raise LabelsError(
            out_dir,
            f"holds {len(tables)} camera table(s) (<camera>{SMOOTHED_SUFFIX}); a multi-camera "
            "result has one per camera.",
            "Open the folder that `smooth --cameras ... --out-dir DIR` wrote.",
        )
    config = find_project_config(out_dir / "x")
    project_videos, calibration, views = _project_files(config, out_dir, tuple(tables))
    cameras = tuple(views) or tuple(tables)  # the project's order of views, else by name
    if videos is None:
        picked = _pick_videos(out_dir, cameras, _nearby_videos(out_dir, project_videos))
    else:
        picked = {str(c): Path(v) for c, v in videos.items()}
        unknown = [c for c in picked if c not in cameras]
        if unknown:
            raise LabelsError(out_dir, f"has no table for camera(s) {unknown}; it has {cameras}.")
    members: dict[str, list[Path]] = {c: [] for c in cameras}
    member_dirs = sorted(p for p in out_dir.iterdir() if p.is_dir())
    for folder in (out_dir, out_dir.parent, *member_dirs):
        for csv in sorted(folder.glob("*.csv")):
            camera = view_in_name(csv.name.split(".")[0], cameras)
            if ".eks." in csv.name:  # the smoother's own output (``.eks.poses.csv``)
                continue
            if camera is not None and csv not in members[camera] and is_member_csv(csv):
                members[camera].append(csv)
    table_3d = out_dir / TABLE_3D
    for candidate in (out_dir / "calibration.toml", out_dir.parent / "calibration.toml"):
        if calibration is None and candidate.is_file():
            calibration = candidate
    return CameraSession(
        out_dir=out_dir,
        cameras=cameras,
        smoothed=tables,
        videos=picked,
        members=members,
        table_3d=table_3d if table_3d.is_file() else None,
        calibration=calibration,
    )


def _project_files(
    config: Path | None, out_dir: Path, cameras: Sequence[str]
) -> tuple[list[Path], Path | None, list[str]]:
    """The project's videos and, when its views are the cameras, the session's calibration
    (the session is the folder's name or its parent's) and the views in the config's order."""
    from napari_lightning_pose.errors import ConfigError
    from napari_lightning_pose.io.views import CALIBRATIONS_DIR, calibration_file
    from napari_lightning_pose.labeling.project import Project

    if config is None:
        return [], None, []
    try:
        project = Project.open(config)
        videos = project.video_paths()
        views = list(project.config["data"].get("view_names") or [])
        if sorted(views) != sorted(cameras):
            return videos, None, []
        own = Path(project.config["data"]["data_dir"]) / CALIBRATIONS_DIR / f"{out_dir.name}.toml"
        session = out_dir.name if own.is_file() else out_dir.parent.name
        return videos, calibration_file(project.config, session), views
    except (ConfigError, KeyError):
        return [], None, []


def project_skeleton(session: CameraSession, keypoints: Sequence[str]) -> list[tuple[str, str]]:
    """The skeleton of the project above the folder when its keypoints are the tables'."""
    from napari_lightning_pose.labeling.skeleton import project_skeleton as of_csv

    return of_csv(session.smoothed[session.cameras[0]], keypoints)


def camera_grid_layer_data(
    session: CameraSession, skeleton: Sequence[Sequence[str]] | None = None
) -> list[LayerData]:
    """Each camera's video, tails, skeleton and keypoints, camera after camera.

    Every camera gets the same layers (a camera without a video gets none, and then none
    does), so ``metadata[GRID_STRIDE]`` layers make one camera's view box in napari's grid.
    The smoothed layers are ``prediction_layer_data``'s, named after the camera, their
    metadata with ``camera`` and ``camera_csvs`` (every camera's table, for the trace panel
    and the outlier queue).

    Raises
    ------
    LabelsError
        Cameras with different keypoints, or a table whose frames are not its video's.
    """
    from napari_lightning_pose.viewer.layers import video_layer_data
    from napari_lightning_pose.viewer.prediction_layers import (
        prediction_layer_data,
        read_pose_track,
    )

    tracks = {c: read_pose_track(session.smoothed[c]) for c in session.cameras}
    first = tracks[session.cameras[0]]
    for track in tracks.values():
        if set(track.keypoints) != set(first.keypoints):
            raise LabelsError(
                track.path,
                f"has keypoints {track.keypoints}, camera {session.cameras[0]!r} has "
                f"{first.keypoints}.",
                "Smooth the cameras together (`smooth --cameras`) so their tables match.",
            )
    if skeleton is None:
        skeleton = project_skeleton(session, first.keypoints)
    with_video = all(c in session.videos for c in session.cameras)
    camera_csvs = {c: str(session.smoothed[c]) for c in session.cameras}
    per_camera: list[list[LayerData]] = []
    for camera in session.cameras:
        layers: list[LayerData] = []
        n_frames = None
        if with_video:
            layers.append(video_layer_data(session.videos[camera]))
            n_frames = int(layers[-1][1]["metadata"]["n_frames"])
        members = session.members.get(camera, [])
        for data, kwargs, kind in prediction_layer_data(
            tracks[camera], skeleton, name=camera, n_video_frames=n_frames, member_csvs=members
        ):
            meta = {**kwargs["metadata"], "camera": camera, "camera_csvs": camera_csvs}
            layers.append((data, {**kwargs, "metadata": meta}, kind))
        per_camera.append(layers)
    strides = {len(layers) for layers in per_camera}
    if len(strides) != 1:
        raise LabelsError(
            session.out_dir,
            "the cameras' tables give different layers (a camera with no finite keypoint).",
        )
    stride = strides.pop()
    out: list[LayerData] = []
    for layers in per_camera:
        for data, kwargs, kind in layers:
            meta = {**kwargs.get("metadata", {}), GRID_STRIDE: stride}
            out.append((data, {**kwargs, "metadata": meta}, kind))
    return out


# ----------------------------------------------------------------------------------- 3-D
@dataclass(frozen=True)
class Track3D:
    """The 3-D table as arrays: ``points`` (T, K, 3) x, y, z and ``sd`` (T, K) posterior SD."""

    keypoints: list[str]
    frames: np.ndarray
    points: np.ndarray
    sd: np.ndarray
    path: Path | None = None


def read_track_3d(path: str | Path) -> Track3D:
    """Read ``3d.eks.csv`` (``x, y, z`` and their posterior variances per keypoint)."""
    from napari_lightning_pose.io import pose_csv

    coords = ("x", "y", "z", "x_posterior_var", "y_posterior_var", "z_posterior_var")
    df = pose_csv.read_pose_csv(path, required_coords=coords)
    values = pose_csv.coords_array(df, coords)
    try:
        frames = np.asarray(pd.to_numeric(pd.Index(df.index)), dtype=int)
    except (TypeError, ValueError) as err:
        raise LabelsError(path, "rows are not frame numbers.") from err
    sd = np.sqrt(values[..., 3:].sum(axis=-1))
    return Track3D(pose_csv.keypoint_names(df), frames, values[..., :3], sd, Path(path))


def points_3d_layer_data(
    track: Track3D | str | Path, skeleton: Sequence[Sequence[str]] = (), name: str = "3d"
) -> list[LayerData]:
    """The 3-D skeleton (Vectors) and keypoints (Points), rows ``frame, z, y, x``.

    Both are coloured by the 3-D posterior SD, ``sqrt(var_x + var_y + var_z)`` in the
    calibration's world units, with the heat map and fixed limits of the 2-D layers (an edge
    by the less certain of its ends). Sizes follow the extent of the points.
    """
    if not isinstance(track, Track3D):
        track = read_track_3d(track)
    finite = np.isfinite(track.points).all(axis=2)
    t, k = np.nonzero(finite)
    zyx = track.points[t, k][:, ::-1]
    extent = float(np.ptp(zyx, axis=0).max()) if len(zyx) else 1.0
    sd = np.where(np.isfinite(track.sd), track.sd, POSTERIOR_SD_LIMITS_PX[1])
    metadata = {
        "csv_path": str(track.path) if track.path else None,
        "keypoint_names": list(track.keypoints),
        "color_by": "posterior_sd_3d",  # the legend's caption; the feature is posterior_sd
        "contrast_limits": POSTERIOR_SD_LIMITS_PX,
        "kind": "smoothed_3d",
    }
    layers: list[LayerData] = []
    index = {n: i for i, n in enumerate(track.keypoints)}
    edges = [(index[a], index[b]) for a, b in skeleton if a in index and b in index]
    if edges:
        a, b = np.array(edges).T
        ok = finite[:, a] & finite[:, b]
        row, e = np.nonzero(ok)
        start, end = track.points[row, a[e]][:, ::-1], track.points[row, b[e]][:, ::-1]
        frame = track.frames[row].astype(float)[:, None]
        vectors = np.stack(
            [np.hstack([frame, start]), np.hstack([np.zeros_like(frame), end - start])], axis=1
        )
        style = PredictionSkeletonStyle(name=f"{name} skeleton", edge_width=extent / 150)
        kwargs: dict[str, Any] = {
            **style.as_kwargs(),
            "opacity": 1.0,
            "ndim": 4,
            "features": pd.DataFrame({"posterior_sd": np.maximum(sd[row, a[e]], sd[row, b[e]])}),
            "edge_color": "posterior_sd",
            "edge_colormap": _heat_colormap(),
            "edge_contrast_limits": POSTERIOR_SD_LIMITS_PX,
            "metadata": metadata,
        }
        layers.append((vectors, kwargs, "vectors"))
    data = np.column_stack([track.frames[t], zyx]).astype(float).reshape(-1, 4)
    features = pd.DataFrame(
        {
            "keypoint": pd.Categorical(
                np.asarray(track.keypoints, dtype=object)[k], categories=track.keypoints
            ),
            "frame": track.frames[t],
            "posterior_sd": sd[t, k],
        }
    )
    points = UncertaintyPointsStyle(name=name, size=extent / 25).as_kwargs()
    points.update(features=features, metadata=metadata, ndim=4)
    layers.append((data, points, "points"))
    return layers


def _heat_colormap() -> Any:
    from napari.utils.colormaps import Colormap  # napari.utils only, no Qt

    return Colormap(**heat_colormap_kwargs())
