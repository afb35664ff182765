"""Cameras dock: a multi-camera result in napari's grid, and its 3-D skeleton in a 3-D view.

"Open" reads a ``smooth --cameras`` output folder (``camera_layers``) in a worker and adds,
camera after camera, the video with its smoothed keypoints and tails coloured by posterior
SD; the grid puts each camera in its own view box on the one time slider, and the trace panel
and the outlier queue pick the cameras up from the layers. "Show 3-D" opens the 3-D keypoints
and skeleton of ``3d.eks.csv`` in a second viewer shown in 3-D (a 2-D video cannot share a
3-D canvas), its time slider tied to this one's both ways.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_lightning_pose.viewer.camera_layers import (
    GRID_STRIDE,
    CameraSession,
    camera_grid_layer_data,
    find_camera_session,
    points_3d_layer_data,
    project_skeleton,
    read_track_3d,
)
from napari_lightning_pose.viewer.widgets.docking import settle_when_shown


def load_camera_layers(
    out_dir: str | Path, videos: Mapping[str, str | Path] | None = None
) -> tuple[CameraSession, list[Any]]:
    """Find the session in ``out_dir`` and build its grid layers (napari layers, no Qt);
    ``videos`` (camera -> video) when known, else found by name (``find_camera_session``)."""
    from napari_lightning_pose.viewer.prediction_layers import build_layers

    session = find_camera_session(out_dir, videos)
    return session, build_layers(camera_grid_layer_data(session))


def add_camera_layers(viewer: Any, layers: list[Any]) -> None:
    """Add a result's camera layers to ``viewer`` and show them in its grid, one camera each;
    an earlier result's camera layers go (one result per grid: a rerun replaces it)."""
    from napari_lightning_pose.viewer.widgets.layer_watch import show_camera_grid, watch_layers
    from napari_lightning_pose.viewer.widgets.staging import remove_layers

    watch_layers(viewer)
    remove_layers(viewer, [layer for layer in viewer.layers if GRID_STRIDE in layer.metadata])
    for layer in layers:
        viewer.add_layer(layer)
    if layers:
        show_camera_grid(viewer, int(layers[0].metadata[GRID_STRIDE]))


def open_camera_session(viewer: Any, out_dir: str | Path) -> CameraSession:
    """:func:`load_camera_layers` then :func:`add_camera_layers` (for scripts and tests)."""
    session, layers = load_camera_layers(out_dir)
    add_camera_layers(viewer, layers)
    return session


def link_time(a: Any, b: Any) -> None:
    """Tie the time slider (axis 0) of viewers ``a`` and ``b``: moving one moves the other."""

    def follow(source: Any, target_ref: Any) -> None:
        target = target_ref()
        if target is None or not source.dims.current_step or not target.dims.current_step:
            return
        frame = source.dims.current_step[0]
        if target.dims.current_step[0] != frame:
            target.dims.set_current_step(0, frame)

    ref_a, ref_b = weakref.ref(a), weakref.ref(b)
    a.dims.events.current_step.connect(lambda _e: follow(a, ref_b))
    b.dims.events.current_step.connect(lambda _e: follow(b, ref_a))


def build_3d_layers(session: CameraSession) -> list[Any]:
    """The 3-D keypoints and skeleton of ``session`` as napari layers (no Qt: a worker)."""
    from napari_lightning_pose.viewer.prediction_layers import build_layers

    if session.table_3d is None:
        raise FileNotFoundError(
            f"{session.out_dir}: no 3d.eks.csv; smooth with --calibration to get one."
        )
    track = read_track_3d(session.table_3d)
    skeleton = project_skeleton(session, track.keypoints)
    return build_layers(points_3d_layer_data(track, skeleton))


def add_3d_layers(viewer: Any, layers: list[Any], follow: Any = None) -> Any:
    """Add the 3-D layers to ``viewer``, show it in 3-D with its legend, tie it to ``follow``."""
    from napari_lightning_pose.viewer.widgets.legend import UncertaintyLegend

    for layer in layers:
        viewer.add_layer(layer)
    viewer.dims.axis_labels = ("frame", "z", "y", "x")
    viewer.dims.ndisplay = 3
    scene = getattr(viewer, "scene", None)  # napari 0.9 moved the overlays there
    axes = scene.overlays.axes if hasattr(scene, "overlays") else viewer.axes
    axes.visible = True  # which way is up, in a view without a video
    viewer.reset_view()
    if follow is not None:
        link_time(follow, viewer)
        if follow.dims.current_step:
            viewer.dims.set_current_step(0, follow.dims.current_step[0])
    window = getattr(viewer, "window", None)
    if window is not None:
        legend = UncertaintyLegend(viewer)
        window.add_dock_widget(legend, name="Uncertainty legend", area="bottom")
    return viewer


