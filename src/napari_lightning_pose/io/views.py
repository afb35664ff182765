"""Multi-camera projects in Lightning Pose's layout: views, label CSVs, sessions, calibrations.

A multi-camera config lists ``data.view_names`` and, in the same order, one labels CSV per
view in ``data.csv_file``. Each session has one video per view in ``data.video_dir``, the
view's name in the file name (``session0_top.mp4``, ``session0_bottom.mp4``); the session is
the file name without the view. A session's calibration is Anipose's ``calibration.toml``:
``<data_dir>/calibrations/<session>.toml`` when it exists, else ``data.camera_params_file``
(one file for every session). A config without ``view_names`` is single-view.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from napari_lightning_pose.errors import ConfigError, LabelsError

#: Folder (in data_dir) of per-session calibrations, ``<session>.toml``.
CALIBRATIONS_DIR = "calibrations"


@dataclass(frozen=True)
class Views:
    """The cameras of a multi-camera project: names and labels CSVs, in the config's order."""

    names: tuple[str, ...]
    csv_files: tuple[Path, ...]

    def csv_for(self, view: str) -> Path:
        """The labels CSV of ``view``."""
        return self.csv_files[self.names.index(view)]


def check_view_keys(data: Mapping[str, Any], path: str | Path | None = None) -> None:
    """Check ``data.view_names`` against ``data.csv_file`` (raise ``ConfigError`` naming both)."""
    names = data.get("view_names")
    csv_file = data.get("csv_file")
    if names is None:
        if isinstance(csv_file, list):
            raise ConfigError(
                path,
                f"data.csv_file lists {len(csv_file)} files but data.view_names is not set.",
                "Add data.view_names (one name per camera, in the order of csv_file), or give "
                "csv_file one file for a single-camera project.",
            )
        return
    if not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise ConfigError(path, f"data.view_names must be distinct non-empty names, got {names}.")
    if len(names) < 2:
        raise ConfigError(
            path,
            f"data.view_names lists {len(names)} camera; a multi-camera project needs two.",
            "Drop view_names for a single-camera project.",
        )
    clash = [a for a in names for b in names if a != b and _whole_word(a, b)]
    if clash:
        raise ConfigError(
            path,
            f"view name(s) {clash} occur inside another view's name, so video files could not "
            "be told apart.",
            "Rename the views.",
        )
    if not isinstance(csv_file, list) or len(csv_file) != len(names):
        got = len(csv_file) if isinstance(csv_file, list) else "one file"
        raise ConfigError(
            path,
            f"data.view_names lists {len(names)} cameras but data.csv_file has {got}.",
            "List one labels CSV per camera in data.csv_file, in the order of view_names.",
        )
    if not all(isinstance(c, str) and c for c in csv_file) or len(set(csv_file)) != len(csv_file):
        raise ConfigError(path, f"data.csv_file must list distinct file names, got {csv_file}.")


def project_views(cfg: Mapping[str, Any]) -> Views | None:
    """The project's views with absolute labels CSV paths, or None for a single-camera project."""
    data = cfg["data"]
    if data.get("view_names") is None:
        return None
    data_dir = Path(data["data_dir"])
    return Views(tuple(data["view_names"]), tuple(data_dir / c for c in data["csv_file"]))


