"""A labeling project: one folder with ``config.yaml``, ``labeled-data/``, ``videos/`` and the CSV.

The layout is Lightning Pose's: ``data.data_dir`` (``.``, the config's folder) holds the labels
CSV (``data.csv_file``) whose rows point at PNGs under ``labeled-data/<video>/``, and
``data.video_dir`` (``videos``) holds the videos. ``Project`` resolves its paths and reads and
writes its labels with the project's keypoints; ``labeling.project_setup`` creates a project
and adds videos, ``labeling.skeleton`` reads skeletons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io import labels as labels_io
from napari_lightning_pose.io.config import CONFIG_NAME, load_config
from napari_lightning_pose.io.image_paths import LABELED_DATA_DIR
from napari_lightning_pose.io.images import image_sizes
from napari_lightning_pose.io.label_checks import check_labels_in_bounds
from napari_lightning_pose.io.lock import hold_lock
from napari_lightning_pose.io.video import VIDEO_SUFFIXES
from napari_lightning_pose.io.views import Views, project_views, single_csv, view_config

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
