"""Label keypoints on a project's frames: click in the config's order, skeleton drawn live.

The widget opens a project (its ``config.yaml``): the frames to label (the labels CSV's rows
and the other images under ``labeled-data/``, both layouts, without the context neighbours
that frame selection exports beside each frame, see ``labeling.state.frames_to_label``) become
one lazily read image stack with a frame slider, the labels a Points layer (features
``keypoint``, ``frame``, ``image``) and the config's skeleton a Vectors layer of lines (napari
shows the current frame's). A click in add mode places the current keypoint on the current
frame, replacing its earlier position there, and moves on to the next keypoint still to do.
Every save is a merge with the CSV as it is on disk now (``labeling.merge``: rows and cells
other writers added survive, a cell both changed is reported) under the labels lock
(``io.lock``: the autosave pauses while frame selection writes), written atomically with
rotated backups (``io.labels.write_labels``) on Save, every 30 s while there are unsaved
changes, when the window closes and before another project is opened; a failed save is
reported with the file name and the labels stay in memory.

The dock is composed of parts with one owner each: the open project's labels and their file
(``labeling.session.LabelSession``, pure: state, merge base, unsaved flag, save), the editor
bound to the labels layer (``label_editing.LabelEditor``: clicks, keys, point edits), the
saving schedule (``label_files.LabelSaver``: Save, autosave, on close), the Qt widgets
(``label_panel.LabelingPanel``: buttons, keypoint list, counts, status), the project's
layers (``label_layers``) and, here, opening and closing projects and the dock's public
face, each action handed to its owner.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from napari.layers import Points, Vectors
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QEvent, Signal
from qtpy.QtWidgets import QFileDialog

from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.labeling.session import (
    LabelSession,
    OpenedProject,
    read_project,
)
from napari_lightning_pose.labeling.state import LabelState
from napari_lightning_pose.viewer.widgets.hooks import ViewerHooks, release_when_destroyed
from napari_lightning_pose.viewer.widgets.label_editing import LabelEditor
from napari_lightning_pose.viewer.widgets.label_files import CloseFilter, LabelSaver
from napari_lightning_pose.viewer.widgets.label_layers import (
    ProjectLayers,
    make_project_layers,
    project_layer_steps,
    put_aside_other_stacks,
    put_back,
)
from napari_lightning_pose.viewer.widgets.label_panel import LabelingPanel
from napari_lightning_pose.viewer.widgets.layer_watch import watch_layers
from napari_lightning_pose.viewer.widgets.prefill import PrefillOverlay
from napari_lightning_pose.viewer.widgets.staging import STAGE_MS, Steps, activate, remove_layers
from napari_lightning_pose.viewer.widgets.warmup import warm_first_image_layer

AUTOSAVE_SECONDS = 30.0


def _read_project_warm(config_path: str | Path) -> OpenedProject:
    """``read_project`` in a worker, with napari's first-Image-layer imports done there too."""
    opened = read_project(config_path)
    warm_first_image_layer()
    return opened