def show_3d(session: CameraSession, viewer: Any, follow: Any = None) -> Any:
    """:func:`build_3d_layers` then :func:`add_3d_layers` (for scripts and tests)."""
    return add_3d_layers(viewer, build_3d_layers(session), follow)


class CamerasWidget(QWidget):
    """Open a multi-camera result in the grid; show its 3-D skeleton in a tied 3-D viewer."""

    def __init__(self, napari_viewer: Any = None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session: CameraSession | None = None
        self.viewer_3d: Any = None
        self._loader: Any = None

        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("smooth --cameras output folder")
        browse = QPushButton("...")
        browse.setMaximumWidth(32)
        browse.clicked.connect(self._browse)
        self.open_button = QPushButton("Open in grid")
        self.open_button.clicked.connect(lambda: self.open(self.folder_edit.text().strip()))
        self.show_3d_button = QPushButton("Show 3-D")
        self.show_3d_button.setEnabled(False)
        self.show_3d_button.clicked.connect(lambda: self.show_3d())
        self.status = QLabel("Open the folder `smooth --cameras ... --out-dir DIR` wrote.")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.show_3d_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addStretch(1)
        settle_when_shown(self, napari_viewer)

    @property
    def busy(self) -> bool:
        """True while a result or its 3-D table is read (in a worker)."""
        return self._loader is not None

    def open(self, out_dir: str | Path) -> bool:
        """Read the result in ``out_dir`` in a worker, then add it to the grid."""
        from napari.qt.threading import create_worker

        if not str(out_dir) or self._loader is not None:
            return False
        self.folder_edit.setText(str(out_dir))
        self.open_button.setEnabled(False)
        self.status.setText(f"Reading {Path(out_dir).name}...")
        self._loader = create_worker(
            load_camera_layers, out_dir, _start_thread=False, _ignore_errors=True
        )
        self._loader.returned.connect(self._loaded)
        self._loader.errored.connect(lambda err: self.status.setText(f"Not opened: {err}"))
        self._loader.finished.connect(self._done)
        self._loader.start()
        return True

    def show_3d(self, viewer: Any = None) -> bool:
        """Read the 3-D table in a worker, then show it in ``viewer`` (default: a new napari
        window), its time slider tied to this one's (``viewer_3d`` once shown)."""
        from napari.qt.threading import create_worker

        if self.session is None or self.session.table_3d is None:
            self.status.setText("No 3-D table: smooth the cameras with --calibration.")
            return False
        if self._loader is not None:
            return False
        title = f"3-D: {self.session.out_dir.name}"
        self.show_3d_button.setEnabled(False)
        self._loader = create_worker(
            build_3d_layers, self.session, _start_thread=False, _ignore_errors=True
        )
        self._loader.returned.connect(lambda layers: self._show_3d(layers, viewer, title))
        self._loader.errored.connect(lambda err: self.status.setText(f"No 3-D view: {err}"))
        self._loader.finished.connect(self._done)
        self._loader.start()
        return True

    def _show_3d(self, layers: list[Any], viewer: Any, title: str) -> None:
        if viewer is None:
            import napari

            viewer = napari.Viewer(title=title)
        self.viewer_3d = add_3d_layers(viewer, layers, follow=self.viewer)

    def _loaded(self, out: tuple[CameraSession, list[Any]]) -> None:
        session, layers = out
        self.session = session
        if self.viewer is not None:
            add_camera_layers(self.viewer, layers)
        videos = "with videos" if session.videos else "no videos found (keypoints only)"
        has_3d = "; 3-D table found" if session.table_3d else ""
        names = ", ".join(session.cameras)
        self.status.setText(f"{len(session.cameras)} cameras ({names}), {videos}{has_3d}.")
        self.show_3d_button.setEnabled(session.table_3d is not None)

    def _done(self) -> None:
        self._loader = None
        self.open_button.setEnabled(True)
        self.show_3d_button.setEnabled(self.session is not None and bool(self.session.table_3d))

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "smooth --cameras output folder")
        if folder:
            self.open(folder)
