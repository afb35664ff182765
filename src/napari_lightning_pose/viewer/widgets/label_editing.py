"""The labeling dock's editor: clicks, drags and keys on the labels layer become label edits.

A :class:`LabelEditor` is bound to the labels Points layer and the skeleton Vectors layer of
one open project (``labeling.session.LabelSession``): it places, moves and deletes points,
marks keypoints not visible, chooses the keypoint the next click places and keeps the
session's ``LabelState`` and the skeleton in step with the layer. What the user reads (the
keypoint list, the counts, the status line) belongs to the dock, which the editor tells
through a :class:`LabelingView`. Undo and redo are ``labeling.edit_history``, the keys
``label_keys``; the layer's points are read and written with ``viewer.layers``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from napari.layers import Points, Vectors
from napari.layers.base import ActionType
from napari.utils.notifications import show_info

from napari_lightning_pose.labeling.edit_history import EditHistory
from napari_lightning_pose.labeling.session import LabelSession
from napari_lightning_pose.labeling.state import LabelState
from napari_lightning_pose.viewer.layers import (
    LABELS_BASE,
    keypoint_indices,
    labels_base,
    placed_points,
    points_from_state,
    replaced_points,
    xy_skeleton_vectors,
)
from napari_lightning_pose.viewer.widgets.hooks import ViewerHooks
from napari_lightning_pose.viewer.widgets.label_keys import bind_label_keys

#: Said when a click on a frame whose keypoints are all decided places nothing.
FRAME_DONE = (
    "frame done: a click places nothing here. To re-place a keypoint, choose it in the list "
    "(or Up / Down) and click; M goes to the next frame with missing labels"
)


class LabelingView(Protocol):
    """What the editor tells the dock, which shows it."""

    def show_current_keypoint(self, keypoint: int) -> None:
        """Highlight ``keypoint`` (an index) as the one the next click places."""

    def show_progress(self, frame: int) -> None:
        """Show each keypoint's status on ``frame`` and the counts (after any change)."""

    def set_status(self, text: str) -> None:
        """Show one line of status ("unsaved changes", "frame done: ...")."""


