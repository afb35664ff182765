"""Predict + smooth dock: predict a video with each ensemble member, fuse them with EKS, and
show the smoothed keypoints over the video, coloured by their posterior SD in px.

The job is the core generator ``jobs.predict_and_smooth``, run in its own process
(``inference.job_process``) and driven by napari's ``thread_worker``; Cancel sets its stop
event. Results go to the project's ``predictions/<video>/`` (member CSVs
and ``<video>.eks.csv``) and appear as layers (``prediction_layers``), with the trace panel
and the colour legend docked beside them. On a multi-camera project the dock picks a session
instead of a video and opens the result in the grid (``predict_session``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.inference.jobs import (
    PredictSmoothEvent,
    find_members,
    models_dir,
    predictions_dir,
)
from napari_lightning_pose.viewer.widgets.job_dock import JobDock, device_choices
from napari_lightning_pose.viewer.widgets.predict_layers import (
    ResultLayers,
    predict_smooth_to_layers,
    result_layers,
    video_layer,
)
from napari_lightning_pose.viewer.widgets.predict_session import (
    CameraResult,
    predict_session_to_layers,
    project_sessions,
    session_out_dir,
)
from napari_lightning_pose.viewer.widgets.staging import STAGE_MS, Steps, activate, layer_steps
from napari_lightning_pose.viewer.widgets.steer_jobs import warm_up_smoother


class PredictWidget(JobDock):
    """Pick a project, a video and trained members; predict, smooth, and show the result."""

    job_name = "Prediction"

    def __init__(self, napari_viewer: Any = None) -> None:
        super().__init__(napari_viewer)
        self.result: PredictSmoothEvent | None = None
        self.prepared: ResultLayers | None = None
        self._steps = Steps(self, STAGE_MS)  # adding the result layers, one per turn
        #: a multi-camera project's sessions ({session: {view: video}}); {} for one camera
        self.sessions: dict[str, dict[str, Path]] = {}
        self.camera_result: CameraResult | None = None
        self.camera_mode = False  # the last job was a camera session
        self.project_edit = QLineEdit()
        self.project_edit.setPlaceholderText("project folder or its config.yaml")
        self.project_edit.editingFinished.connect(self._fill_defaults)
        self.video_edit = QLineEdit()
        self.session_combo = QComboBox()
        self.session_combo.setToolTip("a session: every camera's video of it, predicted together")
        self.models_edit = QLineEdit()
        self.models_edit.setPlaceholderText("a member's folder, or a folder of members")
        self.device_combo = QComboBox()
        self.device_combo.addItems(device_choices())
        form = QFormLayout()
        form.addRow("Project", self._with_browse(self.project_edit, dir_=True))
        self.video_row = self._with_browse(self.video_edit)
        form.addRow("Video", self.video_row)
        form.addRow("Session", self.session_combo)
        form.setRowVisible(self.session_combo, False)
        self.form = form
        form.addRow("Members", self._with_browse(self.models_edit, dir_=True))
        form.addRow("Device", self.device_combo)
        self.run_button = QPushButton("Predict + smooth")
        self.cancel_button = QPushButton("Cancel")
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.status.setText("Pick a project: its newest video and models are filled in.")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self._set_running(False)

    # ------------------------------------------------------------------ public
    def start(self) -> bool:
        """Start predicting and smoothing; False with a message when the input is not usable."""
        if self.running:
            self._say("A prediction is already running: Cancel it first, or wait.")
            return False
        try:
            if self._project().views is not None:
                return self._start_session(self._project())
            project, video, members = self._inputs()
        except LightningPoseInputError as err:
            self._say(str(err), error=True)
            return False
        self.project, self.camera_mode = project, False
        self.video = video
        self.out_dir = predictions_dir(project.config, video)
        self.result = self.prepared = None
        device = self.device_combo.currentText()
        self._say(f"Predicting {video.name} with {len(members)} members...")
        warm_up_smoother()  # the Steer dock smooths the result: load its kernels meanwhile
        # Cancel stops after the current batch; CSVs already written stay as they are
        self.run_job(
            predict_smooth_to_layers,
            members,
            video,
            self.out_dir,
            project.skeleton,
            device=None if device == "auto" else device,
            video_open=self._open_video() is not None,
        )
        return True

    def show_results(
        self,
        smoothed_csv: Path | None,
        member_csvs: list[Path],
        prepared: ResultLayers | None = None,
        staged: bool = False,
    ) -> None:
        """Add the video (if not open), the members (hidden) and the smoothed layers.

        ``prepared`` is the layers the job built in its worker; without it the CSVs are
        read here. ``staged`` adds one layer per turn of the event loop (the window stays
        responsive; :attr:`busy` until the last one is in), else all at once.
        """
        video = self._open_video()
        to_add: list[Any] = []
        if video is None:
            video = prepared.video if prepared is not None else None
            if video is None:
                video = video_layer(self.video, decode_middle=False)
            to_add.append(video)
        elif prepared is not None and prepared.video is not None:
            prepared.video.data.close()  # opened meanwhile: the worker's reader is unused
        n_frames = int(video.metadata["n_frames"])
        if prepared is None:
            prepared = result_layers(smoothed_csv, member_csvs, self.project.skeleton, n_frames)
        # prepared in the worker: checked there against the frames it predicted (this video)
        layers = [*to_add, *prepared.members, *prepared.smoothed]
        if not staged:
            self.viewer.layers.extend(layers)
            self._dock_views()
            return
        # one step per turn of the event loop: insert hidden, show, ..., activate the last
        # (the docks that follow the active layer redraw), dock the views
        steps = [step for layer in layers for step in layer_steps(self.viewer, layer)]
        steps += [lambda: activate(self.viewer, layers[-1]), self._dock_views]
        self._steps.start(steps, now=True)

    def _start_session(self, project: Any) -> bool:
        """Predict and smooth the chosen session of a multi-camera project (every view)."""
        sessions = project_sessions(project)  # a session missing a view: refused, named
        if list(sessions) != list(self.sessions):
            self._fill_sessions(project)
        session = self.session_combo.currentText()
        if session not in sessions:
            raise LightningPoseInputError(
                project.video_dir,
                f"holds no session with a video of every camera {project.views.names}.",
                "Add each camera's video of a session, named <session>_<camera>.mp4.",
            )
        members = find_members(self.models_edit.text().strip() or models_dir(project.config))
        self.project, self.out_dir = project, session_out_dir(project.config, session)
        self.result, self.camera_result, self.camera_mode = None, None, True
        device = self.device_combo.currentText()
        videos = sessions[session]
        self._say(
            f"Predicting session {session} ({len(videos)} cameras) with {len(members)} members..."
        )
        self.run_job(
            predict_session_to_layers,
            members,
            videos,
            self.out_dir,
            device=None if device == "auto" else device,
        )
        return True

    @property
    def busy(self) -> bool:
        """True while a job runs or its result's layers are still being added."""
        return self.running or self._steps.pending

    # ---------------------------------------------------------------- internals
    def _open_video(self) -> Any:
        """The open Image layer of this dock's video, or None."""
        video = str(Path(self.video).resolve())
        for layer in self.viewer.layers:
            if layer.metadata.get("video_path") == video:
                return layer
        return None

    def _project(self) -> Any:
        from napari_lightning_pose.labeling.project import Project

        text = self.project_edit.text().strip()
        if not text:
            raise LightningPoseInputError(None, "no project chosen.", "Pick its folder.")
        return Project.open(text)

    def _inputs(self) -> tuple[Any, Path, list[Path]]:
        project = self._project()
        video = Path(self.video_edit.text().strip() or "")
        if not video.is_file():
            raise LightningPoseInputError(video, "video not found.", "Pick a video file.")
        members = find_members(self.models_edit.text().strip() or models_dir(project.config))
        return project, video, members

    def _fill_defaults(self) -> None:
        from napari_lightning_pose.errors import ConfigError
        from napari_lightning_pose.labeling.project import Project

        try:
            project = Project.open(self.project_edit.text().strip())
        except (ConfigError, OSError):
            return
        self._fill_sessions(project)
        videos = project.video_paths()
        if videos and not self.video_edit.text():
            self.video_edit.setText(str(videos[0]))
        if not self.models_edit.text():
            self.models_edit.setText(str(models_dir(project.config)))

    def _fill_sessions(self, project: Any) -> None:
        """A multi-camera project: offer its sessions in place of a video."""
        try:
            self.sessions = project_sessions(project)
        except LightningPoseInputError as err:
            self.sessions = {}
            self._say(str(err), error=True)
        multi = project.views is not None
        self.form.setRowVisible(self.session_combo, multi)
        self.form.setRowVisible(self.video_row, not multi)
        self.session_combo.clear()
        self.session_combo.addItems(list(self.sessions))
        if multi and self.sessions:
            self._say(
                f"{len(self.sessions)} session(s) of cameras {project.views.names}: "
                "each is predicted in every camera, smoothed jointly, shown in the grid."
            )

    def _on_event(self, ev: PredictSmoothEvent | ResultLayers | CameraResult) -> None:
        if isinstance(ev, ResultLayers):
            self.prepared = ev
            return
        if isinstance(ev, CameraResult):
            self.camera_result = ev
            return
        done, total = ev.progress()
        self.progress.setMaximum(int(total or 0))
        self.progress.setValue(int(done))
        if ev.kind == "smoothing":
            self._say("Smoothing the ensemble (EKS)...")
        elif ev.kind in ("done", "stopped"):
            self.result = ev

    def _on_finished(self) -> None:
        ev = self.result
        if ev is None:
            return
        if ev.kind == "stopped":
            self._say(
                f"Stopped; {len(ev.member_csvs)} member CSVs are complete in {self.out_dir}."
            )
            return
        if self.camera_mode:
            self._show_cameras(ev)
            return
        self.show_results(ev.smoothed_csv, ev.member_csvs, self.prepared, staged=True)
        saved = ev.smoothed_csv or ev.member_csvs[0]
        self._say(f"Saved {saved} (+ {len(ev.member_csvs)} member CSVs).")

    def _show_cameras(self, ev: PredictSmoothEvent) -> None:
        """Add a session's result to the grid (as the Cameras dock does) with its views."""
        from napari_lightning_pose.viewer.widgets.cameras import add_camera_layers

        if self.camera_result is None:  # one member: nothing smoothed
            self._say(
                f"Saved {len(ev.member_csvs)} member CSVs in {self.out_dir} ({ev.message}:"
                " smoothing takes two or more members)."
            )
            return
        add_camera_layers(self.viewer, self.camera_result.layers)
        self._dock_views()
        cameras = ", ".join(self.camera_result.session.cameras)
        self._say(
            f"Saved {len(ev.camera_csvs)} smoothed tables ({cameras}) in {self.out_dir} "
            f"(+ {len(ev.member_csvs)} member CSVs); {ev.message}."
        )

    def _dock_views(self) -> None:
        """Dock the trace panel and the legend unless they are docked already."""
        from napari_lightning_pose.viewer.widgets.legend import UncertaintyLegend
        from napari_lightning_pose.viewer.widgets.traces import TracePanel

        window = self.viewer.window
        # typed searches: Qt filters the window's thousands of widgets without wrapping each
        # in Python (two untyped walks took ~30 ms of the last freeze of Predict + smooth)
        legends = self.window().findChildren(UncertaintyLegend)
        if not legends:
            legend = UncertaintyLegend(self.viewer)
            # beside the dock (a short bar), leaving the bottom to the trace panel's width
            window.add_dock_widget(legend, name="Uncertainty legend", area="right")
        if not self.window().findChildren(TracePanel):
            window.add_dock_widget(TracePanel(self.viewer), name="Traces", area="bottom")
        for widget in legends:
            widget._on_layers()

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _with_browse(self, edit: QLineEdit, dir_: bool = False) -> QHBoxLayout:
        def browse() -> None:
            if dir_:
                path = QFileDialog.getExistingDirectory(self, "Folder")
            else:
                path, _ = QFileDialog.getOpenFileName(self, "Video", "", "video (*.mp4 *.avi)")
            if path:
                edit.setText(path)
                if edit is self.project_edit:
                    self._fill_defaults()

        row = QHBoxLayout()
        row.addWidget(edit, 1)
        button = QPushButton("...")
        button.setMaximumWidth(32)
        button.clicked.connect(browse)
        row.addWidget(button)
        return row
