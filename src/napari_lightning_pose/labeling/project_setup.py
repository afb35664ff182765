"""Setting up a project: ``init_project`` creates the folder, ``add_video`` fills ``videos/``.

A new project may start from a Lightning Pose config (``config_from_file`` keeps the keys
this project knows); an opened one is ``labeling.project.Project``.
"""

from __future__ import annotations

import copy
import filecmp
import os
import shutil
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from napari_lightning_pose.errors import ConfigError, LabelsError, LightningPoseInputError
from napari_lightning_pose.io import labels as labels_io
from napari_lightning_pose.io.atomic import atomic_write
from napari_lightning_pose.io.config import (
    CONFIG_NAME,
    PASSTHROUGH_SECTIONS,
    default_config,
    read_yaml,
    save_config,
    validate_config,
)
from napari_lightning_pose.io.image_paths import LABELED_DATA_DIR
from napari_lightning_pose.io.views import (
    check_same_keypoints,
    check_session_videos,
    check_view_keys,
    view_in_name,
)
from napari_lightning_pose.labeling.project import Project


def init_project(
    folder: str | Path,
    keypoint_names: Sequence[str] = (),
    skeleton: Iterable[Sequence[str]] = (),
    videos: Iterable[str | Path] = (),
    copy_videos: bool = True,
    base_config: Mapping[str, Any] | None = None,
    views: Sequence[str] = (),
    **data_options: Any,
) -> Path:
    """Create a project folder with ``config.yaml``, ``labeled-data/`` and ``videos/``.

    Parameters
    ----------
    folder
        The project folder; created if needed. It may already hold Lightning Pose data
        (a labels CSV and ``labeled-data/``), whose keypoints must then match.
    keypoint_names
        Keypoints in labeling order. When empty, taken from ``base_config`` or from an
        existing labels CSV in ``folder``.
    skeleton
        Pairs of keypoint names to draw lines between.
    videos
        Videos to add to ``videos/`` (see ``add_video``).
    copy_videos
        Copy the videos (True) or link to them (False).
    base_config
        A config to start from (e.g. a Lightning Pose config, see ``config_from_file``);
        ``data.data_dir``/``data.video_dir`` are always set to ``.`` and ``videos``.
    views
        Camera names of a multi-camera project (``io.views``): ``data.view_names`` and one
        labels CSV per view, ``CollectedData_<view>.csv`` (created empty), unless
        ``csv_file`` lists them. Each video's name must hold a view; a session's views must
        have the same frame count.
    **data_options
        Further ``data.*`` keys, e.g. ``image_resize_dims={"height": 256, "width": 256}``,
        ``columns_for_singleview_pca``, ``mirrored_column_matches``, ``csv_file``.

    Returns
    -------
    pathlib.Path
        The new ``config.yaml``.

    Raises
    ------
    ConfigError
        ``folder`` already has a config, or the options make an invalid config (nothing is
        created then).
    LabelsError
        An existing labels CSV in ``folder`` has other keypoints.
    VideoError
        A video is missing or cannot be read.
    """
    folder = Path(folder)
    config_path = folder / CONFIG_NAME
    if config_path.exists():
        raise ConfigError(
            config_path,
            "a project already exists here.",
            "Open it instead, or choose another folder (delete config.yaml to start over).",
        )
    cfg = copy.deepcopy(dict(base_config)) if base_config else {}
    data = dict(cfg.get("data") or {})
    data.update(data_options)
    data["data_dir"] = "."
    data["video_dir"] = "videos"
    names = list(keypoint_names) or list(data.get("keypoint_names") or [])
    if views:
        data["view_names"] = list(views)
        if not isinstance(data.get("csv_file"), list):
            data["csv_file"] = [f"CollectedData_{v}.csv" for v in views]
    if data.get("view_names"):
        check_view_keys(data, config_path)
        csv_paths = [folder / c for c in data["csv_file"]]
    else:
        csv_paths = [folder / data.get("csv_file", default_config()["data"]["csv_file"])]
    names = _existing_keypoints(csv_paths, names)
    if not names:
        raise ConfigError(
            config_path,
            "no keypoint names given.",
            "Pass the keypoints to label (e.g. --keypoints nose paw_left paw_right).",
        )
    data["keypoint_names"] = names
    data["num_keypoints"] = len(names)
    data["skeleton"] = [list(edge) for edge in skeleton] or list(data.get("skeleton") or [])
    cfg["data"] = data
    if base_config is None:  # our own defaults, not a Lightning Pose config's (as the sample)
        cfg["model"] = {"heatmap_loss_type": OWN_HEATMAP_LOSS}
    full = validate_config(cfg, config_path)  # fail before anything is created
    if not cfg.get("losses"):
        cfg["losses"] = default_loss_weights(full)
    video_paths = [Path(v) for v in videos]
    for video in video_paths:
        _check_video(video)
    if data.get("view_names"):
        check_session_videos(video_paths, data["view_names"])

    (folder / LABELED_DATA_DIR).mkdir(parents=True, exist_ok=True)
    (folder / "videos").mkdir(exist_ok=True)
    for video in video_paths:
        _place_video(video, folder / "videos", copy_videos)
    if data.get("view_names"):
        for csv_path in csv_paths:
            if not csv_path.exists():
                labels_io.write_labels(labels_io.empty_labels(names), csv_path, backups=0)
    save_config(cfg, config_path)  # last: a failed init leaves no half-made project
    return config_path