class LabelEditor:
    """Edits of one open project's labels through its Points layer; see module docstring.

    Parameters
    ----------
    viewer
        The napari viewer (its frame slider and key bindings).
    session
        The open project's labels (state and unsaved-changes flag).
    points_layer, skeleton_layer
        The labels layer (features ``keypoint``, ``frame``, ``image``) and the skeleton's
        Vectors layer, both added by the dock. ``points_layer`` becomes None when the user
        deletes it.
    view
        The dock, told what to show.
    """

    def __init__(
        self,
        viewer: Any,
        session: LabelSession,
        points_layer: Points,
        skeleton_layer: Vectors,
        view: LabelingView,
    ) -> None:
        self.viewer = viewer
        self.session = session
        self.points_layer: Points | None = points_layer
        self.skeleton_layer: Vectors | None = skeleton_layer
        self.view = view
        self.current_kp = 0
        #: (frame, keypoint) the user chose (list, Up / Down) on the frame shown: only then
        #: does a click replace a keypoint that is already placed or marked not visible
        self.chosen: tuple[int, int] | None = None
        self.history = EditHistory(session.state)
        self._syncing = False  # the editor itself changes the layer: not a user edit
        self._restore_defaults = False
        self._hooks = ViewerHooks()  # key bindings and layer callbacks, released at close
        bind_label_keys(self._hooks, viewer, points_layer, self)
        self._hooks.connect(points_layer.events.data, self._on_points_data)
        self._hooks.connect(points_layer.events.features, self._on_points_features)
        self.update_feature_defaults()

    @property
    def state(self) -> LabelState:
        """The labels being edited."""
        return self.session.state

    def release(self) -> None:
        """Unbind the keys and the layer callbacks (the project closes)."""
        self._hooks.release()

    # ------------------------------------------------------------------ layer
    def redraw_points(self) -> None:
        """Put the state's positions into the Points layer (after a merge brought changes)."""
        layer = self.points_layer
        if layer is None:
            return
        data, features = points_from_state(self.state)
        self._syncing = True
        try:
            layer.selected_data = set()
            layer.data = data
            layer.features = features
            layer.refresh_colors(update_color_mapping=False)
        finally:
            self._syncing = False
        self.update_feature_defaults()
        self._refresh_views()

    def store_base(self) -> None:
        """Give the layer the labels as last read or written, the base of File > Save's merge."""
        if self.points_layer is not None:
            self.points_layer.metadata[LABELS_BASE] = labels_base(
                self.session.base, self.state.images, self.state.keypoints
            )

    # ------------------------------------------------------------------ public actions
    @property
    def current_keypoint(self) -> str:
        """The keypoint the next click places."""
        return self.state.keypoints[self.current_kp]

    @property
    def current_frame(self) -> int:
        """Index of the frame shown (into the project's images), clamped to the stack."""
        if self.state.n_frames == 0:
            return 0
        step = int(self.viewer.dims.current_step[0])
        return min(max(step, 0), self.state.n_frames - 1)

    @property
    def current_image(self) -> str | None:
        """Image path (CSV index) of the frame shown."""
        return self.state.images[self.current_frame] if self.state.images else None

    def set_current_keypoint(self, keypoint: str | int, chosen: bool = True) -> None:
        """Make ``keypoint`` (name or index) the one the next click places.

        ``chosen``: the user picked it (list, Up / Down, a call from outside), so a click on
        this frame may replace its position; the dock moving on by itself passes False.
        """
        k = self.state.keypoints.index(keypoint) if isinstance(keypoint, str) else int(keypoint)
        self.current_kp = k % len(self.state.keypoints)
        self.chosen = (self.current_frame, self.current_kp) if chosen else None
        self.view.show_current_keypoint(self.current_kp)
        self.update_feature_defaults()

    def next_keypoint(self) -> None:
        """Select the next keypoint in the config's order (wrapping)."""
        self.set_current_keypoint(self.current_kp + 1)

    def previous_keypoint(self) -> None:
        """Select the previous keypoint in the config's order (wrapping)."""
        self.set_current_keypoint(self.current_kp - 1)

    # ------------------------------------------------------------------ undo / redo
    def _record(self) -> None:
        """Note this edit in the history (a drag, many moves of one press of the mouse
        button, is one step)."""
        from qtpy.QtCore import Qt
        from qtpy.QtWidgets import QApplication

        pressed = QApplication.mouseButtons() != Qt.MouseButton.NoButton
        self.history.record(self.state, button_held=pressed)

    def undo(self) -> bool:
        """Take back the last labeling action of the session (a click, a drag, a delete, a
        "not visible" mark); False when there is none."""
        return self._step(self.history.undo, "undone")

    def redo(self) -> bool:
        """Do again what :meth:`undo` took back; False when there is none."""
        return self._step(self.history.redo, "redone")

    def _step(self, step: Callable[[LabelState], bool], word: str) -> bool:
        self.sync_from_layer()
        if not step(self.state):
            self.view.set_status(f"nothing to be {word}")
            return False
        self.redraw_points()
        self.session.dirty = True
        self.view.set_status(f"{word}: unsaved changes (Ctrl+Z undo, Ctrl+Shift+Z redo)")
        return True

    def go_to_frame(self, frame: int) -> None:
        """Show frame ``frame`` of the project's images."""
        if self.state.n_frames:
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
        self.sync_from_layer()
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
        if not self.state.n_frames:
            return
        frame, k = self.current_frame, self.current_kp
        self._remove_points(frame, k)
        self.sync_from_layer()
        self.state.mark_not_visible(frame, k)
        self._changed()
        self._advance(frame, k)

    def delete_point(self) -> None:
        """Delete the selected points; with none selected, the current keypoint's point on
        this frame (or its "not visible" mark), which becomes the current one to label again.
        """
        if self.points_layer is None:
            return
        selected = sorted(self.points_layer.selected_data)
        if selected:
            self.points_layer.remove(selected)
            return
        frame, k = self.current_frame, self.current_kp
        self._remove_points(frame, k)
        self.sync_from_layer()
        self.state.clear(frame, k)
        self._changed()

    # ------------------------------------------------------------------ event handlers
    def _on_points_data(self, event: Any) -> None:
        if self._syncing:
            return
        if event.action == ActionType.ADDED:
            self._on_points_added(event.data_indices)
        elif event.action in (ActionType.CHANGED, ActionType.REMOVED):
            self.sync_from_layer()
            self._changed()

    def _on_points_added(self, indices: tuple[int, ...]) -> None:
        """A click (or paste) added points: each replaces the older point of its keypoint
        on its frame; then the next keypoint still to do becomes current."""
        layer, state = self.points_layer, self.state
        assert layer is not None
        n = len(layer.data)
        new = sorted({int(i) % n for i in indices})
        frames = np.rint(layer.data[:, 0]).astype(int)
        if len(new) == 1 and layer.mode == "add" and 0 <= frames[new[0]] < state.n_frames:
            i = new[0]
            k, frame = self.current_kp, int(frames[i])
            if state.decided()[frame, k] and self.chosen != (frame, k):
                # the dock chose this keypoint by itself (a finished frame): a stray click
                # must not move a label; the user chooses the keypoint to re-place it
                self._remove_quietly([i])
                self.view.set_status(FRAME_DONE)
                return
            # A click places the current keypoint whatever napari's feature defaults say:
            # selecting a point copies its features into them (and add() selects the new one).
            features = layer.features  # the layer's own table, edited in place
            features.loc[i, "keypoint"] = state.keypoints[self.current_kp]
            features.loc[i, "frame"] = frames[i]
            features.loc[i, "image"] = state.images[frames[i]]
            layer.refresh_colors(update_color_mapping=False)
            self._restore_defaults = True  # after add() has selected the point
        kps = self._keypoint_indices()
        stale, outside = replaced_points(frames, kps, new, state.n_frames)
        if stale or outside:
            self._remove_quietly(sorted(set(stale) | set(outside)))
        if outside:
            show_info("Points can only be placed on the project's frames.")
        self.sync_from_layer()
        self._changed()
        if new and not outside:
            self._advance(self.current_frame, max(int(kps[new[-1]]), 0))

    def _on_points_features(self, _event: Any = None) -> None:
        # the last event of a click's add(): put back the defaults its selection changed
        if self._restore_defaults:
            self._restore_defaults = False
            self.update_feature_defaults()

    def _advance(self, frame: int, after: int) -> None:
        """Make the next keypoint still undecided on ``frame`` the current one."""
        nxt = self.state.next_unlabeled_keypoint(frame, after)
        if nxt is not None:
            self.set_current_keypoint(nxt, chosen=False)
        else:
            self.view.set_status(FRAME_DONE)

    def on_frame_changed(self) -> None:
        """The viewer shows another frame: its first keypoint still to do becomes current."""
        frame = self.current_frame
        self.chosen = None  # a choice holds for the frame it was made on
        if self.state.n_frames:
            first = self.state.next_unlabeled_keypoint(frame, -1)
            if first is not None:
                self.set_current_keypoint(first, chosen=False)
            else:
                self.view.set_status(FRAME_DONE)
        self.update_feature_defaults()
        self._refresh_views(labels_changed=False)

    # ------------------------------------------------------------------ helpers
    def _remove_points(self, frame: int, keypoint: int) -> None:
        """Remove the layer's points of ``keypoint`` on ``frame`` (without side effects)."""
        layer = self.points_layer
        if layer is None or not len(layer.data):
            return
        frames = np.rint(layer.data[:, 0]).astype(int)
        hit = np.flatnonzero((frames == frame) & (self._keypoint_indices() == keypoint))
        if len(hit):
            self._remove_quietly(list(hit))

    def _remove_quietly(self, indices: list[int]) -> None:
        """Remove points ``indices`` of the layer: the editor's own change, not a user edit."""
        assert self.points_layer is not None
        self._syncing = True
        try:
            self.points_layer.remove(indices)
        finally:
            self._syncing = False

    def _keypoint_indices(self) -> np.ndarray:
        """Shape (points,): index of each point's keypoint in the project, -1 if unknown."""
        assert self.points_layer is not None
        return keypoint_indices(self.points_layer.features["keypoint"], self.state.keypoints)

    def sync_from_layer(self) -> None:
        """Copy the layer's point positions into the state (not-visible marks stay)."""
        layer = self.points_layer
        if layer is None:
            return
        self.state.set_placed(*placed_points(layer.data, layer.features, self.state.keypoints))

    def layer_differs(self) -> bool:
        """True when the layer holds positions the state does not know yet (e.g. a drag)."""
        if self.points_layer is None:
            return False
        before = self.state.xy.copy()
        self.sync_from_layer()
        return not np.array_equal(before, self.state.xy, equal_nan=True)

    def _changed(self) -> None:
        self._record()
        self.session.dirty = True
        self.view.set_status("unsaved changes")
        self._refresh_views()

    def update_feature_defaults(self) -> None:
        """New points get the current keypoint and frame as features."""
        if self.points_layer is None:
            return
        self.points_layer.feature_defaults = {
            "keypoint": self.state.keypoints[self.current_kp],
            "frame": self.current_frame,
            "image": self.current_image or "",
        }

    def _refresh_views(self, labels_changed: bool = True) -> None:
        """Have the dock show the current frame's progress, and redraw the skeleton when
        ``labels_changed`` (a frame step leaves it: every frame's lines are in it)."""
        self.view.show_progress(self.current_frame)
        if labels_changed:
            self.draw_skeleton()

    def draw_skeleton(self) -> None:
        """Put the skeleton of every frame into its Vectors layer (after the labels changed).

        napari shows the current frame's lines, so a frame step costs no skeleton work.
        """
        layer, state = self.skeleton_layer, self.state
        if layer is None:
            return
        vectors = xy_skeleton_vectors(state.xy, state.keypoints, self.session.edges)
        if not np.array_equal(vectors, layer.data):
            layer.data = vectors
