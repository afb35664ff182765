"""Label keypoints on a project's frames: click in the config's order, skeleton drawn live.

The widget opens a project (its ``config.yaml``): the frames to label (the labels CSV's rows
and the other images under ``labeled-data/``, both layouts, without the context neighbours
that frame selection exports beside each frame, see ``label_state.frames_to_label``) become
one lazily read image stack with a frame slider, the labels a Points layer (features
``keypoint``, ``frame``, ``image``) and the config's skeleton a Shapes layer of lines for the
current frame. A click in
add mode places the current keypoint on the current frame, replacing its earlier position
there, and moves on to the next keypoint still to do. Every save is a merge with the CSV as
it is on disk now (``io.label_merge``: rows and cells other writers added survive, a cell both
changed is reported) under the labels lock (``io.lock``: the autosave pauses while frame
selection writes), written atomically with rotated backups (``io.labels.write_labels``) on
Save, every 30 s while there are unsaved changes, when the window closes and before another
project is opened; a failed save is reported with the file name and the labels stay in memory.

What to click next, the counts and the skeleton segments come from the pure ``LabelState``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from napari.layers import Points, Vectors
from napari.layers.base import ActionType
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QEvent, QObject, Qt, QTimer
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.label_merge import MergeResult, merge_into_file
from napari_lightning_pose.io.labels import empty_labels, read_labels
from napari_lightning_pose.io.lock import LockBusyError, hold_lock, wait_until_free
from napari_lightning_pose.io.pose_csv import make_pose_frame
from napari_lightning_pose.layer_styles import (
    KeypointsStyle,
    PredictionSkeletonStyle,
    keypoint_colors,
)
from napari_lightning_pose.layers import (
    LABELS_BASE,
    FrameStack,
    labels_base,
    labels_to_points,
    xy_skeleton_vectors,
)
from napari_lightning_pose.widgets.dims import fit_slider_labels
from napari_lightning_pose.widgets.hooks import ViewerHooks, release_when_destroyed
from napari_lightning_pose.widgets.label_state import (
    KeypointStatus,
    LabelState,
    find_label_images,
    frames_to_label,
)
from napari_lightning_pose.widgets.prefill import PrefillOverlay
from napari_lightning_pose.widgets.warmup import warm_first_image_layer

AUTOSAVE_SECONDS = 30.0
BACKUPS = 3
#: How long Save, closing and opening wait for a frame selection writing the labels.
SAVE_WAIT_SECONDS = 10.0

#: Keyboard shortcuts: key -> (what it does, name of the widget method it calls).
SHORTCUTS: dict[str, tuple[str, str]] = {
    "Down": ("next keypoint", "next_keypoint"),
    "Up": ("previous keypoint", "previous_keypoint"),
    "M": ("next frame with missing labels", "next_missing_frame"),
    "Shift-M": ("previous frame with missing labels", "previous_missing_frame"),
    "N": ("mark the current keypoint not visible", "mark_not_visible"),
}
#: Bound on the labels layer (replacing napari's "delete selected points").
DELETE_KEYS = ("Delete", "Backspace")

HELP_TEXT = (
    "<b>Click</b> on the image to place the highlighted keypoint (add mode, key P); "
    "the next one is selected for you. "
    "<b>Drag</b> a point in select mode (S) to move it.<br>"
    "<b>Up/Down</b> keypoint &nbsp; <b>Left/Right</b> frame &nbsp; "
    "<b>M / Shift+M</b> next/previous frame with missing labels<br>"
    "<b>N</b> current keypoint not visible &nbsp; "
    "<b>Delete</b> remove selected point (or the current keypoint's)"
)


class LabelingWidget(QWidget):
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

    def _redraw_points(self) -> None:
        """Put the state's positions into the Points layer (after a merge brought changes)."""
        layer = self.points_layer
        if layer is None:
            return
        data, features = self._points_from_state()
        self._syncing = True
        try:
            layer.selected_data = set()
            layer.data = data
            layer.features = features
            layer.refresh_colors(update_color_mapping=False)
        finally:
            self._syncing = False
        self._update_feature_defaults()
        self._refresh_views()

    def _points_from_state(self) -> tuple[np.ndarray, pd.DataFrame]:
        """Placed keypoints as Points data (N, 3) of (frame, y, x) and their features."""
        assert self.state is not None
        table = make_pose_frame(self.state.xy, self.state.keypoints, index=self.state.images)
        return labels_to_points(table, self.state.keypoints)

    # ------------------------------------------------------------------ keys
    def _bind_keys(self) -> None:
        """Shortcuts on the viewer, Delete and the edit callbacks on the labels layer."""
        hooks, layer = self._project_hooks, self.points_layer
        assert layer is not None
        for key, (_, method) in SHORTCUTS.items():
            hooks.bind_key(self.viewer, key, self._key_handler(method))
        for key in DELETE_KEYS:
            hooks.bind_key(layer, key, lambda _layer: self.delete_point())
        hooks.connect(layer.events.data, self._on_points_data)
        hooks.connect(layer.events.features, self._on_points_features)

    def _key_handler(self, method: str) -> Callable[[Any], None]:
        def handler(_viewer: Any) -> None:
            getattr(self, method)()

        return handler

    def _unbind_keys(self) -> None:
        self._project_hooks.release()

    # ------------------------------------------------------------------ public actions
    @property
    def keypoints(self) -> list[str]:
        """Keypoint names of the open project (config order)."""
        return list(self.state.keypoints) if self.state else []

    @property
    def current_keypoint(self) -> str | None:
        """The keypoint the next click places."""
        return self.state.keypoints[self._current_kp] if self.state else None

    @property
    def current_frame(self) -> int:
        """Index of the frame shown (into the project's images), clamped to the stack."""
        if self.state is None or self.state.n_frames == 0:
            return 0
        step = int(self.viewer.dims.current_step[0])
        return min(max(step, 0), self.state.n_frames - 1)

    @property
    def current_image(self) -> str | None:
        """Image path (CSV index) of the frame shown."""
        return self.state.images[self.current_frame] if self.state and self.state.images else None

    @property
    def dirty(self) -> bool:
        """True while there are changes not yet written to the labels CSV."""
        return self._dirty

    def set_current_keypoint(self, keypoint: str | int) -> None:
        """Make ``keypoint`` (name or index) the one the next click places."""
        if self.state is None:
            return
        k = self.state.keypoints.index(keypoint) if isinstance(keypoint, str) else int(keypoint)
        self._current_kp = k % len(self.state.keypoints)
        if self.keypoint_list.currentRow() != self._current_kp:
            self.keypoint_list.setCurrentRow(self._current_kp)
        for row in range(self.keypoint_list.count()):
            item = self.keypoint_list.item(row)
            font = item.font()
            font.setBold(row == self._current_kp)
            item.setFont(font)
        self._update_feature_defaults()

    def next_keypoint(self) -> None:
        """Select the next keypoint in the config's order (wrapping)."""
        self.set_current_keypoint(self._current_kp + 1)

    def previous_keypoint(self) -> None:
        """Select the previous keypoint in the config's order (wrapping)."""
        self.set_current_keypoint(self._current_kp - 1)

    def go_to_frame(self, frame: int) -> None:
        """Show frame ``frame`` of the project's images."""
        if self.state is not None and self.state.n_frames:
            self.viewer.dims.set_current_step(0, int(frame) % self.state.n_frames)

    def next_frame(self) -> None:
        """Show the next frame (wrapping)."""
        self.go_to_frame(self.current_frame + 1)

    def previous_frame(self) -> None:
        """Show the previous frame (wrapping)."""
        self.go_to_frame(self.current_frame - 1)

    def next_missing_frame(self, step: int = 1) -> int | None:
        """Jump to the next frame (in direction ``step``) with keypoints still to label.

        Returns the frame index, or None (and a message) when every frame is done.
        """
        if self.state is None:
            return None
        self._sync_from_layer()
        frame = self.state.next_incomplete_frame(self.current_frame, step)
        if frame is None:
            show_info("Every frame is labeled.")
            return None
        self.go_to_frame(frame)
        return frame

    def previous_missing_frame(self) -> int | None:
        """Jump to the previous frame with keypoints still to label."""
        return self.next_missing_frame(step=-1)

    def mark_not_visible(self) -> None:
        """Mark the current keypoint not visible on this frame and move to the next one."""
        if self.state is None or not self.state.n_frames:
            return
        frame, k = self.current_frame, self._current_kp
        self._remove_points(frame, k)
        self._sync_from_layer()
        self.state.mark_not_visible(frame, k)
        self._changed()
        self._advance(frame, k)

    def delete_point(self) -> None:
        """Delete the selected points; with none selected, the current keypoint's point on
        this frame (or its "not visible" mark), which becomes the current one to label again.
        """
        if self.state is None or self.points_layer is None:
            return
        selected = sorted(self.points_layer.selected_data)
        if selected:
            self.points_layer.remove(selected)
            return
        frame, k = self.current_frame, self._current_kp
        self._remove_points(frame, k)
        self._sync_from_layer()
        self.state.clear(frame, k)
        self._changed()

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

    # ------------------------------------------------------------------ event handlers
    def _on_points_data(self, event: Any) -> None:
        if self._syncing or self.state is None:
            return
        if event.action == ActionType.ADDED:
            self._on_points_added(event.data_indices)
        elif event.action in (ActionType.CHANGED, ActionType.REMOVED):
            self._sync_from_layer()
            self._changed()

    def _on_points_added(self, indices: tuple[int, ...]) -> None:
        """A click (or paste) added points: each replaces the older point of its keypoint
        on its frame; then the next keypoint still to do becomes current."""
        layer, state = self.points_layer, self.state
        assert layer is not None and state is not None
        n = len(layer.data)
        new = sorted({int(i) % n for i in indices})
        frames = np.rint(layer.data[:, 0]).astype(int)
        if len(new) == 1 and layer.mode == "add" and 0 <= frames[new[0]] < state.n_frames:
            # A click places the current keypoint whatever napari's feature defaults say:
            # selecting a point copies its features into them (and add() selects the new one).
            i = new[0]
            features = layer.features  # the layer's own table, edited in place
            features.loc[i, "keypoint"] = state.keypoints[self._current_kp]
            features.loc[i, "frame"] = frames[i]
            features.loc[i, "image"] = state.images[frames[i]]
            layer.refresh_colors(update_color_mapping=False)
            self._restore_defaults = True  # after add() has selected the point
        kps = self._keypoint_indices()
        outside = [i for i in new if not 0 <= frames[i] < state.n_frames]
        stale = []
        for i in new:
            same = np.flatnonzero((frames == frames[i]) & (kps == kps[i]))
            stale.extend(int(j) for j in same if j != i and j not in new)
        if stale or outside:
            self._syncing = True
            try:
                layer.remove(sorted(set(stale) | set(outside)))
            finally:
                self._syncing = False
        if outside:
            show_info("Points can only be placed on the project's frames.")
        self._sync_from_layer()
        self._changed()
        if new and not outside:
            self._advance(self.current_frame, max(int(kps[new[-1]]), 0))

    def _on_points_features(self, _event: Any = None) -> None:
        # the last event of a click's add(): put back the defaults its selection changed
        if self._restore_defaults:
            self._restore_defaults = False
            self._update_feature_defaults()

    def _advance(self, frame: int, after: int) -> None:
        """Make the next keypoint still undecided on ``frame`` the current one."""
        assert self.state is not None
        nxt = self.state.next_unlabeled_keypoint(frame, after)
        if nxt is not None:
            self.set_current_keypoint(nxt)
        else:
            self._set_status("frame done: press M for the next frame with missing labels")

    def _on_frame_changed(self, _event: Any = None) -> None:
        if self.state is None:
            return
        frame = self.current_frame
        if self.state.n_frames:
            first = self.state.next_unlabeled_keypoint(frame, -1)
            if first is not None:
                self.set_current_keypoint(first)
        self._update_feature_defaults()
        self._refresh_views(labels_changed=False)

    def _on_row_changed(self, row: int) -> None:
        if self.state is not None and row >= 0 and row != self._current_kp:
            self.set_current_keypoint(row)

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

    # ------------------------------------------------------------------ helpers
    def _remove_points(self, frame: int, keypoint: int) -> None:
        """Remove the layer's points of ``keypoint`` on ``frame`` (without side effects)."""
        layer = self.points_layer
        if layer is None or self.state is None or not len(layer.data):
            return
        frames = np.rint(layer.data[:, 0]).astype(int)
        hit = np.flatnonzero((frames == frame) & (self._keypoint_indices() == keypoint))
        if len(hit):
            self._syncing = True
            try:
                layer.remove(list(hit))
            finally:
                self._syncing = False

    def _layer_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frame index, keypoint index and (x, y) of every point of the layer."""
        assert self.state is not None
        layer = self.points_layer
        if layer is None or not len(layer.data):
            return np.zeros(0, int), np.zeros(0, int), np.zeros((0, 2))
        frames = np.rint(layer.data[:, 0]).astype(int)
        return frames, self._keypoint_indices(), layer.data[:, [2, 1]]

    def _keypoint_indices(self) -> np.ndarray:
        """Shape (points,): index of each point's keypoint in the project, -1 if unknown."""
        assert self.state is not None and self.points_layer is not None
        index = {name: i for i, name in enumerate(self.state.keypoints)}
        column = self.points_layer.features["keypoint"]
        if isinstance(column.dtype, pd.CategoricalDtype):  # fast path: map the categories
            lut = np.array([index.get(str(c), -1) for c in column.cat.categories] + [-1])
            return lut[column.cat.codes.to_numpy()]  # code -1 (missing) picks the last entry
        return np.array([index.get(str(n), -1) for n in column], dtype=int)

    def _sync_from_layer(self) -> None:
        """Copy the layer's point positions into the state (not-visible marks stay)."""
        if self.state is None or self.points_layer is None:
            return
        self.state.set_placed(*self._layer_arrays())

    def _layer_differs(self) -> bool:
        """True when the layer holds positions the state does not know yet (e.g. a drag)."""
        if self.state is None or self.points_layer is None:
            return False
        before = self.state.xy.copy()
        self._sync_from_layer()
        return not np.array_equal(before, self.state.xy, equal_nan=True)

    def _changed(self) -> None:
        self._dirty = True
        self._set_status("unsaved changes")
        self._refresh_views()

    def _update_feature_defaults(self) -> None:
        """New points get the current keypoint and frame as features."""
        if self.points_layer is None or self.state is None:
            return
        self.points_layer.feature_defaults = {
            "keypoint": self.state.keypoints[self._current_kp],
            "frame": self.current_frame,
            "image": self.current_image or "",
        }

    def _fill_keypoint_list(self) -> None:
        assert self.state is not None
        self.keypoint_list.blockSignals(True)
        self.keypoint_list.clear()
        colors = keypoint_colors(self.state.keypoints)
        for name in self.state.keypoints:
            pix = QPixmap(12, 12)
            pix.fill(QColor.fromRgbF(*colors[name]))
            self.keypoint_list.addItem(QListWidgetItem(QIcon(pix), name))
        self.keypoint_list.setCurrentRow(self._current_kp)
        self.keypoint_list.blockSignals(False)

    def _refresh_views(self, labels_changed: bool = True) -> None:
        """Update the keypoint list and the counts for the current frame, and the skeleton
        when ``labels_changed`` (a frame step leaves it: every frame's lines are in it)."""
        state = self.state
        if state is None:
            return
        frame = self.current_frame
        for k, name in enumerate(state.keypoints):
            item = self.keypoint_list.item(k)
            if item is None:
                continue
            status = state.status(frame, k) if state.n_frames else KeypointStatus.UNLABELED
            suffix = {
                KeypointStatus.LABELED: "  ✓",
                KeypointStatus.NOT_VISIBLE: "  (not visible)",
                KeypointStatus.UNLABELED: "",
            }[status]
            if item.text() != name + suffix:
                item.setText(name + suffix)
        if state.n_frames:
            self.counts_label.setText(state.counts(frame).text())
            self.frame_label.setText(f"frame {frame + 1}/{state.n_frames}: {state.images[frame]}")
        else:
            self.counts_label.setText("no frames to label")
            self.frame_label.setText("")
        if labels_changed:
            self._draw_skeleton()

    def _draw_skeleton(self) -> None:
        """Put the skeleton of every frame into its Vectors layer (after the labels changed).

        napari shows the current frame's lines, so a frame step costs no skeleton work.
        """
        layer, state = self.skeleton_layer, self.state
        if layer is None or state is None:
            return
        vectors = xy_skeleton_vectors(state.xy, state.keypoints, self.edges)
        if not np.array_equal(vectors, layer.data):
            layer.data = vectors

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
        """Save when the dock widget is hidden or closed."""
        self._save_on_close()
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

    def _save_on_close(self) -> None:
        if self.state is not None:
            self.save(only_if_dirty=True)

    def _release_viewer(self) -> None:
        """Undo every hook into the viewer and its window: the widget is done with them.

        The layers stay in the viewer; nothing the viewer does reaches this widget again.
        """
        self._autosave.stop()
        self._viewer_hooks.release()  # also takes the event filter off the main window
        self._project_hooks.release()
        self._window_filter = None


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
