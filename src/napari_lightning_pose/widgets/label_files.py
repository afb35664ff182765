"""The labeling dock's files: read a project in a worker, save labels merged with the disk.

``read_project`` (no Qt) reads a project's config, labels and frame list for the dock, in a
worker thread. ``LabelSavingMixin`` is the part of ``LabelingWidget`` that writes the labels:
Save, the autosave, before the labels layer is deleted and when the window closes
(``_CloseFilter``), each a merge with the CSV as it is on disk now, written only under the
labels lock; a save that finds the lock taken waits for it in a worker, never on the GUI
thread (except when the window closes, see ``save_on_close``). Kept apart from the dock
so that each file holds one concern (the house's ~400-line rule).
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from napari.layers import Points
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QEvent, QObject, QTimer
from qtpy.QtWidgets import QPushButton

from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.label_merge import MergeResult, merge_into_file
from napari_lightning_pose.io.labels import read_labels, write_labels
from napari_lightning_pose.io.lock import LockBusyError, hold_lock, wait_until_free
from napari_lightning_pose.layers import LABELS_BASE, FrameStack, labels_base
from napari_lightning_pose.widgets.label_state import (
    LabelState,
    find_label_images,
    frames_to_label,
)
from napari_lightning_pose.widgets.warmup import warm_first_image_layer

BACKUPS = 3
#: How long closing the window (the one save that cannot wait in a worker) and opening a
#: project (in a worker) wait for a frame selection writing the labels.
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
    save_button: QPushButton
    _lock_waiter: tuple[Any, threading.Event] | None = None
    _set_status: Callable[[str], None]
    _sync_from_layer: Callable[[], None]
    _layer_differs: Callable[[], bool]
    _redraw_points: Callable[[], None]

    @property
    def dirty(self) -> bool:
        """True while there are changes not yet written to the labels CSV."""
        return self._dirty

    def save(self, only_if_dirty: bool = False, wait: bool = True) -> bool:
        """Merge the labels into the CSV as it is on disk now and write it atomically.

        The merge (``io.label_merge.merge_edits``) keeps what other writers added or changed
        since the last save; the user's edits win for the cells they changed, and a cell
        both changed differently is reported. The file is only ever written under the labels
        lock (``io.lock``), with the previous file kept as ``.bak1``.

        The lock is tried once, without waiting: the GUI thread never waits for it. When
        another writer (frame selection, Label these, a terminal) holds it, ``wait`` (Save,
        closing a project) starts a worker that waits for the lock to be free, the dock shows
        whom it waits for, and the save runs again then; the autosave (``wait=False``) tries
        again at its next tick.

        The labels are taken from the layer at this moment, so an edit that napari has not
        announced yet (a drag in progress) is saved too. On failure the error is shown with
        the file name, the labels stay in memory and the project stays "unsaved".

        Returns
        -------
        bool
            True when the file was written (or nothing needed saving) now.
        """
        if self.state is None or self.labels_path is None:
            return True
        self._sync_from_layer()
        if only_if_dirty and not self._dirty:
            return True
        try:
            with hold_lock(self.labels_path, "the labeling dock", timeout=0):
                result = self._merge_and_write()
        except LockBusyError as busy:
            if wait is False:  # the autosave: try again at the next tick
                self._set_status(f"unsaved: autosave waits while {busy.owner} writes")
            else:
                self._wait_for_lock(busy.owner)
            return False
        except (LightningPoseInputError, OSError, ValueError) as err:
            self._set_status(f"NOT saved: {err}")
            show_error(
                f"Could not save the labels to {self.labels_path}: {err}. "
                "They are kept in memory; fix the problem and press Save."
            )
            return False
        self._saved(result)
        return True

    @property
    def waiting_for_lock(self) -> bool:
        """True while a worker waits for another writer to let go of the labels file."""
        return self._lock_waiter is not None

    def _wait_for_lock(self, owner: str) -> None:
        """Wait in a worker until the labels lock is free, then save again (on this thread)."""
        assert self.labels_path is not None
        name = self.labels_path.name
        self._set_status(f"waiting: {owner} is writing {name}; your labels are saved after it")
        self.save_button.setText("Save (waiting…)")
        if self.waiting_for_lock:
            return
        stop = threading.Event()
        worker = create_worker(
            wait_until_free, self.labels_path, None, stop.is_set, _start_thread=False
        )
        worker.returned.connect(lambda free: self._lock_free(free, stop))
        worker.errored.connect(lambda _err: self._lock_free(False, stop))
        self._lock_waiter = (worker, stop)
        worker.start()

    def _lock_free(self, free: bool, stop: threading.Event) -> None:
        if self._lock_waiter is None or self._lock_waiter[1] is not stop:
            return  # a waiter that was stopped (the window closes and saved on its own)
        self._lock_waiter = None
        with contextlib.suppress(RuntimeError):  # the dock's Qt object may be gone
            self.save_button.setText("Save")
        if free and self.state is not None:
            self.save(only_if_dirty=True)  # may find it taken again, and wait again

    def _stop_waiting_for_lock(self) -> None:
        """Let the waiting worker end (the dock goes away, or saves on its own)."""
        waiter = self._lock_waiter
        if waiter is not None:
            waiter[1].set()
            self._lock_waiter = None
            self.save_button.setText("Save")

    def _saved(self, result: MergeResult) -> None:
        """Take what was written as the new base and tell the user."""
        assert self.state is not None
        self._base = result.labels
        self._store_base()
        if self.state.adopt(result.labels):  # another writer moved points we show
            self._redraw_points()
        self._dirty = False
        self._report_merge(result)

    def save_on_close(self) -> bool:
        """Save before the window closes: the one save that may not wait in a worker.

        Nothing stays to finish the save later, so this waits for the lock on the closing
        thread, up to ``SAVE_WAIT_SECONDS``. If another writer still holds it, the labels
        are not written into the CSV without the lock: they go to ``<csv>.unsaved.csv``
        beside it (a labels CSV of the dock's rows, e.g. ``CollectedData.unsaved.csv``) and
        the user is told to merge it.
        Returns True when the labels reached the CSV.
        """
        if self.state is None or self.labels_path is None:
            return True
        self._stop_waiting_for_lock()
        self._sync_from_layer()
        if not self._dirty:
            return True
        try:
            with hold_lock(self.labels_path, "the labeling dock", timeout=SAVE_WAIT_SECONDS):
                result = self._merge_and_write()
        except LockBusyError as busy:
            keep = self.labels_path.with_name(f"{self.labels_path.stem}.unsaved.csv")
            try:
                write_labels(self.state.to_labels(), keep)
            except (LightningPoseInputError, OSError, ValueError) as err:
                show_error(f"Could not save the labels to {keep}: {err}.")
                return False
            show_error(
                f"{busy.owner} kept {self.labels_path} locked while the window closed, so "
                f"your labels were written to {keep} instead (a labels CSV in the same "
                f"format): copy its rows into {self.labels_path.name} to keep them."
            )
            return False
        except (LightningPoseInputError, OSError, ValueError) as err:
            show_error(f"Could not save the labels to {self.labels_path}: {err}.")
            return False
        self._saved(result)
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
        if self.waiting_for_lock:
            return  # a save is already waiting for the lock and runs when it is free
        if self.state is not None and (self._dirty or self._layer_differs()):
            self.save(wait=False)  # paused while frame selection holds the labels lock

    def _save_on_close(self) -> None:
        if self.state is not None:
            self.save_on_close()


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
