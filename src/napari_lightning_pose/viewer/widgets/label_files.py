"""The labeling dock's saving: Save, the autosave, and saving before the labels or window go.

A :class:`LabelSaver` saves the open project's labels (``labeling.session.LabelSession``) when
the user presses Save, every autosave interval while there are unsaved changes, before the
labels layer is deleted and when the main window closes (:class:`CloseFilter`). Each save is
a merge with the CSV as it is on disk now; a failed save is shown with the file name and the
labels stay in memory; what the merge brought in from other writers is reported.

The labels CSV is only ever written under the labels lock. The GUI thread never waits for
it: a save that finds it taken waits in a worker (the dock shows whom it waits for) and runs
again when it is free; the autosave tries again at its next tick. Only closing the window
waits on the closing thread, briefly, and then keeps the labels beside the CSV.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QEvent, QObject, QTimer

from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.io.lock import LockBusyError, wait_until_free
from napari_lightning_pose.labeling.merge import MergeResult
from napari_lightning_pose.labeling.session import SAVE_WAIT_SECONDS, LabelSession, SaveOutcome
from napari_lightning_pose.viewer.widgets.label_editing import LabelEditor


class LabelSaver:
    """Saves the labels of the project open in a labeling dock; see the module docstring.

    Parameters
    ----------
    parent
        The dock: owner of the autosave timer.
    set_status
        Shows one line of status in the dock.
    autosave_seconds
        Interval of the autosave (it only writes while there are unsaved changes).
    show_waiting
        Tells the dock whether a save waits for another writer's lock (its Save button).
    """

    def __init__(
        self,
        parent: QObject,
        set_status: Callable[[str], None],
        autosave_seconds: float,
        show_waiting: Callable[[bool], None] = lambda waiting: None,
    ) -> None:
        self.session: LabelSession | None = None
        self.editor: LabelEditor | None = None
        self._set_status = set_status
        self._show_waiting = show_waiting
        self._lock_waiter: tuple[Any, threading.Event] | None = None
        self._closing = False  # the dock or window is going: no save waits any more
        self._autosave = QTimer(parent)
        self._autosave.timeout.connect(self._on_autosave)
        self.set_autosave_interval(autosave_seconds)
        self._autosave.start()

    def attach(self, session: LabelSession | None, editor: LabelEditor | None) -> None:
        """Save this project (and its labels layer) from now on; None when none is open."""
        self.session, self.editor = session, editor
        self._closing = False

    @property
    def dirty(self) -> bool:
        """True while there are changes not yet written to the labels CSV."""
        return self.session is not None and self.session.dirty

    def set_autosave_interval(self, seconds: float) -> None:
        """Save unsaved labels every ``seconds`` seconds."""
        self._autosave.setInterval(max(1, int(seconds * 1000)))

    def stop(self) -> None:
        """Stop the autosave and any wait for the lock (the dock lets go of the viewer)."""
        self._autosave.stop()
        self._closing = True
        self.stop_waiting_for_lock()

    def save(self, only_if_dirty: bool = False, wait: bool = True) -> bool:
        """Merge the labels into the CSV as it is on disk now and write it atomically.

        The labels are taken from the layer at this moment, so an edit that napari has not
        announced yet (a drag in progress) is saved too. The lock is tried once: when another
        writer holds it, ``wait`` (Save, hiding the dock, deleting the layer) starts a worker
        that waits for it and saves again then; ``wait=False`` (the autosave) tries at its
        next tick. On failure the error is shown with the file name, the labels stay in
        memory and the project stays "unsaved".

        Returns
        -------
        bool
            True when the file was written now (or nothing needed saving).
        """
        session, editor = self.session, self.editor
        if session is None:
            return True
        if editor is not None:
            editor.sync_from_layer()
        if only_if_dirty and not session.dirty:
            return True
        try:
            outcome = session.save()
        except LockBusyError as busy:
            if wait:
                self._wait_for_lock(busy.owner)
            else:
                self._set_status(f"unsaved: autosave waits while {busy.owner} writes")
            return False
        except (LightningPoseInputError, OSError, ValueError) as err:
            self._failed(err)
            return False
        self._saved(outcome)
        return True

    @property
    def waiting_for_lock(self) -> bool:
        """True while a worker waits for another writer to let go of the labels file."""
        return self._lock_waiter is not None

    def _wait_for_lock(self, owner: str) -> None:
        """Wait in a worker until the labels lock is free, then save again (GUI thread)."""
        assert self.session is not None
        name = self.session.labels_path.name
        self._set_status(f"waiting: {owner} is writing {name}; your labels are saved after it")
        self._show_waiting(True)
        if self.waiting_for_lock or self._closing:
            return
        stop = threading.Event()
        worker = create_worker(
            wait_until_free, self.session.labels_path, None, stop.is_set, _start_thread=False
        )
        worker.returned.connect(self._lock_free)
        self._lock_waiter = (worker, stop)
        worker.start()

    def _lock_free(self, free: bool) -> None:
        self._lock_waiter = None
        self._show_waiting(False)
        if free and self.session is not None:
            self.save(only_if_dirty=True)  # may find it taken again, and wait again

    def stop_waiting_for_lock(self) -> None:
        """Let the waiting worker end (the dock goes away, or saves on its own)."""
        waiter = self._lock_waiter
        if waiter is not None:
            waiter[1].set()
            self._lock_waiter = None
            self._show_waiting(False)

    def _saved(self, outcome: SaveOutcome) -> None:
        """Show what was written: the layer's base, points moved by others, the merge."""
        if self.editor is not None:
            self.editor.store_base()
            if outcome.points_moved:  # another writer moved points we show
                self.editor.redraw_points()
        self._report_merge(outcome.merge)

    def _failed(self, err: Exception) -> None:
        assert self.session is not None
        self._set_status(f"NOT saved: {err}")
        show_error(
            f"Could not save the labels to {self.session.labels_path}: {err}. "
            "They are kept in memory; fix the problem and press Save."
        )

    def _report_merge(self, result: MergeResult) -> None:
        """Tell the user what the save merged in from the file, and any conflict."""
        assert self.session is not None
        name = self.session.labels_path.name
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

    def _on_autosave(self) -> None:
        if self.session is None or self.waiting_for_lock:
            return  # a save already waits for the lock and runs when it is free
        if self.session.dirty or (self.editor is not None and self.editor.layer_differs()):
            self.save(wait=False)  # paused while frame selection holds the labels lock

    def save_on_close(self) -> bool:
        """Save before the window closes: the one save that may not wait in a worker.

        Nothing stays to finish the save later, so this waits for the lock on the closing
        thread, up to ``SAVE_WAIT_SECONDS``. If another writer still holds it, the labels
        are not written into the CSV without the lock: they go to ``<csv>.unsaved.csv``
        beside it (``LabelSession.keep_aside``) and the user is told to merge it.
        Returns True when the labels reached the CSV.
        """
        session, editor = self.session, self.editor
        if session is None:
            return True
        self._closing = True  # a hide that follows must not start waiting again
        self.stop_waiting_for_lock()
        if editor is not None:
            editor.sync_from_layer()
        if not session.dirty:
            return True
        try:
            outcome = session.save(SAVE_WAIT_SECONDS)
        except LockBusyError as busy:
            try:
                keep = session.keep_aside()
            except (LightningPoseInputError, OSError, ValueError) as err:
                show_error(f"Could not save the labels beside {session.labels_path}: {err}.")
                return False
            show_error(
                f"{busy.owner} kept {session.labels_path} locked while the window closed, so "
                f"your labels were written to {keep} instead (a labels CSV in the same "
                f"format): copy its rows into {session.labels_path.name} to keep them."
            )
            return False
        except (LightningPoseInputError, OSError, ValueError) as err:
            self._failed(err)
            return False
        self._saved(outcome)
        return True

    def on_layer_removing(self, event: Any) -> None:
        """The user deletes our labels layer: write what it holds first, then let go of it."""
        editor = self.editor
        layer = layers_removed_value(event)
        if editor is not None and layer is not None and layer is editor.points_layer:
            self.save(only_if_dirty=True)
            editor.points_layer = None


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


class CloseFilter(QObject):
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
