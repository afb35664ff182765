"""Steer the smoother dock: a smoothing slider, drag-a-point corrections, save, export.

Loads an ensemble into ``ensemble.steer.SteerableSmoother`` and shows the result as its own
layers (``<video> steered``, kept by ``steer_layers``) and in the trace panel. The ensemble is
found from what is open: a smoothed layer in the viewer (its members, project and video are
found beside the file, ``viewer.widgets.ensemble_inputs``), a smoothed CSV picked with
"Open...", or whatever :meth:`SteerWidget.load` is given. Moving the global slider (log scale,
``log_slider``) or a keypoint's factor re-runs EKS in a worker thread (``steer_jobs``), one
smooth at a time (``newest_wins``): requests made while one runs are merged into the newest,
stale ones are never computed, and the GUI thread only swaps the layers' data
(``benchmarks/bench_gui_stalls.py``). Dragging a keypoint of the steered layer (select mode)
enters it as a near-certain observation: the trajectory re-fits around it. "Save corrections"
writes them as confirmed labels (``qc.refine``); "Export video" writes a labeled mp4 in a
worker thread (``viewer.video_export``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.viewer.widgets.docking import find_dock, settle_when_shown
from napari_lightning_pose.viewer.widgets.ensemble_inputs import smoothed_layers
from napari_lightning_pose.viewer.widgets.hooks import ViewerHooks, release_when_destroyed
from napari_lightning_pose.viewer.widgets.log_slider import LogSlider
from napari_lightning_pose.viewer.widgets.newest_wins import NewestWins
from napari_lightning_pose.viewer.widgets.staging import STAGE_MS
from napari_lightning_pose.viewer.widgets.steer_jobs import (
    Smoothed,
    build_steer,
    smooth_to_layers,
    warm_up_smoother,
)
from napari_lightning_pose.viewer.widgets.steer_layers import Moves, SteeredLayers

#: Global slider range, log10 of the smoothing parameter (px^2 per frame).
LOG_S_RANGE = (-2.0, 3.0)
#: Per-keypoint factor range, log10.
LOG_FACTOR_RANGE = (-2.0, 2.0)
NOTHING_OPEN = (
    "No ensemble: open a smoothed CSV (predictions/<video>/<video>.eks.csv, with the "
    "member*.csv beside it) with Open... or File > Open, or run Predict + smooth."
)


class SteerWidget(QWidget):
    """Re-smooth live, correct points by dragging them, save corrections, export a video."""

    def __init__(self, napari_viewer: Any = None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.steer: Any = None
        self.result: Any = None
        self.track: Any = None
        self.members: list[Any] = []
        self.factors: dict[str, float] = {}
        self.video: Path | None = None
        self.project: Path | None = None
        self.smoothed_csv: Path | None = None
        self.skeleton: list[list[str]] = []
        self.worker: Any = None
        self.n_smooths = 0
        self._smoother = NewestWins(
            smooth_to_layers,
            self._smooth_arguments,
            self._on_smoothed,
            lambda err: self.status.setText(f"Smoothing failed: {err}"),
        )
        self._loader: Any = None

        self.source = QLabel(NOTHING_OPEN)
        self.source.setWordWrap(True)
        self.open_button = QPushButton("Open smoothed CSV...")
        self.open_button.setToolTip(
            "A smoothed CSV (<video>.eks.csv); its members (member*.csv) and project are "
            "found beside it."
        )
        self.open_button.clicked.connect(lambda: self.open_csv())
        self.slider = LogSlider(LOG_S_RANGE, 1.0)
        self.slider.valueChanged.connect(self._schedule)
        self.s_label = QLabel("")
        self.keypoint_combo = QComboBox()
        self.keypoint_combo.currentTextChanged.connect(self._show_factor)
        self.factor_slider = LogSlider(LOG_FACTOR_RANGE, 0.0)
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
        self.steered = SteeredLayers(napari_viewer, self, STAGE_MS, self._on_dragged)

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
        warm_up_smoother()  # its kernels load while the dock waits for an ensemble
        self._hooks = ViewerHooks()
        if napari_viewer is not None:
            self._hooks.connect(napari_viewer.layers.events.inserted, self._on_layer_added)
            release_when_destroyed(self, self._hooks)
            found = smoothed_layers(napari_viewer)
            if found:
                self._adopt(found[-1])

    # ------------------------------------------------------------------ public
    @property
    def layers(self) -> dict[str, Any]:
        """The steered layers by kind (``steer_layers``)."""
        return self.steered.layers

    @property
    def smoothing(self) -> float:
        """The global smoothing parameter the slider shows."""
        return 10 ** self.slider.log_value()

    @property
    def busy(self) -> bool:
        """True while an ensemble loads or a re-smooth is computed or waiting."""
        waiting = self._timer.isActive() or self.steered.staging
        return self._loader is not None or self._smoother.busy or waiting

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
        self.slider.set_log_value(math.log10(s))

    def set_factor(self, keypoint: str, factor: float) -> None:
        """Set one keypoint's smoothing factor (re-smooths)."""
        self.keypoint_combo.setCurrentText(keypoint)
        self.factor_slider.set_log_value(math.log10(factor))

    def resmooth(self) -> None:
        """Ask for a re-smooth at the current values: it runs in a worker, after the one in
        progress (requests made meanwhile become one); layers and traces follow."""
        if self.steer is None:
            return
        self.s_label.setText(f"s = {self.smoothing:.3g}")
        self._smoother.request()

    def correct(self, frame: int, keypoint: str, x: float, y: float) -> bool:
        """Enter a correction and re-smooth; False (message shown) when it is refused."""
        try:
            self.steer.correct(frame, keypoint, x, y)
        except LightningPoseInputError as err:
            self.status.setText(str(err))
            self._put_back()  # the dragged point
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
        self.steered.remove_all()
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

    def _smooth_arguments(self) -> tuple:
        """What ``steer_jobs.smooth_to_layers`` needs, at the values shown now."""
        from napari_lightning_pose.ensemble.steer import per_keypoint_smoothing

        stem = self.video.stem if self.video else "ensemble"
        return (
            self.steer,
            per_keypoint_smoothing(self.smoothing, self.factors, self.steer.keypoints),
            list(self.steer.corrections.values()),
            self.skeleton,
            f"{stem} steered",
            not self.steered.shown("points"),
        )

    def _on_smoothed(self, out: Smoothed) -> None:
        """Show a re-smooth in steps (``SteeredLayers.present``): while the slider is
        dragged (a newer smooth on its way) only the keypoints follow."""
        if out.steer is not self.steer:
            return  # another ensemble was loaded meanwhile
        self.result, self.track = out.result, out.track
        self.n_smooths += 1
        self.steered.present(
            out.layers, out.built, self._update_traces, newer_coming=self._smoother.wanted
        )

    def _update_traces(self) -> None:
        from napari_lightning_pose.viewer.widgets.traces import TracePanel

        panel = find_dock(self, TracePanel)
        if panel is not None and self.track is not None:
            panel.set_tracks(self.track, self.members)

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
        self.factor_slider.set_log_value(math.log10(factor), quietly=True)
        self.factor_label.setText(f"x{factor:.3g}")

    def _on_factor(self, tick: int) -> None:
        name = self.keypoint_combo.currentText()
        if not name:
            return
        self.factors[name] = 10 ** self.factor_slider.log_value(tick)
        self.factor_label.setText(f"x{self.factors[name]:.3g}")
        self._schedule()

    def _put_back(self) -> None:
        """Show the last result's layers again (a refused drag moved a point)."""
        from napari_lightning_pose.viewer.prediction_layers import prediction_layer_data

        if self.viewer is None or self.track is None:
            return
        stem = self.video.stem if self.video else "ensemble"
        self.steered.show(prediction_layer_data(self.track, self.skeleton, name=f"{stem} steered"))

    def _on_dragged(self, moves: Moves) -> None:
        """Enter the points a drag moved as corrections, and re-smooth."""
        if self.steer is None:
            return
        refused = []
        for (frame, keypoint), (x, y) in moves.items():
            try:
                self.steer.correct(frame, keypoint, x, y)
            except LightningPoseInputError as err:
                refused.append(str(err))
        self.status.setText(
            " ".join([*refused, f"{len(self.steer.corrections)} correction(s); not saved yet."])
        )
        self.resmooth()
