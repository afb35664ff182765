"""Steer the smoother dock: a smoothing slider, drag-a-point corrections, save, export.

Loads an ensemble (the members' CSVs behind a smoothed layer, or given to :meth:`load`)
into ``ensemble.steer.SteerableSmoother`` and shows the result as its own layers (tails,
skeleton, keypoints in uncertainty colours, named ``<video> steered``) and in the trace
panel. Moving the global slider (log scale) or a keypoint's factor re-runs EKS at once (tens
of ms for 10,000 frames, ``benchmarks/bench_steer.py``; slider moves are coalesced so the
GUI never queues stale work). Dragging a keypoint of the steered layer (select mode) enters
it as a near-certain observation: the trajectory re-fits around it. "Save corrections"
writes them as confirmed labels (``qc.refine.save_corrections``); "Export video" writes a
labeled mp4 in a worker thread (``viewer.video_export``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from napari_lightning_pose.errors import LightningPoseInputError

#: Global slider range, log10 of the smoothing parameter (px^2 per frame).
LOG_S_RANGE = (-2.0, 3.0)
#: Per-keypoint factor range, log10.
LOG_FACTOR_RANGE = (-2.0, 2.0)
TICKS = 100


def _to_log(tick: int, lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    return lo + (hi - lo) * tick / TICKS


def _to_tick(log_value: float, lo_hi: tuple[float, float]) -> int:
    lo, hi = lo_hi
    return round(TICKS * (min(max(log_value, lo), hi) - lo) / (hi - lo))


class SteerWidget(QWidget):
    """Re-smooth live, correct points by dragging them, save corrections, export a video."""

    def __init__(self, napari_viewer: Any = None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.steer: Any = None
        self.result: Any = None
        self.track: Any = None
        self.members: list[Any] = []
        self.layers: dict[str, Any] = {}
        self.factors: dict[str, float] = {}
        self.video: Path | None = None
        self.project: Path | None = None
        self.skeleton: list[list[str]] = []
        self.worker: Any = None
        self._updating = False
        self.n_smooths = 0

        self.source = QLabel("No ensemble loaded: open smoothed predictions with members.")
        self.source.setWordWrap(True)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, TICKS)
        self.slider.setValue(_to_tick(1.0, LOG_S_RANGE))
        self.slider.valueChanged.connect(self._schedule)
        self.s_label = QLabel("")
        self.keypoint_combo = QComboBox()
        self.keypoint_combo.currentTextChanged.connect(self._show_factor)
        self.factor_slider = QSlider(Qt.Orientation.Horizontal)
        self.factor_slider.setRange(0, TICKS)
        self.factor_slider.setValue(_to_tick(0.0, LOG_FACTOR_RANGE))
        self.factor_slider.valueChanged.connect(self._on_factor)
        self.factor_label = QLabel("x1")
        self.save_button = QPushButton("Save corrections as labels")
        self.save_button.clicked.connect(self.save_corrections)
        self.export_button = QPushButton("Export video...")
        self.export_button.clicked.connect(lambda: self.export_video())
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)  # coalesce slider moves: one re-smooth per event-loop turn
        self._timer.timeout.connect(self.resmooth)
        self._pending: set[int] = set()
        self._drag_timer = QTimer(self)
        self._drag_timer.setSingleShot(True)
        self._drag_timer.setInterval(150)  # a drag emits a change per mouse move
        self._drag_timer.timeout.connect(self.apply_drag)

        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.slider, 1)
        row.addWidget(self.s_label)
        form.addRow("smoothing", row)
        form.addRow("keypoint", self.keypoint_combo)
        frow = QHBoxLayout()
        frow.addWidget(self.factor_slider, 1)
        frow.addWidget(self.factor_label)
        form.addRow("its factor", frow)
        layout = QVBoxLayout(self)
        layout.addWidget(self.source)
        layout.addLayout(form)
        layout.addWidget(QLabel("Drag a keypoint (select mode) to correct it."))
        layout.addWidget(self.save_button)
        layout.addWidget(self.export_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch(1)

    # ------------------------------------------------------------------ public
    @property
    def smoothing(self) -> float:
        """The global smoothing parameter the slider shows."""
        return 10 ** _to_log(self.slider.value(), LOG_S_RANGE)

    def load(
        self,
        member_csvs: list[str | Path],
        views: Any = None,
        image_size: tuple[int, int] | None = None,
        video: str | Path | None = None,
        project: str | Path | None = None,
        skeleton: list[list[str]] = (),
    ) -> None:
        """Load the ensemble and show it smoothed at the slider's value."""
        from napari_lightning_pose.ensemble.steer import SteerableSmoother
        from napari_lightning_pose.viewer.prediction_layers import read_pose_track

        self.steer = SteerableSmoother(member_csvs, views=views, image_size=image_size)
        self.members = [read_pose_track(m) for m in member_csvs]
        self.video = Path(video) if video else None
        self.project = Path(project) if project else None
        self.skeleton = [list(e) for e in skeleton]
        self.factors = {}
        self.keypoint_combo.blockSignals(True)
        self.keypoint_combo.clear()
        self.keypoint_combo.addItems(self.steer.keypoints)
        self.keypoint_combo.blockSignals(False)
        self.source.setText(
            f"{len(member_csvs)} members, {self.steer.ens.n_frames} frames, "
            f"{len(self.steer.keypoints)} keypoints"
        )
        self.resmooth()

    def set_smoothing(self, s: float) -> None:
        """Move the global slider to ``s`` (re-smooths)."""
        self.slider.setValue(_to_tick(math.log10(s), LOG_S_RANGE))

    def set_factor(self, keypoint: str, factor: float) -> None:
        """Set one keypoint's smoothing factor (re-smooths)."""
        self.keypoint_combo.setCurrentText(keypoint)
        self.factor_slider.setValue(_to_tick(math.log10(factor), LOG_FACTOR_RANGE))

    def resmooth(self) -> None:
        """Re-run EKS at the current values and update the layers and the trace panel."""
        if self.steer is None:
            return
        from napari_lightning_pose.ensemble.steer import per_keypoint_smoothing
        from napari_lightning_pose.viewer.prediction_layers import pose_track_from_frame

        s = self.smoothing
        self.s_label.setText(f"s = {s:.3g}")
        self.result = self.steer.smooth(
            per_keypoint_smoothing(s, self.factors, self.steer.keypoints)
        )
        self.track = pose_track_from_frame(self.result.frame)
        self.n_smooths += 1
        self._show_layers()
        from napari_lightning_pose.viewer.widgets.outliers import find_dock
        from napari_lightning_pose.viewer.widgets.traces import TracePanel

        panel = find_dock(self, TracePanel)
        if panel is not None:
            panel.set_tracks(self.track, self.members)

    def correct(self, frame: int, keypoint: str, x: float, y: float) -> bool:
        """Enter a correction and re-smooth; False (message shown) when it is refused."""
        try:
            self.steer.correct(frame, keypoint, x, y)
        except LightningPoseInputError as err:
            self.status.setText(str(err))
            self._show_layers()  # put the dragged point back
            return False
        self.status.setText(f"{len(self.steer.corrections)} correction(s); not saved yet.")
        self.resmooth()
        return True

    def save_corrections(self) -> bool:
        """Write the corrections as confirmed labels of the project."""
        from napari_lightning_pose.qc.refine import save_corrections

        if self.steer is None or not self.steer.corrections:
            self.status.setText("No corrections to save: drag a keypoint first.")
            return False
        if self.project is None or self.video is None:
            self.status.setText("Saving needs the project and the video (load with both).")
            return False
        result = save_corrections(
            self.project, self.video, list(self.steer.corrections.values()), self.result.frame
        )
        self.status.setText(
            f"Saved {len(self.steer.corrections)} correction(s) as labels "
            f"({len(result.added)} new frames). " + " ".join(result.messages)
        )
        return True

    def export_video(self, out: str | Path | None = None) -> bool:
        """Write the steered result over the video as an mp4 in a worker thread."""
        from napari.qt.threading import create_worker

        from napari_lightning_pose.viewer.video_export import iter_export_video

        if self.track is None or self.video is None:
            self.status.setText("Export needs a loaded ensemble and its video.")
            return False
        if out is None:
            from qtpy.QtWidgets import QFileDialog

            out, _ = QFileDialog.getSaveFileName(self, "Export video", "", "mp4 (*.mp4)")
            if not out:
                return False
        self.worker = create_worker(
            iter_export_video, self.video, self.track, out, _start_thread=False
        )
        self.worker.yielded.connect(lambda ev: self._progress(*ev.progress()))
        self.worker.returned.connect(lambda p: self.status.setText(f"Wrote {p}"))
        self.worker.errored.connect(lambda err: self.status.setText(f"Export failed: {err}"))
        self.worker.finished.connect(self._export_done)
        self.export_button.setEnabled(False)
        self.worker.start()
        return True

    # ---------------------------------------------------------------- internals
    def _export_done(self) -> None:
        self.worker = None
        self.export_button.setEnabled(True)

    def _progress(self, done: int, total: int | None) -> None:
        self.progress.setMaximum(int(total or 0))
        self.progress.setValue(int(done))

    def _schedule(self, _value: int = 0) -> None:
        self._timer.start()

    def _show_factor(self, name: str) -> None:
        factor = self.factors.get(name, 1.0)
        self.factor_slider.blockSignals(True)
        self.factor_slider.setValue(_to_tick(math.log10(factor), LOG_FACTOR_RANGE))
        self.factor_slider.blockSignals(False)
        self.factor_label.setText(f"x{factor:.3g}")

    def _on_factor(self, tick: int) -> None:
        name = self.keypoint_combo.currentText()
        if not name:
            return
        self.factors[name] = 10 ** _to_log(tick, LOG_FACTOR_RANGE)
        self.factor_label.setText(f"x{self.factors[name]:.3g}")
        self._schedule()

    def _show_layers(self) -> None:
        """Create the steered layers once, then only swap their data."""
        from napari_lightning_pose.viewer.prediction_layers import prediction_layer_data

        if self.viewer is None or self.track is None:
            return
        stem = self.video.stem if self.video else "ensemble"
        self._updating = True
        try:
            for data, kwargs, kind in prediction_layer_data(
                self.track, self.skeleton, name=f"{stem} steered"
            ):
                layer = self.layers.get(kind)
                if layer is None or layer not in self.viewer.layers:
                    kwargs["metadata"] = {**kwargs.get("metadata", {}), "kind": "steered"}
                    layer = getattr(self.viewer, f"add_{kind}")(data, **kwargs)
                    self.layers[kind] = layer
                    if kind == "points":
                        layer.events.data.connect(self._on_points_data)
                elif kind == "points":
                    layer.selected_data = set()
                    layer.data = data
                    layer.features = kwargs["features"]
                    layer.refresh_colors(update_color_mapping=False)
                elif kind == "tracks":
                    color_by = kwargs.get("color_by", layer.color_by)
                    layer.color_by = "track_id"  # new data drops the old features first
                    layer.data = data
                    layer.features = kwargs["features"]
                    layer.color_by = color_by
                else:
                    layer.data = data
        finally:
            self._updating = False

    def _on_points_data(self, event: Any) -> None:
        """Points of the steered layer moved: note them; applied once the drag is over."""
        from napari.layers.base import ActionType

        if self._updating or getattr(event, "action", None) != ActionType.CHANGED:
            return
        self._pending.update(int(i) for i in (getattr(event, "data_indices", ()) or ()))
        self._drag_timer.start()

    def apply_drag(self) -> None:
        """Enter every point moved since the last call as a correction (after the drag)."""
        from qtpy.QtWidgets import QApplication

        if QApplication.mouseButtons() != Qt.MouseButton.NoButton:
            self._drag_timer.start()  # still dragging
            return
        layer = self.layers.get("points")
        pending, self._pending = sorted(self._pending), set()
        if layer is None or not pending:
            return
        moved = []
        for i in pending:
            frame, y, x = (float(v) for v in layer.data[i])
            moved.append((round(frame), str(layer.features["keypoint"].iloc[i]), x, y))
        refused = []
        for frame, keypoint, x, y in moved:
            try:
                self.steer.correct(frame, keypoint, x, y)
            except LightningPoseInputError as err:
                refused.append(str(err))
        self.status.setText(
            " ".join([*refused, f"{len(self.steer.corrections)} correction(s); not saved yet."])
        )
        self.resmooth()
