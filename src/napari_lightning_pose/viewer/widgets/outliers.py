"""Outlier queue dock: frames ranked by outlier score, a threshold, and the refine loop.

A histogram of the per-frame score (``qc.scores``: the combined score on its bounded scale,
or any single score) with a draggable threshold line says how many frames lie above it; the
sorted table lists them, each row with what every score added to ``combined`` ("why"). The
list is diverse by default, as in the ``outliers`` command: frames at least
``DEFAULT_MIN_GAP`` apart and one keypoint at most twice its fair share of any top of it
("spread over keypoints"). Clicking a row, or ``]`` / ``[`` (next / previous), moves the
viewer's time slider and the trace panel to that frame and keypoint. "Label these" sends
the selected rows (or every frame above the threshold) to labeling, pre-filled with the
smoothed positions and unconfirmed (``qc.refine``), and opens them in the labeling dock; "Suggest"
adds the least certain, diverse frames of all the project's videos (``qc.suggest_project``).
Both jobs run in a worker thread. The dock loads the smoothed layer the Predict + smooth
dock (or the predictions reader) adds, or whatever :meth:`OutlierQueueWidget.load` is given;
it scores it in a worker (``outlier_jobs``). Its parts: ``score_histogram``, ``outlier_table``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.qc.defaults import DEFAULT_MIN_GAP
from napari_lightning_pose.qc.outlier_ranking import rank_outliers
from napari_lightning_pose.qc.scores import OutlierScores, scores_from_files
from napari_lightning_pose.viewer.widgets.docking import find_dock, settle_when_shown
from napari_lightning_pose.viewer.widgets.outlier_jobs import score_cameras, score_files
from napari_lightning_pose.viewer.widgets.outlier_table import OutlierTable
from napari_lightning_pose.viewer.widgets.score_histogram import ScoreHistogram


class OutlierQueueWidget(QWidget):
    """Rank frames by outlier score; jump there; send them back to labeling."""

    def __init__(self, napari_viewer: Any = None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.scores: OutlierScores | None = None
        self.smoothed_csv: Path | None = None
        self.member_csvs: list[Path] = []
        self.ranked = pd.DataFrame()
        self.threshold = 0.0
        self.worker: Any = None
        self.last_result: Any = None
        self._loader: Any = None
        self._loading: str | None = None
        self._load_id = 0

        self.source = QLabel("No smoothed predictions yet: run Predict + smooth or open one.")
        self.source.setWordWrap(True)
        self.score_combo = QComboBox()
        self.score_combo.currentTextChanged.connect(lambda _: self._rerank())
        self.gap_spin = QSpinBox()
        self.gap_spin.setRange(0, 10_000)
        self.gap_spin.setValue(DEFAULT_MIN_GAP)
        self.gap_spin.setSuffix(" frames apart")
        self.gap_spin.valueChanged.connect(lambda _: self._rerank())
        self.spread_check = QCheckBox("spread over keypoints")
        self.spread_check.setChecked(True)
        self.spread_check.setToolTip(
            "One keypoint holds at most twice its fair share of any top of the list."
        )
        self.spread_check.toggled.connect(lambda _: self._rerank())
        self.hist = ScoreHistogram(on_threshold=self.set_threshold)
        self.line = self.hist.line
        self.above = QLabel("")
        self.above.setWordWrap(True)  # a long "spread over keypoints" line must not widen the dock
        self.table = OutlierTable()
        # a click selected its row already (Ctrl / Shift add to the selection, for Label these)
        self.table.cellClicked.connect(lambda row, _col: self.go_to(row, select=False))
        self.prev_button = QPushButton("Previous [")
        self.prev_button.clicked.connect(self.previous)
        self.next_button = QPushButton("Next ]")
        self.next_button.clicked.connect(self.next)
        self.project_edit = QLineEdit()
        self.project_edit.setPlaceholderText("project config.yaml")
        self.label_button = QPushButton("Label these")
        self.label_button.setToolTip(
            "Send the selected frames (or all above the threshold) to labeling, pre-filled "
            "with the smoothed positions (unconfirmed until you move or accept them)."
        )
        # not connected to label_these itself: clicked passes `checked` (False) as its frames
        self.label_button.clicked.connect(lambda: self.label_these())
        self.suggest_spin = QSpinBox()
        self.suggest_spin.setRange(1, 10_000)
        self.suggest_spin.setValue(20)
        self.suggest_button = QPushButton("Suggest N frames")
        self.suggest_button.clicked.connect(lambda: self.suggest(self.suggest_spin.value()))
        self.status = QLabel("")
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("rank by", self.score_combo)
        form.addRow("keep", self.gap_spin)
        form.addRow("", self.spread_check)
        form.addRow("project", self.project_edit)
        nav = QHBoxLayout()
        nav.addWidget(self.prev_button)
        nav.addWidget(self.next_button)
        act = QHBoxLayout()
        act.addWidget(self.label_button)
        act.addWidget(self.suggest_spin)
        act.addWidget(self.suggest_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.source)
        layout.addLayout(form)
        layout.addWidget(self.hist)
        layout.addWidget(self.above)
        layout.addWidget(self.table, 1)
        layout.addLayout(nav)
        layout.addLayout(act)
        layout.addWidget(self.status)
        settle_when_shown(self, napari_viewer)

        if napari_viewer is not None:
            napari_viewer.bind_key("]", lambda _v: self.next(), overwrite=True)
            napari_viewer.bind_key("[", lambda _v: self.previous(), overwrite=True)
            napari_viewer.layers.events.inserted.connect(self._on_layer_added)
            for layer in napari_viewer.layers:
                self._on_layer_added(layer=layer)

    # ------------------------------------------------------------------ public
    def load(self, smoothed_csv: str | Path, member_csvs: list[str | Path] = ()) -> None:
        """Score the frames of ``smoothed_csv`` (with its members' CSVs and metric files)."""
        members = [Path(m) for m in member_csvs]
        self._show_scores(Path(smoothed_csv), members, scores_from_files(smoothed_csv, members))

    @property
    def busy(self) -> bool:
        """True while the scores of a new smoothed layer are computed (in a worker)."""
        return self._loader is not None

    def _show_scores(
        self, smoothed_csv: Path, member_csvs: list[Path], scores: OutlierScores
    ) -> None:
        self.smoothed_csv, self.member_csvs, self.scores = smoothed_csv, member_csvs, scores
        names = ["combined", *self.scores.scores]
        self.score_combo.blockSignals(True)
        self.score_combo.clear()
        self.score_combo.addItems(names)
        self.score_combo.blockSignals(False)
        notes = " ".join(self.scores.notes)
        self.source.setText(
            f"{self.smoothed_csv.name}: {len(self.scores.combined)} frames, "
            f"{len(self.member_csvs)} members. {notes}"
        )
        if not self.project_edit.text():
            from napari_lightning_pose.ensemble.files import find_project_config

            config = find_project_config(self.smoothed_csv)
            self.project_edit.setText(str(config) if config else "")
        self._rerank(reset_threshold=True)

    @property
    def n_above(self) -> int:
        """Frames whose score is at or above the threshold."""
        return int((self.frame_scores() >= self.threshold).sum()) if self.scores else 0

    def frame_scores(self) -> pd.Series:
        """Each frame's score (worst keypoint) under the chosen score."""
        by = self.score_combo.currentText() or "combined"
        table = self.scores.combined if by == "combined" else self.scores.scores[by]
        values = table.to_numpy()
        worst = np.where(np.isfinite(values), values, -np.inf).max(axis=1)
        return pd.Series(worst, index=table.index)

    def set_threshold(self, value: float) -> None:
        """Move the threshold: the count and the table follow."""
        self.threshold = float(value)
        self.hist.move_line(self.threshold)
        self._fill_table()

    def go_to(self, row: int, select: bool = True) -> None:
        """Move the viewer and the trace panel to row ``row`` of the table (selecting that
        row alone when ``select``)."""
        if not 0 <= row < self.table.rowCount():
            return
        if select:
            self.table.selectRow(row)
        frame, keypoint = self.table.frame_at(row), self.table.keypoint_at(row)
        from napari_lightning_pose.viewer.widgets.traces import TracePanel

        panel = find_dock(self, TracePanel)
        if panel is not None:
            panel.set_keypoint(keypoint)
            panel.set_frame(frame)
        if self.viewer is not None:
            self.viewer.dims.set_current_step(0, frame)

    def next(self) -> None:
        """Go to the next row of the queue."""
        self.go_to(min(self.table.current_row() + 1, self.table.rowCount() - 1))

    def previous(self) -> None:
        """Go to the previous row of the queue."""
        self.go_to(max(self.table.current_row() - 1, 0))

    def selected_frames(self) -> list[int]:
        """Frames of the selected rows, or of every row (all above the threshold) if none."""
        rows = self.table.selected_rows() or range(self.table.rowCount())
        return [self.table.frame_at(r) for r in rows]

    def label_these(self, frames: list[int] | None = None) -> bool:
        """Refine ``frames`` (default :meth:`selected_frames`) in a worker; then open them."""
        from napari_lightning_pose.io.pose_csv import read_pose_csv
        from napari_lightning_pose.qc.refine import iter_refine_frames

        if self.scores is not None and self.scores.views is not None:
            self._say("Label these takes one video's frames; open a camera's CSV for that.")
            return False
        try:
            project, video = self._project_and_video()
            smoothed = read_pose_csv(self.smoothed_csv, required_coords=("x", "y"))
        except LightningPoseInputError as err:
            self._say(str(err))
            return False
        frames = list(frames if frames is not None else self.selected_frames())
        if not frames:
            self._say("No frames to label: lower the threshold or select rows.")
            return False
        return self._start(iter_refine_frames, project, video, frames, smoothed)

    def suggest(self, n: int) -> bool:
        """Suggest ``n`` frames across the project's videos in a worker."""
        from napari_lightning_pose.qc.suggest_project import iter_suggest_frames

        try:
            project, _ = self._project_and_video(need_video=False)
        except LightningPoseInputError as err:
            self._say(str(err))
            return False
        return self._start(iter_suggest_frames, project, int(n))

    # ---------------------------------------------------------------- internals
    def _start(self, job: Any, *args: Any) -> bool:
        from napari.qt.threading import create_worker

        if self.worker is not None:
            self._say("A job is running: wait for it to finish.")
            return False
        self.last_result = None
        self.worker = create_worker(job, *args, _start_thread=False, _ignore_errors=True)
        self.worker.returned.connect(self._on_returned)
        self.worker.errored.connect(lambda err: self._say(f"Failed: {err}"))
        self.worker.finished.connect(self._on_finished)
        self.label_button.setEnabled(False)
        self.suggest_button.setEnabled(False)
        self._say("Writing frames...")
        self.worker.start()
        return True

    def _on_returned(self, result: Any) -> None:
        self.last_result = result
        if isinstance(result, list):  # suggestions
            images = [s.image for s in result]
            self._say(f"Added {len(images)} suggested frames to label.")
        else:
            images = result.added
            self._say(
                f"Added {len(result.added)} frames to label (pre-filled, unconfirmed). "
                + " ".join(result.messages)
            )
        if images:
            self._open_in_labeling(images[0])

    def _on_finished(self) -> None:
        self.worker = None
        self.label_button.setEnabled(True)
        self.suggest_button.setEnabled(True)

    def _open_in_labeling(self, image: str) -> None:
        from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget

        if self.viewer is None:
            return
        dock = find_dock(self, LabelingWidget)
        if dock is None:
            dock = LabelingWidget(self.viewer)
            self.viewer.window.add_dock_widget(dock, name="Label keypoints", area="right")
        if dock.load_project(self.project_edit.text().strip()) and dock.state is not None:
            if image in dock.state.images:
                dock.go_to_frame(dock.state.images.index(image))

    def _project_and_video(self, need_video: bool = True) -> tuple[Any, Path | None]:
        from napari_lightning_pose.labeling.project import Project

        text = self.project_edit.text().strip()
        if not text:
            raise LightningPoseInputError(None, "no project chosen.", "Enter its config.yaml.")
        project = Project.open(text)
        if not need_video:
            return project, None
        if self.smoothed_csv is None:
            raise LightningPoseInputError(None, "no smoothed predictions loaded.")
        stem = self.smoothed_csv.name.split(".")[0]
        videos = [v for v in project.video_paths() if v.stem == stem]
        for layer in self.viewer.layers if self.viewer is not None else []:
            path = (layer.metadata or {}).get("video_path")
            if path and Path(path).stem == stem:
                videos.insert(0, Path(path))
        if not videos:
            raise LightningPoseInputError(
                project.video_dir, f"has no video {stem}.*", "Add the video to the project."
            )
        return project, videos[0]

    def _rerank(self, reset_threshold: bool = False) -> None:
        if self.scores is None:
            return
        by = self.score_combo.currentText() or "combined"
        share = None if self.spread_check.isChecked() else 1.0
        self.ranked = rank_outliers(
            self.scores, by=by, min_gap=self.gap_spin.value(), max_share=share
        )
        values = self.frame_scores().to_numpy()
        values = values[np.isfinite(values)]
        self.hist.show_values(values)
        if reset_threshold or not len(values):
            top = self.ranked[by if by != "combined" else "combined"].to_numpy()
            self.threshold = float(top[min(19, len(top) - 1)]) if len(top) else 0.0
        self.set_threshold(self.threshold)

    def _fill_table(self) -> None:
        by = self.score_combo.currentText() or "combined"
        parts = self.scores.contributions if self.scores is not None else {}
        listed = self.table.show_ranked(self.ranked, by, self.threshold, parts)
        if self.ranked.empty:
            return
        self.above.setText(
            f"{self.n_above} frames at or above {self.threshold:.2f} "
            f"({listed} listed, {self.gap_spin.value()} frames apart"
            + (", spread over keypoints)" if self.spread_check.isChecked() else ")")
        )

    def _on_layer_added(self, event: Any = None, layer: Any = None) -> None:
        layer = layer if layer is not None else event.value
        meta = getattr(layer, "metadata", {}) or {}
        if meta.get("kind") != "smoothed" or not meta.get("csv_path"):
            return
        if layer.__class__.__name__ != "Points" or meta["csv_path"] == str(self.smoothed_csv):
            return
        from napari.qt.threading import create_worker

        job: tuple[Any, ...] = (score_files, meta["csv_path"], meta.get("member_csvs") or [])
        if meta.get("camera_csvs"):  # one of several cameras: score them all, once
            out_dir = str(Path(meta["csv_path"]).parent)
            if out_dir in (str(self.smoothed_csv), self._loading):
                return
            job = (score_cameras, out_dir)
        self._loading = str(job[1])
        self._load_id += 1
        load_id = self._load_id
        self._loader = create_worker(*job, _start_thread=False, _ignore_errors=True)
        self._loader.returned.connect(
            lambda out: self._show_scores(*out) if load_id == self._load_id else None
        )
        self._loader.errored.connect(lambda err: self._say(str(err)))
        self._loader.finished.connect(lambda: self._loader_done(load_id))
        self._loader.start()

    def _loader_done(self, load_id: int) -> None:
        if load_id == self._load_id:
            self._loader = None
            self._loading = None

    def _say(self, text: str) -> None:
        self.status.setText(text)
