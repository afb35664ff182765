"""A labeling project: one folder with ``config.yaml``, ``labeled-data/``, ``videos/`` and the CSV.

The layout is Lightning Pose's: ``data.data_dir`` (``.``, the config's folder) holds the labels
CSV (``data.csv_file``) whose rows point at PNGs under ``labeled-data/<video>/``, and
``data.video_dir`` (``videos``) holds the videos. ``init_project`` creates one; ``Project``
resolves its paths and reads and writes its labels with the project's keypoints.
"""

from __future__ import annotations

import copy
import filecmp
import os
import re
import shutil
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from napari_lightning_pose.errors import ConfigError, LabelsError, LightningPoseInputError
from napari_lightning_pose.io import labels as labels_io
from napari_lightning_pose.io.atomic import atomic_write
from napari_lightning_pose.io.config import (
    CONFIG_NAME,
    PASSTHROUGH_SECTIONS,
    default_config,
    load_config,
    read_yaml,
    save_config,
    validate_config,
)
from napari_lightning_pose.io.image_paths import LABELED_DATA_DIR
from napari_lightning_pose.io.images import image_sizes
from napari_lightning_pose.io.label_checks import check_labels_in_bounds
from napari_lightning_pose.io.lock import hold_lock
from napari_lightning_pose.io.video import VIDEO_SUFFIXES
from napari_lightning_pose.io.views import (
    Views,
    check_same_keypoints,
    check_session_videos,
    check_view_keys,
    project_views,
    single_csv,
    view_config,
    view_in_name,
)

#: How long a project's writers (frame selection, imports; all in workers or terminals) wait
#: for another writer of the labels before they give up, naming it.
LOCK_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class Project:
    """An opened project: its config file and the validated config (absolute data paths).

    Create one with ``Project.open(folder_or_config)``.
    """

    config_path: Path
    config: dict[str, Any]

    @classmethod
    def open(cls, path: str | Path) -> Project:
        """Open the project whose folder (or ``config.yaml``) is ``path``; ConfigError if bad."""
        path = Path(path)
        config_path = path / CONFIG_NAME if path.is_dir() else path
        return cls(config_path=config_path.resolve(), config=load_config(config_path))

    @property
    def root(self) -> Path:
        """The folder holding the config file."""
        return self.config_path.parent

    @property
    def data_dir(self) -> Path:
        """``data.data_dir``: the folder the CSV and ``labeled-data/`` live in."""
        return Path(self.config["data"]["data_dir"])

    @property
    def video_dir(self) -> Path:
        """``data.video_dir``: the folder of the project's videos."""
        return Path(self.config["data"]["video_dir"])

    @property
    def csv_path(self) -> Path:
        """The labels CSV (``data.csv_file`` inside ``data_dir``); ConfigError for a
        multi-camera project (use ``for_view``)."""
        return single_csv(self.config, "this command", self.config_path)

    @property
    def views(self) -> Views | None:
        """The cameras of a multi-camera project (``io.views``), None for a single camera."""
        return project_views(self.config)

    def for_view(self, view: str) -> Project:
        """The single-camera project of one view: its labels CSV, the same folders.

        Read and write that view's labels with it; never save its config over the project's.
        """
        return Project(self.config_path, view_config(self.config, view))

    @property
    def labeled_data_dir(self) -> Path:
        """``labeled-data/`` inside ``data_dir``, parent of one folder of frames per video."""
        return self.data_dir / LABELED_DATA_DIR

    @property
    def keypoint_names(self) -> list[str]:
        """``data.keypoint_names``, the column order of the labels."""
        return list(self.config["data"]["keypoint_names"])

    @property
    def skeleton(self) -> list[tuple[str, str]]:
        """``data.skeleton`` as pairs of keypoint names."""
        return [(str(a), str(b)) for a, b in self.config["data"]["skeleton"]]

    def frames_dir(self, video: str | Path) -> Path:
        """``labeled-data/<video stem>/``, where the frames picked from ``video`` go."""
        return self.labeled_data_dir / Path(video).stem

    def video_paths(self) -> list[Path]:
        """The videos in ``video_dir`` (by extension), sorted by name."""
        if not self.video_dir.is_dir():
            return []
        return sorted(
            p
            for p in self.video_dir.iterdir()
            if p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith(".")
        )

    def read_labels(self, check_bounds: bool = False) -> pd.DataFrame:
        """The project's labels in keypoint order; empty (no rows) when the CSV does not exist.

        With ``check_bounds`` every label must lie inside its image (LabelsError otherwise),
        and every image must exist.
        """
        if not self.csv_path.exists():
            return labels_io.empty_labels(self.keypoint_names)
        df = labels_io.read_labels(self.csv_path, self.keypoint_names)
        if check_bounds:
            sizes = image_sizes(list(df.index), self.data_dir)
            missing = [im for im in df.index if im not in sizes]
            if missing:
                raise LabelsError(
                    self.csv_path,
                    f"{len(missing)} labeled image(s) are missing or unreadable, e.g. "
                    f"{missing[:3]} (relative to {self.data_dir}).",
                    "Restore them under labeled-data/, or delete their rows.",
                )
            check_labels_in_bounds(df, sizes, self.csv_path)
        return df

    def write_labels(self, df: pd.DataFrame, backups: int = 3) -> Path:
        """Save ``df`` (the project's keypoints, any order) as the labels CSV, atomically,
        under the labels lock (``io.lock``)."""
        df = labels_io.match_keypoints(df, self.keypoint_names, self.csv_path)
        with hold_lock(self.csv_path, "writing labels", timeout=LOCK_WAIT_SECONDS):
            return labels_io.write_labels(df, self.csv_path, backups=backups)

    def add_frames(self, images: Sequence[str], backups: int = 3) -> pd.DataFrame:
        """Add all-NaN rows for ``images`` to the labels CSV (existing rows are untouched).

        Read and write happen under the labels lock (``io.lock``), so a labeling dock's
        save cannot interleave with them.
        """
        with hold_lock(self.csv_path, "adding frames", timeout=LOCK_WAIT_SECONDS):
            df = self.read_labels()
            out = labels_io.add_frames(df, images)
            if len(out) != len(df) or not self.csv_path.exists():
                labels_io.write_labels(out, self.csv_path, backups=backups)
        return out


