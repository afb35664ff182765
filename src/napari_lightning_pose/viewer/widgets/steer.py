"""Steer the smoother dock: a smoothing slider, drag-a-point corrections, save, export.

Loads an ensemble into ``ensemble.steer.SteerableSmoother`` and shows the result as its own
layers (tails, skeleton, keypoints in uncertainty colours, named ``<video> steered``) and in
the trace panel. The ensemble is found from what is open: a smoothed layer in the viewer (as
Predict + smooth or the predictions reader adds it; its members, project and video are found
beside the file, ``viewer.widgets.ensemble_inputs``), a smoothed CSV picked with "Open...", or
whatever :meth:`SteerWidget.load` is given. Moving the global slider (log scale) or a
keypoint's factor re-runs EKS in a worker thread, one smooth at a time: requests made while
one runs are merged into the newest, stale ones are never computed, and the GUI thread only
swaps the layers' data (``benchmarks/bench_gui_stalls.py``). Dragging a keypoint of the
steered layer (select mode) enters it as a near-certain observation: the trajectory re-fits
around it. "Save corrections" writes them as confirmed labels (``qc.refine``); "Export
video" writes a labeled mp4 in a worker thread (``viewer.video_export``).
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
from napari_lightning_pose.viewer.widgets.docking import find_dock, settle_when_shown
from napari_lightning_pose.viewer.widgets.ensemble_inputs import smoothed_layers
from napari_lightning_pose.viewer.widgets.hooks import ViewerHooks, release_when_destroyed
from napari_lightning_pose.viewer.widgets.predict import STAGE_MS
from napari_lightning_pose.viewer.widgets.staging import activate, insert_quietly
from napari_lightning_pose.viewer.widgets.steer_jobs import Smoothed, build_steer, smooth_to_layers

#: Global slider range, log10 of the smoothing parameter (px^2 per frame).
LOG_S_RANGE = (-2.0, 3.0)
#: Per-keypoint factor range, log10.
LOG_FACTOR_RANGE = (-2.0, 2.0)
TICKS = 100
NOTHING_OPEN = (
    "No ensemble: open a smoothed CSV (predictions/<video>/<video>.eks.csv, with the "
    "member*.csv beside it) with Open... or File > Open, or run Predict + smooth."
)


def _to_log(tick: int, lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    return lo + (hi - lo) * tick / TICKS


def _to_tick(log_value: float, lo_hi: tuple[float, float]) -> int:
    lo, hi = lo_hi
    return round(TICKS * (min(max(log_value, lo), hi) - lo) / (hi - lo))


def _swap_points(layer: Any, data: Any, features: Any) -> None:
    """New positions and uncertainty of the same points (same frames and keypoints): the
    feature values are replaced in place, which spares napari re-formatting every point's
    text (~0.1 s for 16,000 points); other points: data and features replaced."""
    import numpy as np

    old = layer.features
    same = (
        len(old) == len(features)
        and np.array_equal(old["frame"].to_numpy(), features["frame"].to_numpy())
        and np.array_equal(old["keypoint"].to_numpy(), features["keypoint"].to_numpy())
    )
    layer.data = data
    if same:
        for column in features.columns:
            old[column] = features[column].to_numpy()
    else:
        layer.features = features
    layer.refresh_colors(update_color_mapping=False)


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
        self.smoothed_csv: Path | None = None
        self.skeleton: list[list[str]] = []
        self.worker: Any = None
        self._updating = False
        self.n_smooths = 0
        self._smoother: Any = None  # the worker of the smooth in progress
        self._wanted = False  # a smooth was asked for while one ran
        self._loader: Any = None

        self.source = QLabel(NOTHING_OPEN)
        self.source.setWordWrap(True)
        self.open_button = QPushButton("Open smoothed CSV...")
        self.open_button.setToolTip(
            "A smoothed CSV (<video>.eks.csv); its members (member*.csv) and project are "
            "found beside it."
        )
        self.open_button.clicked.connect(lambda: self.open_csv())
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
        self._timer.setInterval(0)  # coalesce slider moves: one request per event-loop turn
        self._timer.timeout.connect(self.resmooth)
        self._pending: dict[tuple[int, str], tuple[float, float]] = {}
        self._drag_timer = QTimer(self)
        self._drag_timer.setSingleShot(True)
        self._drag_timer.setInterval(150)  # a drag emits a change per mouse move
        self._drag_timer.timeout.connect(self.apply_drag)
        self._stages: list[Any] = []  # what is left to show of the last re-smooth
        self._to_reveal: dict[str, bool] = {}  # kind -> show once inserted hidden
        self._stage_timer = QTimer(self)
        self._stage_timer.setSingleShot(True)
        self._stage_timer.setInterval(STAGE_MS)  # Qt draws and handles input in between
        self._stage_timer.timeout.connect(self._next_stage)

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
        layout.addWidget(self.open_button)
        layout.addLayout(form)
        layout.addWidget(QLabel("Drag a keypoint (select mode) to correct it."))
        layout.addWidget(self.save_button)
        layout.addWidget(self.export_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch(1)

        settle_when_shown(self, napari_viewer)
        self._hooks = ViewerHooks()
        if napari_viewer is not None:
            self._hooks.connect(napari_viewer.layers.events.inserted, self._on_layer_added)
            release_when_destroyed(self, self._hooks)
            found = smoothed_layers(napari_viewer)
            if found:
                self._adopt(found[-1])

    # ------------------------------------------------------------------ public
    @property
    def smoothing(self) -> float:
        """The global smoothing parameter the slider shows."""
        return 10 ** _to_log(self.slider.value(), LOG_S_RANGE)

    @property
    def busy(self) -> bool:
        """True while an ensemble loads or a re-smooth is computed or waiting."""
        waiting = self._wanted or self._timer.isActive() or bool(self._stages)
        return self._loader is not None or self._smoother is not None or waiting

    def open_csv(self, path: str | Path | None = None, members: Any = ()) -> bool:
        """Load the ensemble of a smoothed CSV (its members, project and video found beside
        it) in a worker; without ``path`` a file dialog asks. False, saying what is
        missing, when the file has no members beside it."""
        from napari.qt.threading import create_worker

        from napari_lightning_pose.viewer.widgets.ensemble_inputs import ensemble_inputs

        if path is None:
            from qtpy.QtWidgets import QFileDialog

            path, _ = QFileDialog.getOpenFileName(
                self, "Smoothed predictions", "", "smoothed CSV (*.eks.csv);;CSV (*.csv)"
            )
            if not path:
                return False
        inputs = ensemble_inputs(path, self.viewer, members)
        if inputs.needs():
            self.source.setText(f"{Path(path).name}: {inputs.needs()}")
            return False
        if inputs.warning:
            self.status.setText(inputs.warning)
        self.smoothed_csv = inputs.smoothed
        self.source.setText(f"Loading {len(inputs.members)} members of {Path(path).name}...")
        self._loader = create_worker(
            build_steer,
            inputs.members,
            inputs.views,
            inputs.image_size,
            _start_thread=False,
            _ignore_errors=True,
        )
        self._loader.returned.connect(lambda out: self._loaded(inputs, *out))
        self._loader.errored.connect(lambda err: self.source.setText(f"Not loaded: {err}"))
        self._loader.finished.connect(self._loader_finished)
        self._loader.start()
        return True

    def load(
        self,
        member_csvs: list[str | Path],
        views: Any = None,
        image_size: tuple[int, int] | None = None,
        video: str | Path | None = None,
        project: str | Path | None = None,
        skeleton: list[list[str]] = (),
    ) -> None:
        """Load the ensemble (here, on the calling thread) and smooth it at the slider's value."""
        from napari_lightning_pose.viewer.widgets.ensemble_inputs import EnsembleInputs

        steer, members = build_steer([Path(m) for m in member_csvs], views, image_size)
        inputs = EnsembleInputs(
            csv=Path(member_csvs[0]),
            members=[Path(m) for m in member_csvs],
            project=Path(project) if project else None,
            video=Path(video) if video else None,
            skeleton=[list(e) for e in skeleton],
        )
        self._loaded(inputs, steer, members)

    def set_smoothing(self, s: float) -> None:
        """Move the global slider to ``s`` (re-smooths)."""
        self.slider.setValue(_to_tick(math.log10(s), LOG_S_RANGE))

    def set_factor(self, keypoint: str, factor: float) -> None:
        """Set one keypoint's smoothing factor (re-smooths)."""
        self.keypoint_combo.setCurrentText(keypoint)
        self.factor_slider.setValue(_to_tick(math.log10(factor), LOG_FACTOR_RANGE))

    def resmooth(self) -> None:
        """Ask for a re-smooth at the current values: it runs in a worker, after the one in
        progress (requests made meanwhile become one); layers and traces follow."""
        if self.steer is None:
            return
        self.s_label.setText(f"s = {self.smoothing:.3g}")
        self._wanted = True
        if self._smoother is None:
            self._start_smooth()

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
    def _loaded(self, inputs: Any, steer: Any, members: list[Any]) -> None:
        """Show a loaded ensemble: replace the previous one's steered layers, then smooth."""
        if self.viewer is not None:
            for layer in self.layers.values():
                if layer in self.viewer.layers:
                    self.viewer.layers.remove(layer)
        self.layers = {}
        self.steer, self.members = steer, members
        self.smoothed_csv = inputs.smoothed
        self.video = inputs.video
        self.project = inputs.project
        self.skeleton = [list(e) for e in inputs.skeleton]
        self.factors = {}
        self.keypoint_combo.blockSignals(True)
        self.keypoint_combo.clear()
        self.keypoint_combo.addItems(steer.keypoints)
        self.keypoint_combo.blockSignals(False)
        where = f" of {inputs.smoothed.name}" if inputs.smoothed else ""
        self.source.setText(
            f"{len(members)} members{where}, {steer.ens.n_frames} frames, "
            f"{len(steer.keypoints)} keypoints"
            + ("" if self.project else "; no project found (saving corrections needs one)")
        )
        self.resmooth()

    def _loader_finished(self) -> None:
        self._loader = None

    def _start_smooth(self) -> None:
        from napari.qt.threading import create_worker

        from napari_lightning_pose.ensemble.steer import per_keypoint_smoothing

        self._wanted = False
        stem = self.video.stem if self.video else "ensemble"
        self._smoother = create_worker(
            smooth_to_layers,
            self.steer,
            per_keypoint_smoothing(self.smoothing, self.factors, self.steer.keypoints),
            list(self.steer.corrections.values()),
            self.skeleton,
            f"{stem} steered",
            "points" not in self.layers or self.layers["points"] not in self.viewer.layers,
            _start_thread=False,
            _ignore_errors=True,
        )
        self._smoother.returned.connect(self._on_smoothed)
        self._smoother.errored.connect(lambda err: self.status.setText(f"Smoothing failed: {err}"))
        self._smoother.finished.connect(self._smooth_finished)
        self._smoother.start()

    def _on_smoothed(self, out: Smoothed) -> None:
        """Show a re-smooth: the keypoints at once; tails, skeleton and traces each in a
        later turn of the event loop (each swap costs tens of ms), and only when no newer
        smooth is on its way (while the slider is dragged only the keypoints follow)."""
        if out.steer is not self.steer:
            return  # another ensemble was loaded meanwhile
        self.result, self.track = out.result, out.track
        self.n_smooths += 1
        self._stages = []
        for kind in list(self._to_reveal):  # a first showing cut short: nothing stays hidden
            self._reveal(kind)
        if "points" not in self.layers or self.layers["points"] not in self.viewer.layers:
            # first time: one step per turn of the event loop, in drawing order: insert a
            # layer hidden and not activated, show it, ...; activate the last (staging.py)
            for item in out.layers:
                self._stages.append(
                    lambda item=item: self._show_layers([item], out.built, staged=True)
                )
                self._stages.append(lambda kind=item[2]: self._reveal(kind))
            last = out.layers[-1][2] if out.layers else None
            self._stages.append(lambda: self._reveal(last, activate_it=True))
            self._stages.append(self._update_traces)
            self._stage_timer.start()
            return
        points = [item for item in out.layers if item[2] == "points"]
        self._show_layers(points)
        if self._wanted:
            return
        rest = [item for item in out.layers if item[2] != "points"]
        self._stages = [lambda item=item: self._show_layers([item]) for item in rest]
        self._stages.append(self._update_traces)
        self._stage_timer.start()

    def _next_stage(self) -> None:
        if self._stages:
            self._stages.pop(0)()
        if self._stages:
            self._stage_timer.start()

    def _update_traces(self) -> None:
        from napari_lightning_pose.viewer.widgets.traces import TracePanel

        panel = find_dock(self, TracePanel)
        if panel is not None and self.track is not None:
            panel.set_tracks(self.track, self.members)

    def _smooth_finished(self) -> None:
        self._smoother = None
        if self._wanted and self.steer is not None:
            self._start_smooth()  # only the newest request: the ones between were dropped

    def _on_layer_added(self, event: Any) -> None:
        layer = event.value
        if layer in smoothed_layers(self.viewer):
            self._adopt(layer)

    def _adopt(self, layer: Any) -> None:
        """Load the ensemble behind a smoothed layer unless it is the one shown."""
        csv = Path(layer.metadata["csv_path"])
        if self.smoothed_csv is not None and csv.resolve() == self.smoothed_csv.resolve():
            return
        self.open_csv(csv, layer.metadata.get("member_csvs") or ())

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

    def _reveal(self, kind: str | None, activate_it: bool = False) -> None:
        """Show the steered ``kind`` layer inserted hidden (or make it the active one)."""
        layer = self.layers.get(kind) if kind else None
        if layer is None or layer not in self.viewer.layers:
            return
        if activate_it:
            activate(self.viewer, layer)
        elif self._to_reveal.pop(kind, False):
            layer.visible = True

    def _show_layers(
        self,
        prepared: list[Any] | None = None,
        built: dict[str, Any] | None = None,
        staged: bool = False,
    ) -> None:
        """Create the steered layers once (``built`` in the worker, when given; with
        ``staged`` inserted hidden and not activated, see :meth:`_reveal`), then only swap
        their data (made in the worker)."""
        from napari_lightning_pose.viewer.prediction_layers import prediction_layer_data

        if self.viewer is None or self.track is None:
            return
        if prepared is None:  # put a refused drag back: the last result's layers again
            stem = self.video.stem if self.video else "ensemble"
            prepared = prediction_layer_data(self.track, self.skeleton, name=f"{stem} steered")
        self._updating = True
        try:
            for data, kwargs, kind in prepared:
                layer = self.layers.get(kind)
                if layer is None or layer not in self.viewer.layers:
                    layer = (built or {}).get(kind)
                    if layer is not None and staged:
                        self._to_reveal[kind] = bool(layer.visible)
                        layer.visible = False
                        insert_quietly(self.viewer.layers, layer)
                    elif layer is not None:
                        self.viewer.layers.append(layer)
                    else:
                        kwargs["metadata"] = {**kwargs.get("metadata", {}), "kind": "steered"}
                        layer = getattr(self.viewer, f"add_{kind}")(data, **kwargs)
                    self.layers[kind] = layer
                    if kind == "points":
                        layer.events.data.connect(self._on_points_data)
                elif kind == "points":
                    layer.selected_data = set()
                    _swap_points(layer, data, kwargs["features"])
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
        layer = self.layers["points"]
        for i in getattr(event, "data_indices", ()) or ():
            frame, y, x = (float(v) for v in layer.data[int(i)])
            keypoint = str(layer.features["keypoint"].iloc[int(i)])
            # kept now: a re-smooth finishing before the drag ends replaces the layer's data
            self._pending[(round(frame), keypoint)] = (x, y)
        self._drag_timer.start()

    def apply_drag(self) -> None:
        """Enter every point moved since the last call as a correction (after the drag)."""
        from qtpy.QtWidgets import QApplication

        if QApplication.mouseButtons() != Qt.MouseButton.NoButton:
            self._drag_timer.start()  # still dragging
            return
        pending, self._pending = self._pending, {}
        if not pending or self.steer is None:
            return
        refused = []
        for (frame, keypoint), (x, y) in pending.items():
            try:
                self.steer.correct(frame, keypoint, x, y)
            except LightningPoseInputError as err:
                refused.append(str(err))
        self.status.setText(
            " ".join([*refused, f"{len(self.steer.corrections)} correction(s); not saved yet."])
        )
        self.resmooth()