class LabelingWidget(LabelingPanel):
    """Dock widget to label keypoints of a project; see the module docstring.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer to add the frames, labels and skeleton layers to.
    autosave_seconds : float
        Interval of the autosave (only runs while there are unsaved changes).
    """

    #: A load started by ``load_project_in_background`` is over: shown, failed or refused
    loading_finished = Signal()

    def __init__(self, napari_viewer: Any, autosave_seconds: float = AUTOSAVE_SECONDS) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session: LabelSession | None = None  # the open project's labels and file
        self.editor: LabelEditor | None = None  # edits through the open project's layers
        self.frames_layer = None
        self._window_filter: CloseFilter | None = None
        self._viewer_hooks = ViewerHooks()  # for the widget's life
        self.loading = False  # a project is being read in a worker
        self._aside: list[Any] = []  # (place, layer) taken out while a project is open
        self._incoming: ProjectLayers | None = None  # the layers of a project coming in
        self._steps = Steps(self, STAGE_MS)  # adding them, one per turn of the event loop

        self.open_button.clicked.connect(self._choose_project)
        self.save_button.clicked.connect(lambda: self.save())
        self.keypoint_list.currentRowChanged.connect(self._on_row_changed)
        # a click on the row already current is a choice too (no row change to tell it)
        self.keypoint_list.clicked.connect(lambda index: self._on_row_chosen(index.row()))
        self.missing_button.clicked.connect(lambda: self.next_missing_frame())
        self.not_visible_button.clicked.connect(self.mark_not_visible)
        self.saver = LabelSaver(self, self.set_status, autosave_seconds, self._show_waiting)
        self.prefill = PrefillOverlay(self)
        self._viewer_hooks.connect(self.viewer.dims.events.current_step, self._on_frame_changed)
        self._viewer_hooks.connect(self.viewer.layers.events.removing, self._on_layer_removing)
        # deleted with its window while the viewer lives on: let go of the viewer
        release_when_destroyed(self, self._viewer_hooks)
        watch_layers(self.viewer)  # lines up prediction layers; "frame" slider, not "fran"

    def _choose_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a project's config", "", "Project config (*.yaml *.yml)"
        )
        if path:
            self.load_project_in_background(path)

    # ------------------------------------------------------------------ project
    def load_project(self, config_path: str | Path) -> bool:
        """Open a project: its frames, labels and skeleton become layers of the viewer.

        Unsaved labels of the project already open are saved first; if that fails, or the new
        project cannot be read, the error is shown and the open project stays as it was.
        Reads the files on the calling thread; the Open button and the Project dock use
        ``load_project_in_background``.

        Returns
        -------
        bool
            True when the project was opened.
        """
        if self.loading or not self.save(only_if_dirty=True):
            return False
        try:
            opened = read_project(config_path)
        except (LightningPoseInputError, OSError) as err:
            show_error(f"Could not open the project: {err}")
            return False
        return self._show_project(opened)

    def load_project_in_background(self, config_path: str | Path) -> Any:
        """Open a project like ``load_project``, reading its files in a worker thread.

        The dock says it is busy and its Open button is off until the layers are shown.
        Returns the started worker, or None when nothing was started (a load is running, or
        saving the open project's labels failed).
        """
        if self.loading or not self.save(only_if_dirty=True):
            return None
        worker = create_worker(
            _read_project_warm,
            config_path,
            _connect={"errored": lambda err: show_error(f"Could not open the project: {err}")},
            _start_thread=False,
        )
        worker.returned.connect(lambda opened: self._show_project(opened, staged=True))
        worker.finished.connect(self._loading_finished)
        self.loading = True
        self.open_button.setEnabled(False)
        self.set_status(f"busy: reading {Path(config_path).name}…")
        worker.start()
        return worker

    def _loading_finished(self) -> None:
        """The worker is done: the dock is free again, unless the layers are still coming."""
        if self._steps.pending or not self.loading:
            return
        self.loading = False
        self.open_button.setEnabled(True)
        if self.status_label.text().startswith("busy:"):
            self.set_status("")
        self.loading_finished.emit()

    def _show_project(self, opened: OpenedProject, staged: bool = False) -> bool:
        """Show a project read by ``read_project`` (GUI thread): layers, list, counts.

        ``staged`` adds the layers one per turn of the event loop (each a short freeze; the
        dock stays :attr:`loading` until the last), else all at once.
        """
        if not opened.images:
            show_info(
                f"{opened.data_dir / 'labeled-data'} holds no frames to label yet: select "
                "frames of a video with the Project widget first."
            )
            return False
        aside = self._take_down(save=True)
        if aside is None:
            return False  # unsaved labels could not be written: keep them on screen
        session = LabelSession(opened)
        self._aside = aside + put_aside_other_stacks(self.viewer)  # before ours come in
        self._incoming = make_project_layers(session, opened)
        steps = project_layer_steps(self.viewer, self._incoming)
        steps.append(lambda: self._project_shown(session, opened))
        if staged:  # from the next turn: the old layers' removal was freeze enough
            self._steps.start(steps)
        else:
            for step in steps:
                step()
        return True

    def _project_shown(self, session: LabelSession, opened: OpenedProject) -> None:
        """The project's layers are in: edit them, fill the list, tell what was set aside."""
        layers, self._incoming = self._incoming, None
        activate(self.viewer, layers.points)  # in the turn the editor binds to it
        layers.points.mode = "add"
        self.frames_layer = layers.frames
        self.session = session
        self.editor = LabelEditor(self.viewer, session, layers.points, layers.skeleton, view=self)
        self.editor.store_base()
        self.saver.attach(session, self.editor)
        self.editor.draw_skeleton()
        self.prefill.refresh()  # unconfirmed pre-filled points (qc.refine), if any
        self.show_opened(opened, self.editor.current_kp)
        self.viewer.dims.axis_labels = ("frame", "y", "x")
        self.viewer.dims.set_current_step(0, 0)
        self._on_frame_changed()
        self.say_opened(opened, [layer.name for _, layer in self._aside])
        self._loading_finished()

    def close_project(self, save: bool = True) -> bool:
        """Remove the project's layers (after saving unsaved labels when ``save``) and put
        back the layers set aside while it was open.

        Returns False, keeping everything, when the save fails.
        """
        aside = self._take_down(save)
        if aside is None:
            return False
        put_back(self.viewer, aside)
        self.show_no_project()
        return True

    def _take_down(self, save: bool) -> list[tuple[int, Any]] | None:
        """Save (when ``save``), then remove the open project's layers, also those still
        coming in; the layers it had set aside, or None (nothing changed) when the save
        failed."""
        if self.session is None and self._incoming is None:
            return []
        if save and self.session is not None and not self.save(only_if_dirty=True):
            return None
        cut_short = self._steps.pending  # closed while its layers came in
        self._steps.cancel()
        layers = [*(self._incoming or []), self.prefill.layer, self.frames_layer]
        self._incoming = None
        editor = self.editor
        if editor is not None:
            editor.release()
            layers += [editor.points_layer, editor.skeleton_layer]
            editor.points_layer = None  # so that the layer removal does not save again
        remove_layers(self.viewer, layers)  # one batch: one garbage collection
        self.prefill.remove()
        aside, self._aside = self._aside, []
        self.frames_layer = None
        self.session = self.editor = None
        self.saver.attach(None, None)
        if cut_short:
            self._loading_finished()
        return aside

    # ------------------------------------------------------------------ LabelingView
    def show_progress(self, frame: int) -> None:
        """Each keypoint's status on ``frame``, the counts and the frame's name."""
        if self.state is not None:
            self.show_state(self.state, frame)

    # ------------------------------------------------------------------ the open project
    @property
    def state(self) -> LabelState | None:
        """The labels being edited, or None without a project."""
        return self.session.state if self.session else None

    @property
    def config_path(self) -> Path | None:
        """The open project's ``config.yaml``."""
        return self.session.config_path if self.session else None

    @property
    def labels_path(self) -> Path | None:
        """The open project's labels CSV."""
        return self.session.labels_path if self.session else None

    @property
    def points_layer(self) -> Points | None:
        """The labels layer (None without a project, or once the user deleted it)."""
        return self.editor.points_layer if self.editor else None

    @property
    def skeleton_layer(self) -> Vectors | None:
        """The skeleton layer of the open project."""
        return self.editor.skeleton_layer if self.editor else None

    @property
    def dirty(self) -> bool:
        """True while there are changes not yet written to the labels CSV."""
        return self.saver.dirty

    @property
    def keypoints(self) -> list[str]:
        """Keypoint names of the open project (config order)."""
        return list(self.state.keypoints) if self.state else []

    @property
    def current_keypoint(self) -> str | None:
        """The keypoint the next click places."""
        return self.editor.current_keypoint if self.editor else None

    @property
    def current_frame(self) -> int:
        """Index of the frame shown (into the project's images), clamped to the stack."""
        return self.editor.current_frame if self.editor else 0

    @property
    def current_image(self) -> str | None:
        """Image path (CSV index) of the frame shown."""
        return self.editor.current_image if self.editor else None

    # ------------------------------------------------------------------ actions
    def save(self, only_if_dirty: bool = False, wait: bool = True) -> bool:
        """Merge the labels into the CSV as it is on disk now (``LabelSaver.save``)."""
        return self.saver.save(only_if_dirty, wait)

    @property
    def waiting_for_lock(self) -> bool:
        """True while a save waits in a worker for another writer's labels lock."""
        return self.saver.waiting_for_lock

    def _show_waiting(self, waiting: bool) -> None:
        with contextlib.suppress(RuntimeError):  # the dock's Qt object may be gone
            self.save_button.setText("Save (waiting…)" if waiting else "Save")

    def set_autosave_interval(self, seconds: float) -> None:
        """Save unsaved labels every ``seconds`` seconds."""
        self.saver.set_autosave_interval(seconds)

    def set_current_keypoint(self, keypoint: str | int) -> None:
        """Make ``keypoint`` (name or index) the one the next click places."""
        if self.editor is not None:
            self.editor.set_current_keypoint(keypoint)

    def go_to_frame(self, frame: int) -> None:
        """Show frame ``frame`` of the project's images."""
        if self.editor is not None:
            self.editor.go_to_frame(frame)

    def next_missing_frame(self, step: int = 1) -> int | None:
        """Jump to the next frame (in direction ``step``) with keypoints still to label."""
        return self.editor.next_missing_frame(step) if self.editor else None

    def mark_not_visible(self) -> None:
        """Mark the current keypoint not visible on this frame and move to the next one."""
        if self.editor is not None:
            self.editor.mark_not_visible()

    # ------------------------------------------------------------------ viewer events
    def _on_frame_changed(self, _event: Any = None) -> None:
        if self.editor is not None:
            self.editor.on_frame_changed()

    def _on_layer_removing(self, event: Any) -> None:
        self.saver.on_layer_removing(event)

    def _on_row_changed(self, row: int) -> None:
        if self.editor is not None and row >= 0 and row != self.editor.current_kp:
            self.editor.set_current_keypoint(row)

    def _on_row_chosen(self, row: int) -> None:
        if self.editor is not None and row >= 0:
            self.editor.set_current_keypoint(row)

    # ------------------------------------------------------------------ closing
    def showEvent(self, event: Any) -> None:
        """Watch the main window so that closing it saves the labels first."""
        super().showEvent(event)
        window = self.window()
        if window is not self and self._window_filter is None:
            self._window_filter = CloseFilter(self.saver.save_on_close, window)
            self._viewer_hooks.on_release(self._window_filter.detach)

    def hideEvent(self, event: Any) -> None:
        """Save when the dock widget is hidden. If another writer holds the labels lock, the
        autosave tries again while the dock lives, and closing saves (``save_on_close``)."""
        self.saver.save(only_if_dirty=True, wait=False)
        super().hideEvent(event)

    def closeEvent(self, event: Any) -> None:
        """Save when the widget is closed, then let go of the viewer."""
        self.saver.save_on_close()
        self._release_viewer()
        super().closeEvent(event)

    def event(self, event: QEvent) -> bool:
        """Let go of the viewer when napari takes the widget out of its dock (the dock's
        close button; hiding it first saved the labels)."""
        if event.type() == QEvent.Type.ParentChange and self.parent() is None:
            self._release_viewer()
        return super().event(event)

    def _release_viewer(self) -> None:
        """Undo every hook into the viewer and its window: the widget is done with them.

        The layers stay in the viewer; nothing the viewer does reaches this widget again.
        """
        self.saver.stop()
        self._steps.cancel()  # a project's layers still to come stay out
        self._viewer_hooks.release()  # also takes the event filter off the main window
        if self.editor is not None:
            self.editor.release()
        self._window_filter = None