def _whole_word(name: str, text: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", text) is not None


def view_in_name(name: str, views: Sequence[str]) -> str | None:
    """The one view whose name occurs in ``name`` as a whole word, else None."""
    found = [v for v in views if _whole_word(v, name)]
    return found[0] if len(found) == 1 else None


def session_name(name: str, view: str) -> str:
    """A file stem without its view: ``session0_top`` -> ``session0`` (separators trimmed)."""
    pattern = rf"(?<![A-Za-z0-9]){re.escape(view)}(?![A-Za-z0-9])"
    stem = re.sub(pattern, "", name, count=1)
    stem = re.sub(r"([_\-. ])[_\-. ]+", r"\1", stem).strip("_-. ")
    return stem or "session"


def group_sessions(
    videos: Sequence[str | Path], views: Sequence[str]
) -> dict[str, dict[str, Path]]:
    """Group video files into sessions: ``{session: {view: path}}``, views in config order.

    Files whose names hold no view (or several) are left out. Raises ``LabelsError`` naming
    the files when a session lacks a view or has two videos for one view.
    """
    sessions: dict[str, dict[str, Path]] = {}
    for video in videos:
        path = Path(video)
        view = view_in_name(path.stem, views)
        if view is None:
            continue
        found = sessions.setdefault(session_name(path.stem, view), {})
        if view in found:
            raise LabelsError(
                path,
                f"session {session_name(path.stem, view)!r} has two videos for view {view!r} "
                f"({found[view].name} and {path.name}).",
                "Keep one video per view and session in the video folder.",
            )
        found[view] = path
    for session, found in sessions.items():
        missing = [v for v in views if v not in found]
        if missing:
            some = next(iter(found.values()))
            raise LabelsError(
                some,
                f"session {session!r} has no video for view(s) {missing} "
                f"(found {sorted(p.name for p in found.values())}).",
                f"Add {session}_<view>.mp4 for each missing view, or move this session's "
                "videos out of the video folder.",
            )
    return {s: {v: found[v] for v in views} for s, found in sorted(sessions.items())}


def check_same_keypoints(
    first: tuple[Path, Sequence[str]] | None, csv: Path, have: Sequence[str]
) -> tuple[Path, Sequence[str]]:
    """Refuse a view's CSV whose keypoints differ from the first view's (naming both files).

    Returns the first view's ``(csv, keypoints)``: ``first``, or this CSV's when it is the first.
    """
    if first is not None and set(have) != set(first[1]):
        raise LabelsError(
            csv,
            f"has keypoints {list(have)}, but {first[0]} has {list(first[1])}: every view "
            "labels the same keypoints.",
            "Rename the bodyparts header rows (and data.keypoint_names) so the views agree.",
        )
    return first or (csv, have)


def check_frame_counts(session: Mapping[str, Path], counts: Mapping[str, int]) -> None:
    """Refuse a session whose views have different frame counts (``LabelsError`` naming them)."""
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{session[v].name}: {n}" for v, n in counts.items())
        raise LabelsError(
            next(iter(session.values())),
            f"the session's views have different frame counts ({listed}).",
            "Cut the videos to the same synchronised frames (e.g. with ffmpeg -frames:v N).",
        )


def check_session_videos(videos: Sequence[Path], views: Sequence[str]) -> None:
    """Refuse videos of a multi-camera project that name no view, miss a view of their
    session, or differ in frame count from its other views (errors name the file)."""
    from napari_lightning_pose.io.video import VideoReader  # av is slow to import

    for video in videos:
        if view_in_name(video.stem, views) is None:
            raise LabelsError(
                video,
                f"the file name holds none of the views {list(views)} (or several).",
                "Name each camera's video <session>_<view>.mp4.",
            )
    for session in group_sessions(videos, views).values():
        counts = {}
        for view, path in session.items():
            with VideoReader(path) as reader:
                counts[view] = reader.n_frames
        check_frame_counts(session, counts)


def calibration_file(cfg: Mapping[str, Any], session: str) -> Path | None:
    """The session's ``calibration.toml``: ``calibrations/<session>.toml`` or the project's own."""
    data = cfg["data"]
    data_dir = Path(data["data_dir"])
    own = data_dir / CALIBRATIONS_DIR / f"{session}.toml"
    if own.is_file():
        return own
    shared = data.get("camera_params_file")
    if shared:
        path = Path(shared) if Path(shared).is_absolute() else data_dir / shared
        if not path.is_file():
            raise ConfigError(
                path,
                "data.camera_params_file does not exist.",
                "Fix the path (relative to data_dir), or remove the key.",
            )
        return path
    return None


def check_calibration_names(path: Path, camera_names: Sequence[str], views: Sequence[str]) -> None:
    """Refuse a calibration whose cameras are not the project's views."""
    if len(camera_names) < 2:
        raise ConfigError(path, f"the calibration has {len(camera_names)} camera; 3D needs two.")
    missing = [v for v in views if v not in camera_names]
    if missing:
        raise ConfigError(
            path,
            f"the calibration's cameras {list(camera_names)} do not include view(s) {missing}.",
            "Name each camera table (name = ...) after a view in data.view_names.",
        )


def single_csv(cfg: Mapping[str, Any], what: str, path: str | Path | None = None) -> Path:
    """The one labels CSV of a single-camera project; ``ConfigError`` for a multi-camera one.

    ``what`` names the feature that does not handle several cameras yet (it is in the message).
    """
    data = cfg["data"]
    if data.get("view_names") is not None or isinstance(data["csv_file"], list):
        raise ConfigError(
            path,
            f"is a multi-camera project (data.view_names {data.get('view_names')}); multi-camera "
            f"projects are not supported by {what} yet.",
            "Use it on a single-camera project, or on one view's labels CSV "
            f"({', '.join(map(str, data['csv_file']))}).",
        )
    return Path(data["data_dir"]) / data["csv_file"]


def view_config(cfg: Mapping[str, Any], view: str) -> dict[str, Any]:
    """``cfg`` as the single-camera project of ``view``: its labels CSV, no view keys."""
    data = dict(cfg["data"])
    names = list(data["view_names"])
    if view not in names:
        raise ConfigError(None, f"{view!r} is not a view of the project ({names}).")
    data["csv_file"] = data["csv_file"][names.index(view)]
    data["view_names"] = None
    return {**cfg, "data": data}