def _existing_keypoints(csv_paths: Sequence[Path], names: list[str]) -> list[str]:
    """The keypoints of the labels CSVs already in the folder, which must all agree."""
    first: tuple[Path, Sequence[str]] | None = None
    for csv_path in csv_paths:
        if not csv_path.exists():
            continue
        have = labels_io.pose_csv.keypoint_names(labels_io.read_labels(csv_path))
        first = check_same_keypoints(first, csv_path, have)
        if names:
            labels_io.read_labels(csv_path, names)  # the keypoints given must be the file's
        names = names or have
    return names


#: The heatmap loss of a project made from scratch: ``kl`` learns far faster than Lightning
#: Pose's ``mse`` off a fresh head (README, "Loss balance"); a Lightning Pose config keeps its own.
OWN_HEATMAP_LOSS = "kl"


def default_loss_weights(cfg: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``losses.<name>.log_weight`` of the default strengths (``losses.balance``) under
    ``cfg``'s heatmap loss and sizes (original size = resized size when not known)."""
    from napari_lightning_pose.losses.balance import DEFAULT_STRENGTHS, log_weight_for

    return {
        name: {"log_weight": round(log_weight_for(strength, cfg), 2)}
        for name, strength in DEFAULT_STRENGTHS.items()
    }


def add_video(project: Project | str | Path, video_path: str | Path, copy: bool = True) -> Path:
    """Put ``video_path`` into the project's ``videos/`` (copy, or a link with ``copy=False``).

    Returns the video's path inside the project. Adding the same video twice is a no-op;
    a different file with the same name is refused (``LightningPoseInputError``).
    """
    if not isinstance(project, Project):
        project = Project.open(project)
    video_path = Path(video_path)
    _check_video(video_path)
    if project.views is not None and view_in_name(video_path.stem, project.views.names) is None:
        raise LabelsError(
            video_path,
            f"the file name holds none of the project's views {list(project.views.names)}.",
            "Name each camera's video <session>_<view>.mp4.",
        )
    return _place_video(video_path, project.video_dir, copy)


def _check_video(path: Path) -> None:
    """Raise ``VideoError`` unless ``path`` is a video that opens."""
    from napari_lightning_pose.io.video import VideoReader

    with VideoReader(path):
        pass


def _place_video(src: Path, video_dir: Path, copy: bool) -> Path:
    dest = video_dir / src.name
    if dest.exists() or dest.is_symlink():
        if dest.exists() and (os.path.samefile(dest, src) or filecmp.cmp(dest, src, shallow=True)):
            return dest
        raise LightningPoseInputError(
            dest,
            f"a different video with this name is already in the project (adding {src}).",
            "Rename the new video before adding it.",
        )
    video_dir.mkdir(parents=True, exist_ok=True)
    if not copy:
        try:
            dest.symlink_to(src.resolve())
            return dest
        except OSError as err:  # e.g. Windows without symlink rights
            warnings.warn(f"could not link {src} ({err}); copying it instead.", stacklevel=3)
    return atomic_write(dest, lambda tmp: shutil.copy2(src, tmp))


# ---------------------------------------------------------------- Lightning Pose configs
def config_from_file(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """Read a (Lightning Pose) config, keeping the keys this project knows.

    Returns the kept config and the dotted names of the keys left out (Lightning Pose has
    settings for its own trainer we do not use). ``data.data_dir``/``video_dir`` are left out
    too: a new project has its own folders.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, "config file not found.", "Check the path.")
    raw = read_yaml(path)  # Lightning Pose's numbers (1e-3) and ${...} references
    ignored: list[str] = []
    kept = _known_keys(raw, default_config(), "", ignored)
    for key in ("data_dir", "video_dir"):
        if key in kept.get("data", {}):
            del kept["data"][key]
            ignored.append(f"data.{key}")
    return kept, ignored


def _known_keys(
    raw: Mapping[str, Any], known: Mapping[str, Any], where: str, ignored: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        dotted = f"{where}.{key}" if where else str(key)
        if key not in known:
            if not where and key in PASSTHROUGH_SECTIONS:
                out[key] = value
            else:
                ignored.append(dotted)
        elif isinstance(known[key], dict) and isinstance(value, Mapping):
            out[key] = _known_keys(value, known[key], dotted, ignored)
        else:
            out[key] = value
    return out
