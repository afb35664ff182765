"""Suggest frames to label across all the videos of a project (``suggest-frames``).

Per video, the latest smoothed predictions (an EKS CSV under the project folder whose name
starts with the video's name, newest first; or given explicitly) give each frame's
uncertainty: its worst keypoint's posterior SD (px, so videos compare). Frames already in
``CollectedData.csv`` (labeled, picked or suggested earlier) and their neighbours within
``min_gap`` are not candidates; :func:`.suggest.diverse_uncertain` picks among the rest,
with 32x32 thumbnails (read only for the most uncertain candidates) for diversity. The picks
are written like ``select-frames`` writes frames (PNGs with context neighbours, empty rows
appended to the CSV) and logged in ``suggestions.csv`` next to it; earlier suggestions stay.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from napari_lightning_pose.data.context import CONTEXT_RADIUS
from napari_lightning_pose.ensemble.uncertainty import posterior_std
from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.io.atomic import atomic_write
from napari_lightning_pose.io.image_paths import LABELED_DATA_DIR, image_path, parse_image_path
from napari_lightning_pose.io.lock import hold_lock
from napari_lightning_pose.io.pose_csv import read_pose_csv
from napari_lightning_pose.io.video import VideoReader
from napari_lightning_pose.labeling.appearance import thumbnail
from napari_lightning_pose.labeling.frames import (
    FrameProgress,
    iter_export_frames,
    project_frame_digits,
)
from napari_lightning_pose.labeling.project import Project
from napari_lightning_pose.progress import blocking
from napari_lightning_pose.qc.refine import LOCK_WAIT_SECONDS, append_label_rows
from napari_lightning_pose.qc.suggest import diverse_uncertain

SUGGESTIONS_LOG = "suggestions.csv"
HOW_TO_SMOOTH = (
    "Make them with `napari-lightning-pose predict` (one CSV per ensemble member) and "
    "`napari-lightning-pose smooth MEMBERS... --out PROJECT/predictions/<video>.smoothed.csv`."
)


@dataclass(frozen=True)
class Suggestion:
    """One suggested frame."""

    video: str
    frame: int
    image: str
    posterior_sd: float


def _is_smoothed_csv(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            head = [fh.readline() for _ in range(3)]
    except (OSError, UnicodeDecodeError):
        return False
    return "x_posterior_var" in head[2]


def find_smoothed(project: Project, video: str | Path) -> Path | None:
    """The newest EKS CSV under the project folder named ``<video stem>*.csv``, or None."""
    stem = Path(video).stem
    found = [
        p
        for p in project.root.rglob(f"{stem}*.csv")
        if LABELED_DATA_DIR not in p.parts and _is_smoothed_csv(p)
    ]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def iter_suggest_frames(
    project: Project | str | Path,
    n: int,
    smoothed: Mapping[str, str | Path] | None = None,
    min_gap: int = 10,
    context: int = CONTEXT_RADIUS,
    seed: int = 0,
    pool_factor: float = 3.0,
) -> Generator[FrameProgress, None, list[Suggestion]]:
    """Suggest ``n`` frames to label across the project's videos and add them to the project.

    Yields ``FrameProgress`` as it writes the frames;
    what Returns lists is the generator's return value.

    Parameters
    ----------
    project : Project or path
    n : int
        Frames wanted in all.
    smoothed : mapping of video (name or path) to smoothed CSV, optional
        Default: the newest smoothed CSV of each video under the project folder.
    min_gap : int
        No suggestion within this many frames of another or of a frame already in the CSV.
    context : int
        Neighbour frames written on each side (the context model's).
    seed : int
        k-means seed.

    Returns
    -------
    list of Suggestion
        Most uncertain first.

    Raises
    ------
    ConfigError
        No videos, or no smoothed predictions (the message names the commands that make them).
    LightningPoseInputError
        More frames asked for than the videos have left to suggest.
    """
    proj = project if isinstance(project, Project) else Project.open(project)
    videos = proj.video_paths()
    if not videos:
        raise ConfigError(proj.config_path, f"the project has no videos in {proj.video_dir}.")
    given = {Path(k).stem: Path(v) for k, v in (smoothed or {}).items()}
    sources = {v: given.get(v.stem) or find_smoothed(proj, v) for v in videos}
    sources = {v: p for v, p in sources.items() if p is not None}
    if not sources:
        raise ConfigError(
            proj.config_path,
            "no smoothed predictions of the project's videos were found.",
            HOW_TO_SMOOTH,
        )
    labels = proj.read_labels()
    taken: dict[int, list[int]] = {}
    u_parts, frame_parts, group_parts = [], [], []
    stems = [v.stem for v in sources]
    for g, (video, path) in enumerate(sources.items()):
        std = posterior_std(read_pose_csv(path, required_coords=("x", "x_posterior_var")))
        values = std.to_numpy()
        worst = np.where(np.isfinite(values), values, -np.inf).max(axis=1)
        u_parts.append(np.where(np.isfinite(worst), worst, np.nan))
        frame_parts.append(np.asarray(std.index, dtype=int))
        group_parts.append(np.full(len(std), g))
        taken[g] = [
            f for v, f in map(parse_image_path, labels.index) if v == video.stem and f is not None
        ]
    u, frames, groups = map(np.concatenate, (u_parts, frame_parts, group_parts))

    readers = {}
    try:

        def thumbs(idx: np.ndarray) -> np.ndarray:
            out: dict[int, np.ndarray] = {}
            for i in sorted(idx, key=lambda i: (groups[i], frames[i])):  # forward seeks only
                video = list(sources)[groups[i]]
                if video not in readers:
                    readers[video] = VideoReader(video)
                out[int(i)] = thumbnail(readers[video][int(frames[i])])
            return np.stack([out[int(i)] for i in idx])

        picked = diverse_uncertain(u, thumbs, n, frames, groups, taken, min_gap, pool_factor, seed)
    finally:
        for reader in readers.values():
            reader.close()
    yield FrameProgress("cluster", 1, 1)

    digits = {v.stem: project_frame_digits(proj, v, list(labels.index)) for v in sources}
    result = [
        Suggestion(
            stems[groups[i]],
            int(frames[i]),
            image_path(stems[groups[i]], int(frames[i]), digits[stems[groups[i]]]),
            float(u[i]),
        )
        for i in picked
    ]
    with hold_lock(proj.csv_path, "suggest-frames", timeout=LOCK_WAIT_SECONDS):
        for video in sources:
            mine = [s.frame for s in result if s.video == video.stem]
            if mine:
                yield from iter_export_frames(
                    video, mine, proj.data_dir, context, digits[video.stem]
                )
        append_label_rows(proj, {s.image: None for s in result})
        _log(proj, result)
    return result


def _log(project: Project, suggestions: list[Suggestion]) -> Path:
    """Append the suggestions to ``suggestions.csv`` (round number, time) beside the CSV."""
    path = project.csv_path.with_name(SUGGESTIONS_LOG)
    old = pd.read_csv(path) if path.exists() else pd.DataFrame()
    round_ = int(old["round"].max()) + 1 if len(old) else 1
    now = _dt.datetime.now().isoformat(timespec="seconds")
    new = pd.DataFrame(
        {
            "round": round_,
            "time": now,
            "video": [s.video for s in suggestions],
            "frame": [s.frame for s in suggestions],
            "image": [s.image for s in suggestions],
            "posterior_sd": [s.posterior_sd for s in suggestions],
        }
    )
    table = pd.concat([old, new], ignore_index=True)
    return atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))


suggest_frames = blocking(iter_suggest_frames)
