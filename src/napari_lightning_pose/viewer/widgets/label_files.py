"""The labeling dock's files: read a project in a worker, save labels merged with the disk.

``read_project`` (no Qt) reads a project's config, labels and frame list for the dock, in a
worker thread. ``LabelSavingMixin`` is the part of ``LabelingWidget`` that writes the labels:
Save, the autosave, before the labels layer is deleted and when the window closes
(``_CloseFilter``), each a merge with the CSV as it is on disk now. Kept apart from the dock
so that each file holds one concern (the house's ~400-line rule).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from napari.layers import Points
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QEvent, QObject, QTimer

from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.images import FrameStack
from napari_lightning_pose.io.labels import read_labels
from napari_lightning_pose.io.lock import LockBusyError, hold_lock, wait_until_free
from napari_lightning_pose.labeling.merge import MergeResult, merge_into_file
from napari_lightning_pose.labeling.state import (
    LabelState,
    find_label_images,
    frames_to_label,
)
from napari_lightning_pose.viewer.layers import LABELS_BASE, labels_base
from napari_lightning_pose.viewer.widgets.warmup import warm_first_image_layer

BACKUPS = 3
#: How long Save, closing and opening wait for a frame selection writing the labels.
SAVE_WAIT_SECONDS = 10.0


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


def read_project(config_path: str | Path) -> OpenedProject:
    """Read a project's config, labels and frame list, and the frames' image headers.

    File work only (no Qt), so it can run in a worker. Waits up to ``SAVE_WAIT_SECONDS``
    for a frame selection that is writing the labels (its PNGs would be listed without their
    rows). Raises ``LightningPoseInputError`` naming the file when the project is unusable.
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
    labels_path = data_dir / config["data"]["csv_file"]
    wait_until_free(labels_path, SAVE_WAIT_SECONDS)
    labels = read_labels(labels_path, keypoints) if labels_path.exists() else None
    rows = [] if labels is None else [str(i) for i in labels.index]
    images = frames_to_label(
        find_label_images(data_dir), [r for r in rows if (data_dir / r).is_file()]
    )
    stack = FrameStack([data_dir / p for p in images])
    warm_first_image_layer()
    cfg_file = Path(config_path)
    cfg_file = cfg_file / "config.yaml" if cfg_file.is_dir() else cfg_file
    return OpenedProject(cfg_file, config, keypoints, data_dir, labels_path, labels, images, stack)


