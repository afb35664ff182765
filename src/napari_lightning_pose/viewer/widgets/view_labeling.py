"""Label views dock: a multi-camera project's views in napari's grid, labeled side by side.

Opening a project (``labeling.views_session``, in a worker) gives each view its frames (the
same synchronised frames in every view, one time slider), its skeleton, the offers from the
other views and its labels, in one view box of the grid each. The labels layer that is
active is edited by the labeling dock's own editor (``label_editing.LabelEditor``: a click
places the current keypoint, the same keys and undo); a press in another view's box (or
choosing its labels layer) moves the editor there. Each view's labels are saved into that
view's CSV by the labeling dock's saver (``label_files.LabelSaver``, one per view's
``LabelSession``): the same locked three-way merge, on Save, every 30 s while there are
unsaved changes, when the dock is hidden and when the window closes.

With the session's calibration, every keypoint labeled in two or more views on the frame
shown is triangulated: its projection is offered to the views that lack it (magenta crosses,
as pre-filled points look: not labels until "Accept offers" takes them into the active view)
and each label's reprojection error (from the other views) is listed, the view furthest off
flagged "(!)" when it is 5 px or more (``views_session.cross_view_offer``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from qtpy.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_lightning_pose.labeling.views_session import (
    CrossViewOffer,
    ViewSessions,
    cross_view_offer,
    offer_for_frame,
    read_view_sessions,
    session_cameras,
)
from napari_lightning_pose.viewer.layer_styles import KeypointsStyle, PredictionSkeletonStyle
from napari_lightning_pose.viewer.layers import points_from_state
from napari_lightning_pose.viewer.widgets.docking import settle_when_shown
from napari_lightning_pose.viewer.widgets.label_editing import LabelEditor
from napari_lightning_pose.viewer.widgets.label_files import CloseFilter, LabelSaver
from napari_lightning_pose.viewer.widgets.prefill import PREFILL_STYLE

#: Seconds between autosaves of views with unsaved changes.
AUTOSAVE_SECONDS = 30.0


def open_views(config: str | Path) -> tuple[ViewSessions, dict[str, Any]]:
    """The project's view sessions and each session's calibrated cameras (no Qt: a worker)."""
    from napari_lightning_pose.io.config import load_config

    vs = read_view_sessions(config)
    cams = session_cameras(load_config(config), vs.views, [s for s, _ in vs.frames])
    if cams:  # load the compiled triangulation here, not on the first frame shown (0.4 s)
        cross_view_offer(next(iter(cams.values())), np.full((len(vs.views), 1, 2), 600.0))
    return vs, cams


class ViewLabelingWidget(QWidget):
    """Label every view of a multi-camera project in the grid; offers across views."""

    def __init__(self, napari_viewer: Any, autosave_seconds: float = AUTOSAVE_SECONDS) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.autosave_seconds = autosave_seconds
        self.savers: dict[str, LabelSaver] = {}
        self._window_filter: CloseFilter | None = None
        self.views: ViewSessions | None = None
        self.cameras: dict[str, Any] = {}
        self.labels: dict[str, Any] = {}
        self.offers: dict[str, Any] = {}
        self.skeletons: dict[str, Any] = {}
        self.editor: LabelEditor | None = None
        self.view: str | None = None
        self.offer: CrossViewOffer | None = None
        self._worker: Any = None

        self.project_edit = QLineEdit()
        self.project_edit.setPlaceholderText("multi-camera project config.yaml")
        self.open_button = QPushButton("Open")
        self.open_button.clicked.connect(lambda: self.load_project(self.project_edit.text()))
        self.keypoint_combo = QComboBox()
        # activated: the user's pick, even of the keypoint shown (to re-place it)
        self.keypoint_combo.activated.connect(self._on_combo)
        self.accept_button = QPushButton("Accept offers")
        self.accept_button.setToolTip("Take the offered points into the active view's labels.")
        self.accept_button.clicked.connect(self.accept_offers)
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(lambda: self.save())
        self.errors = QLabel("")
        self.errors.setWordWrap(True)
        self.status = QLabel("Open a project with data.view_names.")
        self.status.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.project_edit, 1)
        top.addWidget(self.open_button)
        row = QHBoxLayout()
        row.addWidget(QLabel("keypoint"))
        row.addWidget(self.keypoint_combo, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.accept_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(row)
        layout.addLayout(buttons)
        layout.addWidget(self.errors)
        layout.addWidget(self.status)
        layout.addStretch(1)
        settle_when_shown(self, napari_viewer)
        napari_viewer.dims.events.current_step.connect(self._on_step)
        napari_viewer.layers.selection.events.active.connect(self._on_active)

    # ------------------------------------------------------------------ public
    @property
    def busy(self) -> bool:
        """True while a project is read (in a worker)."""
        return self._worker is not None

    def load_project(self, config: str | Path) -> bool:
        """Read every view of ``config`` in a worker, then show them in the grid."""
        if not str(config).strip() or self._worker is not None:
            return False
        self.project_edit.setText(str(config))
        self._run(open_views, self._show, str(config).strip())
        return True

    def save(self, wait: bool = True) -> bool:
        """Save the views with unsaved edits, each into its CSV (its ``LabelSaver``); True
        when every one was written now."""
        done = [saver.save(only_if_dirty=True, wait=wait) for saver in self.savers.values()]
        for view, layer in self.labels.items():  # merges may bring other writers' points
            if view != self.view:
                layer.data, layer.features = points_from_state(self.views.sessions[view].state)
        return all(done)

    @property
    def dirty(self) -> bool:
        """True while a view has changes not yet written to its CSV."""
        return any(saver.dirty for saver in self.savers.values())

    def set_view(self, view: str) -> None:
        """Edit ``view``'s labels: the editor moves to its layer, which becomes active."""
        if self.views is None or view == self.view:
            return
        keypoint = self.editor.current_kp if self.editor is not None else 0
        if self.editor is not None:
            self.editor.sync_from_layer()
            self.editor.release()
            self.savers[self.view].attach(self.views.sessions[self.view], None)
        self.view = view
        layer = self.labels[view]
        self.editor = LabelEditor(
            self.viewer, self.views.sessions[view], layer, self.skeletons[view], self
        )
        self.savers[view].attach(self.views.sessions[view], self.editor)
        self.editor.set_current_keypoint(keypoint, chosen=False)
        if self.viewer.layers.selection.active is not layer:
            self.viewer.layers.selection.active = layer
        layer.mode = "add"
        self.show_progress(self.editor.current_frame)

    def accept_offers(self) -> int:
        """Place the offers of the frame shown in the active view; how many were placed."""
        if self.editor is None or self.offer is None or self.views is None:
            return 0
        v = self.views.views.index(self.view)
        frame = self.editor.current_frame
        found = np.flatnonzero(np.isfinite(self.offer.proposed[v]).all(axis=-1))
        state = self.views.sessions[self.view].state
        for k in found:
            state.xy[frame, k] = self.offer.proposed[v, k]
            state.not_visible[frame, k] = False
        if len(found):
            self.views.sessions[self.view].dirty = True
            self.editor.redraw_points()
            self.refresh_offers()
        self.set_status(f"{self.view}: {len(found)} offered point(s) placed, unsaved.")
        return len(found)

    def refresh_offers(self) -> None:
        """Offers and reprojection errors of the frame shown, from every view's labels."""
        if self.views is None:
            return
        if self.editor is not None:
            self.editor.sync_from_layer()
        frame = int(np.clip(self.viewer.dims.current_step[0], 0, len(self.views.frames) - 1))
        self.offer = offer_for_frame(self.views, frame, self.cameras)
        names = self.views.sessions[self.views.views[0]].state.keypoints
        lines = []
        for v, view in enumerate(self.views.views):
            data = np.empty((0, 3))
            kps: list[str] = []
            if self.offer is not None:
                ks = np.flatnonzero(np.isfinite(self.offer.proposed[v]).all(axis=-1))
                xy = self.offer.proposed[v, ks]
                data = np.column_stack([np.full(len(ks), frame), xy[:, 1], xy[:, 0]])
                kps = [names[k] for k in ks]
                errs = [
                    f"{names[k]} {e:.1f}" + (" (!)" if self.offer.suspect[v, k] else "")
                    for k, e in enumerate(self.offer.error[v])
                    if np.isfinite(e)
                ]
                if errs:
                    lines.append(f"{view}: " + ", ".join(errs))
            layer = self.offers[view]
            layer.data = data
            layer.features = pd.DataFrame({"keypoint": kps})
        if self.offer is None:
            self.errors.setText("No calibration for this session: no offers across views.")
        else:
            self.errors.setText("Reprojection error (px): " + ("; ".join(lines) or "none yet"))

    # ------------------------------------------------------------------ LabelingView
    def show_current_keypoint(self, keypoint: int) -> None:
        """Show the keypoint the next click places."""
        if self.keypoint_combo.currentIndex() != keypoint:
            self.keypoint_combo.blockSignals(True)
            self.keypoint_combo.setCurrentIndex(keypoint)
            self.keypoint_combo.blockSignals(False)

    def show_progress(self, frame: int) -> None:
        """After any change: the frame's counts in the active view and the offers."""
        if self.views is None or self.view is None:
            return
        counts = self.views.sessions[self.view].state.counts(frame)
        session, image = self.views.frames[frame]
        self.set_status(f"{self.view}, {session} {image}: {counts.text()}")
        self.refresh_offers()

    def set_status(self, text: str) -> None:
        """One line of what happened."""
        self.status.setText(text)

    # ---------------------------------------------------------------- internals
    def _run(self, job: Any, done: Any, *args: Any) -> None:
        from napari.qt.threading import create_worker

        self._worker = create_worker(job, *args, _start_thread=False, _ignore_errors=True)
        self._worker.returned.connect(done)
        self._worker.errored.connect(lambda err: self.set_status(f"Failed: {err}"))
        self._worker.finished.connect(self._finished)
        self.open_button.setEnabled(False)
        self.save_button.setEnabled(False)
        self._worker.start()

    def _finished(self) -> None:
        self._worker = None
        self.open_button.setEnabled(True)
        self.save_button.setEnabled(True)

    def _show(self, out: tuple[ViewSessions, dict[str, Any]]) -> None:
        from napari_lightning_pose.viewer.widgets.layer_watch import show_camera_grid

        self.views, self.cameras = out
        for view in self.views.views:
            self.savers[view] = LabelSaver(self, self.set_status, self.autosave_seconds)
            self.savers[view].attach(self.views.sessions[view], None)
        keypoints = self.views.sessions[self.views.views[0]].state.keypoints
        for view in self.views.views:
            self._add_view(view)
        show_camera_grid(self.viewer, 4)
        self.viewer.dims.axis_labels = ("frame", "y", "x")
        self.viewer.dims.set_current_step(0, 0)  # the first frame, not napari's middle one
        if self._on_press not in self.viewer.mouse_drag_callbacks:
            self.viewer.mouse_drag_callbacks.append(self._on_press)
        self.keypoint_combo.blockSignals(True)
        self.keypoint_combo.clear()
        self.keypoint_combo.addItems(keypoints)
        self.keypoint_combo.blockSignals(False)
        for view in self.views.views:  # draw every view's skeleton once
            self.set_view(view)
        self.set_view(self.views.views[0])
        left = len(self.views.left_out)
        note = f" {left} image(s) without all views left out." if left else ""
        calib = "" if self.cameras else " No calibration found: no offers."
        self.set_status(
            f"{len(self.views.views)} views, {len(self.views.frames)} frames.{note}{calib}"
        )

    def _add_view(self, view: str) -> None:
        session, stack = self.views.sessions[view], self.views.stacks[view]
        image = self.viewer.add_image(
            stack, name=f"{view} frames", rgb=stack.rgb, contrast_limits=(0, 255), multiscale=False
        )
        image.metadata["images"] = list(session.state.images)
        size = max(4.0, max(stack.shape[1:3], default=400) / 60)
        skel = PredictionSkeletonStyle(name=f"{view} skeleton", opacity=0.6)
        skel.edge_width = max(1.0, size / 4)
        self.skeletons[view] = self.viewer.add_vectors(
            np.empty((0, 2, 3)), ndim=3, **skel.as_kwargs()
        )
        self.skeletons[view].editable = False
        self.offers[view] = self.viewer.add_points(
            np.empty((0, 3)),
            ndim=3,
            name=f"{view} offers",
            size=size,
            features=pd.DataFrame({"keypoint": pd.Series([], dtype=object)}),
            **PREFILL_STYLE,
        )
        self.offers[view].editable = False
        style = KeypointsStyle(name=f"{view} labels", keypoint_names=session.state.keypoints)
        style.size = size
        data, features = points_from_state(session.state)
        points = self.viewer.add_points(data, ndim=3, features=features, **style.as_kwargs())
        points.metadata.update({"view": view, "csv_path": str(session.labels_path)})
        self.labels[view] = points

    def _save_on_close(self) -> None:
        if self.editor is not None:
            self.editor.sync_from_layer()
        for saver in self.savers.values():
            saver.save_on_close()

    # ------------------------------------------------------------------ closing
    def showEvent(self, event: Any) -> None:
        """Watch the main window so that closing it saves every view first."""
        super().showEvent(event)
        window = self.window()
        if window is not self and self._window_filter is None:
            self._window_filter = CloseFilter(self._save_on_close, window)

    def hideEvent(self, event: Any) -> None:
        """Save the views with unsaved changes when the dock is hidden (no waiting)."""
        self.save(wait=False)
        super().hideEvent(event)

    def closeEvent(self, event: Any) -> None:
        """Save every view, then stop the autosaves and let go of the editor."""
        self._save_on_close()
        for saver in self.savers.values():
            saver.stop()
        if self.editor is not None:
            self.editor.release()
        if self._window_filter is not None:
            self._window_filter.detach()
        super().closeEvent(event)

    def _on_combo(self, index: int) -> None:
        if self.editor is not None and index >= 0:
            self.editor.set_current_keypoint(index)

    def _on_step(self, _event: Any = None) -> None:
        if self.editor is not None:
            self.editor.on_frame_changed()
            self.show_progress(self.editor.current_frame)

    def _on_press(self, viewer: Any, event: Any) -> None:
        """A press in a view's box edits that view: napari gives a grid click to the active
        layer (the viewer's callbacks run first), so its labels layer becomes active."""
        from napari_lightning_pose.viewer.widgets.layer_watch import viewer_grid

        box = getattr(event, "viewbox", None)
        if box is None or self.views is None:
            return
        layers = list(viewer.layers)
        for view, layer in self.labels.items():
            if layer in layers and viewer_grid(viewer).position(
                layers.index(layer), layers
            ) == tuple(box):
                self.set_view(view)
                return

    def _on_active(self, event: Any = None) -> None:
        layer = self.viewer.layers.selection.active
        view = (getattr(layer, "metadata", None) or {}).get("view")
        if view and view in self.labels and self.labels[view] is layer:
            self.set_view(view)
