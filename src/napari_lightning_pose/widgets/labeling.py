"""Label keypoints on a project's frames: click in the config's order, skeleton drawn live.

The widget opens a project (its ``config.yaml``): the frames to label (the labels CSV's rows
and the other images under ``labeled-data/``, both layouts, without the context neighbours
that frame selection exports beside each frame, see ``label_state.frames_to_label``) become
one lazily read image stack with a frame slider, the labels a Points layer (features
``keypoint``, ``frame``, ``image``) and the config's skeleton a Vectors layer of lines (napari
shows the current frame's). A click in add mode places the current keypoint on the current
frame, replacing its earlier position there, and moves on to the next keypoint still to do.
Every save is a merge with the CSV as it is on disk now (``io.label_merge``: rows and cells
other writers added survive, a cell both changed is reported) under the labels lock
(``io.lock``: the autosave pauses while frame selection writes), written atomically with
rotated backups (``io.labels.write_labels``) on Save, every 30 s while there are unsaved
changes, when the window closes and before another project is opened; a failed save is
reported with the file name and the labels stay in memory.

What to click next, the counts and the skeleton segments come from the pure ``LabelState``.
Clicks, keys and point edits are in ``label_editing``; reading the project and saving in
``label_files`` (both mixed into ``LabelingWidget``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from napari.layers import Points, Vectors
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QEvent, Qt, QTimer
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.io.labels import empty_labels
from napari_lightning_pose.layer_styles import KeypointsStyle, PredictionSkeletonStyle
from napari_lightning_pose.layers import FrameStack
from napari_lightning_pose.widgets.dims import fit_slider_labels
from napari_lightning_pose.widgets.hooks import ViewerHooks, release_when_destroyed
from napari_lightning_pose.widgets.label_editing import PointEditingMixin
from napari_lightning_pose.widgets.label_files import (
    LabelSavingMixin,
    OpenedProject,
    _CloseFilter,
    read_project,
)
from napari_lightning_pose.widgets.label_state import LabelState
from napari_lightning_pose.widgets.prefill import PrefillOverlay

AUTOSAVE_SECONDS = 30.0

HELP_TEXT = (
    "<b>Click</b> on the image to place the highlighted keypoint (add mode, key P); "
    "the next one is selected for you. "
    "<b>Drag</b> a point in select mode (S) to move it.<br>"
    "<b>Up/Down</b> keypoint &nbsp; <b>Left/Right</b> frame &nbsp; "
    "<b>M / Shift+M</b> next/previous frame with missing labels<br>"
    "<b>N</b> current keypoint not visible &nbsp; "
    "<b>Delete</b> remove selected point (or the current keypoint's)"
)


class LabelingWidget(PointEditingMixin, LabelSavingMixin, QWidget):
    """Dock widget to label keypoints of a project; see the module docstring.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer to add the frames, labels and skeleton layers to.
    autosave_seconds : float
        Interval of the autosave (only runs while there are unsaved changes).
    """

    def __init__(self, napari_viewer: Any, autosave_seconds: float = AUTOSAVE_SECONDS) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.config: dict[str, Any] | None = None
        self.config_path: Path | None = None
        self.labels_path: Path | None = None
        self.state: LabelState | None = None
        self._base: pd.DataFrame | None = None  # the labels as last read or written
        self.edges: list[tuple[str, str]] = []
        self.frames_layer = None
        self.points_layer: Points | None = None
        self.skeleton_layer: Vectors | None = None
        self._current_kp = 0
        self._dirty = False
        self._syncing = False
        self._restore_defaults = False
        self._window_filter: _CloseFilter | None = None
        self._viewer_hooks = ViewerHooks()  # for the widget's life
        self._project_hooks = ViewerHooks()  # for the open project's layers
        self.loading = False  # a project is being read in a worker

        self._build_ui()
        self.prefill = PrefillOverlay(self)
        self._autosave = QTimer(self)
        self._autosave.timeout.connect(self._on_autosave)
        self.set_autosave_interval(autosave_seconds)
        self._autosave.start()
        self._viewer_hooks.connect(self.viewer.dims.events.current_step, self._on_frame_changed)
        self._viewer_hooks.connect(self.viewer.layers.events.removing, self._on_layer_removing)
        # deleted with its window while the viewer lives on: let go of the viewer
        release_when_destroyed(self, self._viewer_hooks, self._project_hooks)
        fit_slider_labels(self.viewer)  # the "frame" slider label, not "fran"

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        self.open_button = QPushButton("Open project…")
        self.open_button.setToolTip("Choose a project's config.yaml to label its frames.")
        self.open_button.clicked.connect(self._choose_project)
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip(
            "Write the labels CSV now (atomic, old file kept as .bak1). "
            "Labels are also saved every 30 s and when the window closes."
        )
        self.save_button.clicked.connect(self.save)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.save_button)

        self.project_label = QLabel("No project open.")
        self.project_label.setWordWrap(True)
        self.counts_label = QLabel("")
        self.frame_label = QLabel("")
        self.frame_label.setWordWrap(True)
        self.keypoint_list = QListWidget()
        self.keypoint_list.setToolTip(
            "Keypoints in the config's order; the highlighted one is placed by the next click.\n"
            "Click a name to choose it. Up/Down: previous/next keypoint, "
            "N: not visible, Delete: remove."
        )
        self.keypoint_list.setStyleSheet(
            "QListWidget::item:selected { background-color: rgb(0, 122, 204); color: white; }"
        )
        self.keypoint_list.currentRowChanged.connect(self._on_row_changed)

        self.missing_button = QPushButton("Next missing (M)")
        self.missing_button.setToolTip("Jump to the next frame with keypoints still to label.")
        self.missing_button.clicked.connect(self.next_missing_frame)
        self.not_visible_button = QPushButton("Not visible (N)")
        self.not_visible_button.setToolTip(
            "Mark the current keypoint not visible on this frame (saved as an empty cell)."
        )
        self.not_visible_button.clicked.connect(self.mark_not_visible)
        actions = QHBoxLayout()
        actions.addWidget(self.missing_button)
        actions.addWidget(self.not_visible_button)

        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.help_label = QLabel(HELP_TEXT)
        self.help_label.setWordWrap(True)
        self.help_label.setTextFormat(Qt.TextFormat.RichText)
        self.help_label.setStyleSheet("font-size: 11px;")

        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.project_label)
        layout.addWidget(self.counts_label)
        layout.addWidget(self.frame_label)
        layout.addWidget(self.keypoint_list, stretch=1)
        layout.addLayout(actions)
        layout.addWidget(self.status_label)
        layout.addWidget(self.help_label)
        self._set_enabled(False)

    def _set_enabled(self, enabled: bool) -> None:
        for w in (self.save_button, self.missing_button, self.not_visible_button):
            w.setEnabled(enabled)

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
        if self.loading or (self.state is not None and not self.save(only_if_dirty=True)):
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
        if self.loading or (self.state is not None and not self.save(only_if_dirty=True)):
            return None
        worker = create_worker(
            read_project,
            config_path,
            _connect={"errored": lambda err: show_error(f"Could not open the project: {err}")},
            _start_thread=False,
        )
        worker.returned.connect(self._show_project)
        worker.finished.connect(self._loading_finished)
        self.loading = True
        self.open_button.setEnabled(False)
        self._set_status(f"busy: reading {Path(config_path).name}…")
        worker.start()
        return worker

    def _loading_finished(self) -> None:
        self.loading = False
        self.open_button.setEnabled(True)
        if self.status_label.text().startswith("busy:"):
            self._set_status("")

    def _show_project(self, opened: OpenedProject) -> bool:
        """Show a project read by ``read_project`` (GUI thread): layers, list, counts."""
        if not opened.images:
            show_info(
                f"{opened.data_dir / 'labeled-data'} holds no frames to label yet: select "
                "frames of a video with the Project widget first."
            )
            return False
        if self.state is not None and not self.close_project(save=True):
            return False  # unsaved labels could not be written: keep them on screen
        images, keypoints, labels = opened.images, opened.keypoints, opened.labels
        self.config_path = opened.config_path
        self.config = opened.config
        self.labels_path = opened.labels_path
        self.edges = [(str(a), str(b)) for a, b in opened.config["data"]["skeleton"]]
        if labels is None:
            self.state = LabelState.empty(images, keypoints)
            self._base = empty_labels(keypoints)
        else:
            self.state = LabelState.from_labels(labels, images, keypoints)
            self._base = labels
        self._add_layers(opened.stack)
        self._draw_skeleton()
        self.prefill.refresh()  # unconfirmed pre-filled points (qc.refine), if any
        self._fill_keypoint_list()
        self._dirty = False
        self._set_enabled(True)
        self.project_label.setText(
            f"<b>{self.config_path.parent.name}</b>: {len(images)} frames, "
            f"{len(keypoints)} keypoints<br>labels: {self.labels_path}"
        )
        self.viewer.dims.axis_labels = ("frame", "y", "x")
        self.viewer.dims.set_current_step(0, 0)
        self._on_frame_changed()
        self._set_status("opened")
        return True

    def close_project(self, save: bool = True) -> bool:
        """Remove the project's layers (after saving unsaved labels when ``save``).

        Returns False, keeping everything, when the save fails.
        """
        if self.state is None:
            return True
        if save and not self.save(only_if_dirty=True):
            return False
        self.prefill.remove()
        points = self.points_layer
        self.points_layer = None  # so that _on_layer_removing does not save again
        # One batch: napari garbage-collects once per batch, not once per removed layer.
        with self.viewer.layers.batched_update():
            for layer in (self.skeleton_layer, points, self.frames_layer):
                if layer is not None and layer in self.viewer.layers:
                    self.viewer.layers.remove(layer)
        self.frames_layer = self.skeleton_layer = None
        self.state = None
        self._base = None
        self._unbind_keys()
        self.keypoint_list.clear()
        self._set_enabled(False)
        self.project_label.setText("No project open.")
        self.counts_label.setText("")
        self.frame_label.setText("")
        self._dirty = False
        return True

    def _add_layers(self, stack: FrameStack) -> None:
        assert self.state is not None
        name = self.config_path.parent.name if self.config_path else "project"
        self.frames_layer = self.viewer.add_image(
            stack,
            name=f"{name} frames",
            rgb=stack.rgb,
            contrast_limits=(0, 255),
            multiscale=False,
        )
        self.frames_layer.metadata["images"] = list(self.state.images)
        size = max(4.0, max(stack.shape[1:3], default=400) / 60)
        style = KeypointsStyle(name=f"{name} labels", keypoint_names=self.state.keypoints)
        style.size = size
        data, features = self._points_from_state()
        self.points_layer = self.viewer.add_points(
            data,
            ndim=3,
            features=features,
            **style.as_kwargs(),
        )
        # the same metadata as the labels reader's layer, so File > Save Layers works too
        self.points_layer.metadata.update(
            {
                "csv_path": str(self.labels_path),
                "root": str(Path(self.config["data"]["data_dir"])),
                "images": list(self.state.images),
                "keypoint_names": list(self.state.keypoints),
                "scorer": self.state.scorer,
                "skeleton": [list(edge) for edge in self.edges],
            }
        )
        self._store_base()
        # Vectors of every frame, not one frame's Shapes: napari slices them at no cost when
        # the frame changes, where rebuilding a Shapes layer took most of a frame step
        skel = PredictionSkeletonStyle(name=f"{name} skeleton", opacity=0.6)
        skel.edge_width = max(1.0, size / 4)
        self.skeleton_layer = self.viewer.add_vectors(
            np.empty((0, 2, 3)), ndim=3, **skel.as_kwargs()
        )
        self.skeleton_layer.editable = False
        self.viewer.layers.selection.active = self.points_layer
        self.points_layer.mode = "add"
        self._bind_keys()
        self._update_feature_defaults()

    def _set_status(self, text: str) -> None:
        self.status_label.setText(text)

    # ------------------------------------------------------------------ closing
    def showEvent(self, event: Any) -> None:
        """Watch the main window so that closing it saves the labels first."""
        super().showEvent(event)
        window = self.window()
        if window is not self and self._window_filter is None:
            self._window_filter = _CloseFilter(self._save_on_close, window)
            self._viewer_hooks.on_release(self._window_filter.detach)

    def hideEvent(self, event: Any) -> None:
        """Save when the dock widget is hidden. If another writer holds the labels lock, the
        autosave tries again while the dock lives, and closing saves (``save_on_close``)."""
        if self.state is not None:
            self.save(only_if_dirty=True, wait=False)
        super().hideEvent(event)

    def closeEvent(self, event: Any) -> None:
        """Save when the widget is closed, then let go of the viewer."""
        self._save_on_close()
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
        self._autosave.stop()
        self._viewer_hooks.release()  # also takes the event filter off the main window
        self._project_hooks.release()
        self._window_filter = None
