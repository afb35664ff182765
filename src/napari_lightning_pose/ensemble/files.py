"""Find an ensemble's files from one of them: the members, the project and the video.

Predict + smooth (``jobs.predict_and_smooth``) and the demo write one folder per video,
``predictions/<video>/``, holding each member's prediction CSV (``member0.csv``, ...) and the
smoothed ``<video>.eks.csv``. The project config sits above ``predictions/`` (the docks'
layout: ``<project>/predictions/<video>/``) or beside it in a ``project/`` folder (the
demo's: ``<out>/project/config.yaml`` next to ``<out>/predictions/``). So a smoothed CSV
opened by itself is enough to find everything the docks need; these functions do that from
the file names and the CSV headers alone (three lines per file), without Qt or a viewer.
"""

from __future__ import annotations

import csv as csv_module
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Folders above a CSV searched for the project config (``predictions/<video>/x.csv``: 3).
PROJECT_SEARCH_DEPTH = 4
#: Suffix of the smoothed CSV Predict + smooth writes (``<video>.eks.csv``).
SMOOTHED_SUFFIX = ".eks.csv"


@dataclass(frozen=True)
class EnsembleFiles:
    """What lies beside a prediction or smoothed CSV.

    Attributes
    ----------
    csv : Path
        The file the search started from.
    smoothed : Path or None
        The smoothed (EKS) CSV of the folder: ``csv`` itself when it is one.
    members : list of Path
        The members' prediction CSVs of the same video (not smoothed), sorted by name.
    project : Path or None
        The project's ``config.yaml`` (see the module docstring for where it is looked for).
    video : Path or None
        The video the predictions are of, when a file of that name is found.
    """

    csv: Path
    smoothed: Path | None = None
    members: list[Path] = field(default_factory=list)
    project: Path | None = None
    video: Path | None = None

    @property
    def video_stem(self) -> str:
        """The video's name without suffix: the CSV's folder for ``predictions/<video>/``."""
        if self.video is not None:
            return self.video.stem
        if self.smoothed is not None and self.smoothed.name.endswith(SMOOTHED_SUFFIX):
            return self.smoothed.name.removesuffix(SMOOTHED_SUFFIX)
        return self.csv.parent.name

    def missing(self) -> list[str]:
        """What a steerable ensemble still lacks, in words (empty when nothing is missing)."""
        out = []
        if self.smoothed is None:
            out.append(f"a smoothed CSV (<video>{SMOOTHED_SUFFIX}) in {self.csv.parent}")
        if not self.members:
            out.append(f"member prediction CSVs (member*.csv) beside {self.csv.name}")
        return out


def header_coords(path: str | Path) -> set[str] | None:
    """The coords row of a pose CSV's three-row header, or None for any other file."""
    path = Path(path)
    if path.suffix.lower() != ".csv" or not path.is_file():
        return None
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [row for _, row in zip(range(3), csv_module.reader(f), strict=False)]
    except (OSError, UnicodeDecodeError, csv_module.Error):
        return None
    heads = [r[0].strip() if r else "" for r in rows]
    if len(rows) < 3 or heads != ["scorer", "bodyparts", "coords"]:
        return None
    return {c.strip() for c in rows[2][1:]} - {""}


def header_keypoints(path: str | Path) -> list[str]:
    """Keypoint names of a pose CSV from its bodyparts header row, in column order."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = [row for _, row in zip(range(2), csv_module.reader(f), strict=False)]
    names: list[str] = []
    for name in rows[1][1:] if len(rows) > 1 else []:
        name = name.strip()
        if name and name not in names:
            names.append(name)
    return names


def is_smoothed_csv(path: str | Path) -> bool:
    """True for a smoothed (EKS) CSV: a pose CSV with posterior variance columns."""
    coords = header_coords(path)
    return coords is not None and {"x", "likelihood", "x_posterior_var"} <= coords


def is_member_csv(path: str | Path) -> bool:
    """True for a plain prediction CSV (``x, y, likelihood``, no variance columns)."""
    coords = header_coords(path)
    return (
        coords is not None
        and {"x", "y", "likelihood"} <= coords
        and "x_posterior_var" not in coords
    )


def find_project_config(path: str | Path, depth: int = PROJECT_SEARCH_DEPTH) -> Path | None:
    """The project ``config.yaml`` of a file under a project's folders, or None.

    Each of the ``depth`` folders above ``path`` is tried, nearest first: its own
    ``config.yaml``, then ``project/config.yaml`` in it (the demo's output layout).
    """
    for folder in list(Path(path).resolve().parents)[:depth]:
        for config in (folder / "config.yaml", folder / "project" / "config.yaml"):
            if config.is_file():
                return config
    return None


def find_video(stem: str, near: Path, project_videos: Sequence[Path] = ()) -> Path | None:
    """A video named ``stem`` among ``project_videos``, else in ``near`` or a folder in it."""
    for video in project_videos:
        if Path(video).stem == stem:
            return Path(video)
    if not near.is_dir():
        return None
    folders = [near, *sorted(p for p in near.iterdir() if p.is_dir())]
    from napari_lightning_pose.io.video import VIDEO_SUFFIXES  # av: imported when needed

    for folder in folders:
        for suffix in VIDEO_SUFFIXES:
            candidate = folder / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def find_ensemble_files(
    path: str | Path, project_videos: Sequence[Path] | None = None
) -> EnsembleFiles:
    """The smoothed CSV, members, project config and video that belong with ``path``.

    Parameters
    ----------
    path
        A smoothed CSV or one member's prediction CSV.
    project_videos
        The project's videos, when the caller knows them; otherwise the project config's
        ``data.video_dir`` is not read and the video is looked for by name next to the
        ``predictions`` folder (the demo's ``clip/<video>.mp4``).

    Returns
    -------
    EnsembleFiles
        Members are every plain prediction CSV in the folder, ``member*.csv`` first.
    """
    csv = Path(path)
    folder = csv.parent
    smoothed = csv if is_smoothed_csv(csv) else None
    others = sorted(p for p in folder.glob("*.csv") if p.resolve() != csv.resolve())
    if smoothed is None:
        smoothed = next((p for p in others if is_smoothed_csv(p)), None)
    members = [p for p in ([csv] if smoothed != csv else []) + others if is_member_csv(p)]
    members.sort(key=lambda p: (not p.name.startswith("member"), p.name))
    project = find_project_config(csv)
    found = EnsembleFiles(csv, smoothed, members, project)
    root = folder.parent.parent if folder.parent.name == "predictions" else folder.parent
    video = find_video(found.video_stem, root, project_videos or ())
    return EnsembleFiles(csv, smoothed, members, project, video)


def keypoint_mismatch(
    expected: Sequence[str], found: Sequence[str], source: str | Path, project: str | Path
) -> str | None:
    """A message naming the keypoints a file and its project disagree on, or None.

    Parameters
    ----------
    expected
        The project's keypoints.
    found
        The file's keypoints.
    source, project
        The file and the project config, for the message.
    """
    missing = [k for k in expected if k not in found]
    extra = [k for k in found if k not in expected]
    if not missing and not extra:
        return None
    parts = []
    if extra:
        parts.append(f"keypoints not in the project: {', '.join(extra)}")
    if missing:
        parts.append(f"project keypoints it lacks: {', '.join(missing)}")
    return (
        f"{Path(source).name} does not match the project {project}: {'; '.join(parts)}. "
        "It was predicted by a model of another project (or an older keypoint list); the "
        "skeleton is not drawn and its points are not comparable to the labels."
    )
