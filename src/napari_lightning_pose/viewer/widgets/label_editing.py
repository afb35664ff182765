"""Keys, mouse and point editing of the labeling dock: place, move, delete, mark not visible.

``PointEditingMixin`` is the part of ``LabelingWidget`` that turns the user's clicks, drags
and shortcuts on the labels Points layer into ``LabelState`` changes, and keeps the keypoint
list, the counts and the skeleton in step with them. Kept apart from the dock so that each
file holds one concern (the house's ~400-line rule).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from napari.layers import Points, Vectors
from napari.layers.base import ActionType
from napari.utils.notifications import show_info
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import QLabel, QListWidget, QListWidgetItem

from napari_lightning_pose.io.pose_csv import make_pose_frame
from napari_lightning_pose.labeling.state import KeypointStatus, LabelState
from napari_lightning_pose.viewer.layer_styles import keypoint_colors
from napari_lightning_pose.viewer.layers import labels_to_points, xy_skeleton_vectors
from napari_lightning_pose.viewer.widgets.hooks import ViewerHooks

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


class PointEditingMixin:
    """Point editing for ``LabelingWidget``: the shortcuts, the labels layer's callbacks and
    the public actions (keypoint, frame, not visible, delete).

    Uses the dock's attributes below and its ``_set_status``.
    """

    viewer: Any
    state: LabelState | None
    edges: list[tuple[str, str]]
    points_layer: Points | None
    skeleton_layer: Vectors | None
    keypoint_list: QListWidget
    counts_label: QLabel
    frame_label: QLabel
    _project_hooks: ViewerHooks
    _current_kp: int
    _dirty: bool
    _syncing: bool
    _restore_defaults: bool
    _set_status: Callable[[str], None]

    # ------------------------------------------------------------------ layer
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