def open_project(path: str | Path) -> Project:
    """Open a project folder or config file (same as ``Project.open``)."""
    return Project.open(path)


# ------------------------------------------------------------------------------- creating
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


def parse_skeleton(text: str, keypoints: Sequence[str] = ()) -> list[tuple[str, str]]:
    """Skeleton edges from text such as ``"nose-paw_left, nose-paw_right"``.

    Edges are separated by commas, semicolons or new lines; the two ends of an edge by ``-``
    (or ``:``/``>``/whitespace). With ``keypoints`` (the project's names), an entry is split
    where both sides are keypoints, so names containing ``-`` work (``"ear-l - ear-r"``);
    without them, a single ``:`` or ``>`` in an entry is its split (``"ear-l:ear-r"``).
    Raises ``ValueError`` naming an entry that is not a pair.
    """
    names = set(keypoints)
    edges = []
    for part in re.split(r"[,;\n]+", text):
        part = part.strip()
        if not part:
            continue
        edge = _split_known(part, names) if names else None
        edges.append(edge or _split_plain(part))
    return edges


def _split_plain(part: str) -> tuple[str, str]:
    """``part`` split at its one ``:``/``>``, else at its one ``-`` or whitespace."""
    for separator in (r"\s*[:>]\s*", r"\s*(?:-|:|>)\s*|\s+"):
        ends = [e for e in re.split(separator, part) if e]
        if len(ends) == 2:
            return ends[0], ends[1]
    raise ValueError(f"skeleton entry {part!r} is not a pair like 'nose-tail'")


def _split_known(part: str, names: set[str]) -> tuple[str, str] | None:
    """``part`` split at a separator with a known keypoint on each side, or None."""
    for sep in re.finditer(r"\s*(?:-|:|>)\s*|\s+", part):
        left, right = part[: sep.start()].strip(), part[sep.end() :].strip()
        if left in names and right in names:
            return left, right
    return None


def project_skeleton(csv_path: Path, keypoints: Sequence[str]) -> list[tuple[str, str]]:
    """The skeleton of the project the file belongs to (its ``config.yaml`` above
    ``predictions/``, or ``project/config.yaml`` beside it as the demo writes it:
    ``ensemble.files.find_project_config``) when its keypoints are the file's, else none."""
    from napari_lightning_pose.ensemble.files import find_project_config

    config = find_project_config(csv_path)
    if config is None:
        return []
    try:
        project = Project.open(config)
    except ConfigError:
        return []
    if set(project.keypoint_names) != set(keypoints):
        return []  # named in a warning where the layers are added (layer_watch)
    return [(str(a), str(b)) for a, b in project.skeleton]