class LabelSavingMixin:
    """Saving for ``LabelingWidget``: Save, the autosave, and saving before the labels layer
    or the window goes.

    Uses the dock's attributes below and its ``_set_status``; ``PointEditingMixin`` its
    ``_sync_from_layer``, ``_layer_differs`` and ``_redraw_points``.
    """

    state: LabelState | None
    labels_path: Path | None
    points_layer: Points | None
    _base: pd.DataFrame | None
    _dirty: bool
    _autosave: QTimer
    _set_status: Callable[[str], None]
    _sync_from_layer: Callable[[], None]
    _layer_differs: Callable[[], bool]
    _redraw_points: Callable[[], None]

    @property
    def dirty(self) -> bool:
        """True while there are changes not yet written to the labels CSV."""
        return self._dirty

    def save(self, only_if_dirty: bool = False, wait: float = SAVE_WAIT_SECONDS) -> bool:
        """Merge the labels into the CSV as it is on disk now and write it atomically.

        The merge (``io.label_merge.merge_edits``) keeps what other writers added or changed
        since the last save; the user's edits win for the cells they changed, and a cell
        both changed differently is reported. The file is written under the labels lock
        (waiting up to ``wait`` seconds for frame selection; ``wait=0``, the autosave, skips
        this round instead) with the previous file kept as ``.bak1``.

        The labels are taken from the layer at this moment, so an edit that napari has not
        announced yet (a drag in progress) is saved too. On failure the error is shown with
        the file name, the labels stay in memory and the project stays "unsaved".

        Returns
        -------
        bool
            True when the file was written (or nothing needed saving).
        """
        if self.state is None or self.labels_path is None:
            return True
        self._sync_from_layer()
        if only_if_dirty and not self._dirty:
            return True
        try:
            try:
                with hold_lock(self.labels_path, "the labeling dock", timeout=wait):
                    result = self._merge_and_write()
            except LockBusyError as busy:
                if wait <= 0:  # autosave: another writer is busy, try at the next tick
                    self._set_status(f"unsaved: autosave waits while {busy.owner} writes")
                    return False
                # still busy: write anyway; the merge keeps whatever the other wrote so far
                result = self._merge_and_write()
        except (LightningPoseInputError, OSError, ValueError) as err:
            self._set_status(f"NOT saved: {err}")
            show_error(
                f"Could not save the labels to {self.labels_path}: {err}. "
                "They are kept in memory; fix the problem and press Save."
            )
            return False
        self._base = result.labels
        self._store_base()
        if self.state.adopt(result.labels):  # another writer moved points we show
            self._redraw_points()
        self._dirty = False
        self._report_merge(result)
        return True

    def _merge_and_write(self) -> MergeResult:
        """Merge the edits since the last save with the file as it is now, and write it."""
        assert self.state is not None and self.labels_path is not None
        base = self._base if self._base is not None else self.state.to_labels()
        return merge_into_file(
            self.labels_path, base, self.state.to_labels(), self.state.keypoints, BACKUPS
        )

    def _store_base(self) -> None:
        """Give the layer the labels as last read or written, the base of File > Save's merge."""
        if self.points_layer is not None and self._base is not None and self.state is not None:
            self.points_layer.metadata[LABELS_BASE] = labels_base(
                self._base, self.state.images, self.state.keypoints
            )

    def _report_merge(self, result: MergeResult) -> None:
        """Tell the user what the save merged in from the file, and any conflict."""
        assert self.labels_path is not None and self.state is not None
        name = self.labels_path.name
        status = f"saved to {name}"
        if result.conflicts:
            show_warning(result.report())
            status += (
                f"; {len(result.conflicts)} conflict(s) with changes on disk, yours kept "
                "(see the message)"
            )
        if result.added_elsewhere:
            show_info(
                f"{len(result.added_elsewhere)} row(s) were added to {name} while it was open "
                "(e.g. by select-frames); they are kept. Open the project again to label them."
            )
        self._set_status(status)

    def set_autosave_interval(self, seconds: float) -> None:
        """Save unsaved labels every ``seconds`` seconds."""
        self._autosave.setInterval(max(1, int(seconds * 1000)))

    def _on_layer_removing(self, event: Any) -> None:
        # the user deletes our labels layer: write what it holds first, then let go of it
        layer = self.layers_removed_value(event)
        if layer is not None and layer is self.points_layer:
            self.save(only_if_dirty=True)
            self.points_layer = None

    @staticmethod
    def layers_removed_value(event: Any) -> Any:
        """The layer named by a ``viewer.layers.events.removing`` event."""
        index = getattr(event, "index", None)
        source = getattr(event, "source", None)
        if index is None or source is None:
            return getattr(event, "value", None)
        try:
            return source[index]
        except (IndexError, TypeError):
            return None

    def _on_autosave(self) -> None:
        if self.state is not None and (self._dirty or self._layer_differs()):
            self.save(wait=0)  # paused while frame selection holds the labels lock

    def _save_on_close(self) -> None:
        if self.state is not None:
            self.save(only_if_dirty=True)


class _CloseFilter(QObject):
    """Calls ``on_close`` when the watched window gets a Close event (before it closes)."""

    def __init__(self, on_close: Callable[[], None], window: QObject) -> None:
        super().__init__()
        self._on_close = on_close
        self._window = weakref.ref(window)  # the filter does not keep the window
        window.installEventFilter(self)

    def detach(self) -> None:
        """Stop watching the window (it may be gone already)."""
        window = self._window()
        if window is None:
            return
        try:
            window.removeEventFilter(self)
        except RuntimeError:  # the window's Qt object was deleted first
            pass

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close:
            self._on_close()
        return False
