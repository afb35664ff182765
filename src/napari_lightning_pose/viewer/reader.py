"""Readers: labels CSVs, prediction / smoothed CSVs and videos as napari layer data.

Each ``get_*_reader(path)`` returns a function that turns ``path`` into layer-data tuples,
or None when the file is not for it, so napari can try the next reader. A reader is a pure
function of its file and the files beside it (the project config): it never looks at the
viewer, so a file opens as the same layers whatever else is open, with or without napari and
Qt. Lining the layers up with an open video (and refusing a file of another length) happens
where napari adds them: ``widgets.layer_watch``, which the plugin's npe2 entry points
(``contributions``) register on the viewer.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from napari_lightning_pose.viewer.layers import LayerData, labels_layer_data, video_layer_data

PathOrPaths = str | Sequence[str]
ReaderFunction = Callable[[PathOrPaths], list[LayerData]]


# ----------------------------------------------------------------------------- labels CSV
def _header_coords(path: str | Path) -> set[str] | None:
    """The coords row of a pose CSV's three-row header, or None for any other file."""
    path = Path(path)
    if path.suffix.lower() != ".csv" or not path.is_file():
        return None
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [row for _, row in zip(range(3), csv.reader(f), strict=False)]
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if len(rows) < 3 or [r[0].strip() if r else "" for r in rows] != [
        "scorer",
        "bodyparts",
        "coords",
    ]:
        return None
    return {c.strip() for c in rows[2][1:]} - {""}  # DeepLabCut leaves index cells empty


def is_labels_csv(path: str | Path) -> bool:
    """True for a CSV whose first three rows are the scorer / bodyparts / coords (x, y) header.

    Prediction CSVs (coords with ``likelihood``) and any other CSV give False.
    """
    return _header_coords(path) == {"x", "y"}


def is_prediction_csv(path: str | Path) -> bool:
    """True for a Lightning Pose / DeepLabCut prediction CSV or our smoothed CSV.

    That is a pose CSV whose coords include ``x``, ``y`` and ``likelihood`` (smoothed files
    add variance columns).
    """
    coords = _header_coords(path)
    return coords is not None and {"x", "y", "likelihood"} <= coords


def get_labels_reader(path: PathOrPaths) -> ReaderFunction | None:
    """The reader for Lightning Pose / DeepLabCut labels CSVs, or None for other files.

    The layers are the labeled frames (an image stack, paths relative to the CSV's folder),
    the keypoints (a Points layer coloured by keypoint, ``features`` keypoint/frame/image)
    and, when the CSV is the labels file of a project whose ``config.yaml`` sits beside it,
    the project's skeleton; keypoints then follow the config's order.
    """
    paths = [path] if isinstance(path, str | Path) else list(path)
    if not paths or not all(is_labels_csv(p) for p in paths):
        return None
    return _read_labels


def _read_labels(path: PathOrPaths) -> list[LayerData]:
    paths = [path] if isinstance(path, str | Path) else list(path)
    layers: list[LayerData] = []
    for p in paths:
        layers.extend(labels_layer_data(p, **_project_options(Path(p))))
    return layers


def _project_options(csv_path: Path) -> dict[str, Any]:
    """Keypoint order and skeleton from the project config beside ``csv_path``, if it is one."""
    from napari_lightning_pose.errors import ConfigError
    from napari_lightning_pose.labeling.project import Project

    config = csv_path.parent / "config.yaml"
    if not config.is_file():
        return {}
    try:
        project = Project.open(config)
    except ConfigError:
        return {}  # not our project (or broken): the CSV alone still opens
    views = project.views  # a multi-camera project: the CSV is one view's
    csvs = list(views.csv_files) if views is not None else [project.csv_path]
    if csv_path.resolve() not in [c.resolve() for c in csvs] or not project.keypoint_names:
        return {}
    return {
        "keypoint_names": project.keypoint_names,
        "skeleton": project.skeleton,
        "root": project.data_dir,
    }


# -------------------------------------------------------------------- prediction CSVs
def get_predictions_reader(path: PathOrPaths) -> ReaderFunction | None:
    """The reader for prediction CSVs and smoothed (EKS) CSVs, or None for other files.

    Each file becomes tails (Tracks), skeleton (Vectors, when a project config above the file
    names one) and keypoints (Points) coloured by posterior SD in px (smoothed) or by
    likelihood (predictions), on the video's time axis (``prediction_layers``). Their
    metadata carries the file's frame count (``track_frames``, ``last_frame``), which the
    viewer checks against the open video when it adds them (``widgets.layer_watch``).
    """
    paths = [path] if isinstance(path, str | Path) else list(path)
    if not paths or not all(is_prediction_csv(p) for p in paths):
        return None
    return _read_predictions


def _read_predictions(path: PathOrPaths) -> list[LayerData]:
    from napari_lightning_pose.labeling.skeleton import project_skeleton
    from napari_lightning_pose.viewer.prediction_layers import (
        prediction_layer_data,
        read_pose_track,
    )

    paths = [path] if isinstance(path, str | Path) else list(path)
    layers: list[LayerData] = []
    for p in paths:
        track = read_pose_track(p)
        skeleton = project_skeleton(Path(p), track.keypoints)
        layers.extend(prediction_layer_data(track, skeleton=skeleton))
    return layers


# ---------------------------------------------------------------------------------- videos
def is_video_path(path: str | Path) -> bool:
    """True for an existing file whose name ends in .mp4, .avi, .mov or .mkv (any case)."""
    from napari_lightning_pose.io.video import VIDEO_SUFFIXES

    path = Path(path)
    return path.suffix.lower() in VIDEO_SUFFIXES and path.is_file()


def get_video_reader(path: PathOrPaths) -> ReaderFunction | None:
    """The reader for videos (.mp4, .avi, .mov, .mkv), or None for other paths.

    Each video becomes an RGB Image layer whose data is a lazy ``VideoReader`` (frames are
    decoded as the time slider moves), named after the file, with ``fps``, ``n_frames`` and
    ``video_path`` in the layer metadata. A damaged video raises ``VideoError`` when read,
    which napari shows to the user.
    """
    paths = [path] if isinstance(path, str | Path) else list(path)
    if not paths or not all(is_video_path(p) for p in paths):
        return None
    return _read_videos


def _read_videos(path: PathOrPaths) -> list[LayerData]:
    paths = [path] if isinstance(path, str | Path) else list(path)
    return [video_layer_data(p) for p in paths]


# ------------------------------------------------------------------ multi-camera folders
def get_camera_folder_reader(path: PathOrPaths) -> ReaderFunction | None:
    """The reader for a ``smooth --cameras`` output folder (``<camera>.eks.csv`` of two or
    more cameras), or None for anything else.

    It opens every camera's video and smoothed layers, camera after camera
    (``camera_layers.camera_grid_layer_data``); the viewer turns its grid on with one view
    box per camera when they are added (``widgets.layer_watch``).
    """
    from napari_lightning_pose.viewer.camera_layers import is_camera_folder

    paths = [path] if isinstance(path, str | Path) else list(path)
    if len(paths) != 1 or not is_camera_folder(paths[0]):
        return None
    return _read_camera_folder


def _read_camera_folder(path: PathOrPaths) -> list[LayerData]:
    from napari_lightning_pose.viewer.camera_layers import (
        camera_grid_layer_data,
        find_camera_session,
    )

    folder = path if isinstance(path, str | Path) else next(iter(path))
    return camera_grid_layer_data(find_camera_session(folder))
