"""An open project's labels file while it is being labeled: read, edit, merge, save.

``read_project`` reads what the labeling dock shows: the config, the labels and the frames to
label (``state.frames_to_label``) as a lazy image stack. A :class:`LabelSession` holds the
labels being edited (a ``LabelState``), the labels as last read or written (the base of the
next three-way merge) and whether there are unsaved changes. :meth:`LabelSession.save`
merges the edits into the CSV as it is on disk now (``merge.merge_into_file``: what other
writers added or changed survives, a cell both changed is reported), written atomically with
rotated backups, and only ever under the labels lock (``io.lock``): when another writer holds
it, nothing is written and the caller decides how to wait.

File work only, no Qt: the dock runs ``read_project`` in a worker and drives the session;
tests drive it with plain pytest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.images import FrameStack
from napari_lightning_pose.io.labels import empty_labels, read_labels, write_labels
from napari_lightning_pose.io.lock import hold_lock, wait_until_free
from napari_lightning_pose.io.views import single_csv
from napari_lightning_pose.labeling.merge import MergeResult, merge_into_file
from napari_lightning_pose.labeling.state import LabelState, find_label_images, frames_to_label

#: Earlier versions of the labels CSV kept beside it (``.bak1`` newest).
BACKUPS = 3
#: How long closing the window (the one save that cannot wait in a worker) and opening a
#: project (in a worker) wait for a frame selection writing the labels.
SAVE_WAIT_SECONDS = 10.0
#: Who holds the labels lock while the dock saves (shown to other writers that wait).
LOCK_OWNER = "the labeling dock"


@dataclass(frozen=True)
class OpenedProject:
    """What ``read_project`` read from a project's files, ready to be shown."""

    config_path: Path
    config: dict[str, Any]
    keypoints: list[str]
    data_dir: Path
    labels_path: Path
    labels: pd.DataFrame | None
    images: list[str]
    stack: FrameStack

    @property
    def skeleton(self) -> list[tuple[str, str]]:
        """The config's skeleton edges (``data.skeleton``) as name pairs."""
        return [(str(a), str(b)) for a, b in self.config["data"]["skeleton"]]


def read_project(config_path: str | Path) -> OpenedProject:
    """Read a project's config, labels and frame list, and the frames' image headers.

    Waits up to ``SAVE_WAIT_SECONDS`` for a frame selection that is writing the labels (its
    PNGs would be listed without their rows). Raises ``LightningPoseInputError`` naming the
    file when the project is unusable.
    """
    config = load_config(config_path)
    keypoints = list(config["data"]["keypoint_names"])
    if not keypoints:
        raise LightningPoseInputError(
            config_path,
            "lists no keypoints (data.keypoint_names).",
            "Add the keypoint names to the config (the Project widget does this).",
        )
    data_dir = Path(config["data"]["data_dir"])
    labels_path = single_csv(config, "the labeling dock", config_path)
    wait_until_free(labels_path, SAVE_WAIT_SECONDS)
    labels = read_labels(labels_path, keypoints) if labels_path.exists() else None
    rows = [] if labels is None else [str(i) for i in labels.index]
    images = frames_to_label(
        find_label_images(data_dir), [r for r in rows if (data_dir / r).is_file()]
    )
    stack = FrameStack([data_dir / p for p in images])
    cfg_file = Path(config_path)
    cfg_file = cfg_file / "config.yaml" if cfg_file.is_dir() else cfg_file
    return OpenedProject(cfg_file, config, keypoints, data_dir, labels_path, labels, images, stack)


@dataclass(frozen=True)
class SaveOutcome:
    """What a save did: the merge with the file, and whether points we show moved."""

    merge: MergeResult
    points_moved: bool


class LabelSession:
    """The labels of an open project being edited, and their file; see the module docstring.

    Parameters
    ----------
    opened
        The project as ``read_project`` read it.

    Attributes
    ----------
    state : LabelState
        The labels being edited (placed, not visible, still to do).
    base : pandas.DataFrame
        The labels as last read from or written to the CSV: the merge's base.
    dirty : bool
        True while there are edits not yet written.
    """

    def __init__(self, opened: OpenedProject) -> None:
        self.config_path = opened.config_path
        self.config = opened.config
        self.labels_path = opened.labels_path
        self.edges = opened.skeleton
        if opened.labels is None:
            self.state = LabelState.empty(opened.images, opened.keypoints)
            self.base: pd.DataFrame = empty_labels(opened.keypoints)
        else:
            self.state = LabelState.from_labels(opened.labels, opened.images, opened.keypoints)
            self.base = opened.labels
        self.dirty = False

    def save(self, wait: float = 0.0) -> SaveOutcome:
        """Merge the edits into the CSV as it is on disk now and write it atomically.

        The file is written only under the labels lock, waiting up to ``wait`` seconds for
        another writer (frame selection, Label these, a terminal) to let go of it; ``0``
        tries once. On success the state takes the merged labels (positions another writer
        moved come in) and the session is clean.

        Raises
        ------
        LockBusyError
            Another writer still holds the lock: nothing written, the edits stay unsaved.
        LightningPoseInputError, OSError, ValueError
            The file could not be merged or written; the edits stay, unsaved.
        """
        with hold_lock(self.labels_path, LOCK_OWNER, timeout=wait):
            merge = self._merge_and_write()
        self.base = merge.labels
        moved = self.state.adopt(merge.labels)
        self.dirty = False
        return SaveOutcome(merge, moved)

    def keep_aside(self) -> Path:
        """Write the edits to ``<csv stem>.unsaved.csv`` beside the labels, and return it.

        For the one save that cannot wait (the window closes) while another writer holds
        the lock: the labels CSV is never written without it, so the edits go to a labels
        CSV of the same format that the user can merge afterwards.
        """
        keep = self.labels_path.with_name(f"{self.labels_path.stem}.unsaved.csv")
        write_labels(self.state.to_labels(), keep)
        return keep

    def _merge_and_write(self) -> MergeResult:
        """Merge the edits since the last save with the file as it is now, and write it."""
        return merge_into_file(
            self.labels_path, self.base, self.state.to_labels(), self.state.keypoints, BACKUPS
        )
