"""Create or open a project, add videos and pick the frames to label, then start labeling.

A thin dock widget over the core: ``project_setup.init_project`` / ``add_video`` create the
folder (``config.yaml``, ``labeled-data/``, ``videos/``) and copy videos in;
``frames.iter_pick_frames`` selects frames (k-means on thumbnails, or uniform), writes their
PNGs (plus context neighbours) and adds them to the labels CSV. Nothing slow runs on the GUI
thread: adding a video (copy, check, packet scan), frame selection and reading the project
for the labeling dock run in napari workers, one at a time; meanwhile the buttons are
disabled and a busy line says what runs, and the results are applied on the GUI thread.
When frame selection is done the labeling widget is docked (or reused) with the project open.

The frames box is ``frame_picking.FramePickingBox``; the Add video job is
``video_adding.copy_and_open_video``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.labeling.frames import FrameProgress, iter_pick_frames
from napari_lightning_pose.labeling.project import Project
from napari_lightning_pose.labeling.project_setup import init_project
from napari_lightning_pose.labeling.skeleton import parse_keypoints, parse_skeleton
from napari_lightning_pose.viewer.layers import LayerData
from napari_lightning_pose.viewer.widgets.docking import settle_when_shown
from napari_lightning_pose.viewer.widgets.frame_picking import FramePickingBox
from napari_lightning_pose.viewer.widgets.layer_watch import watch_layers
from napari_lightning_pose.viewer.widgets.staging import remove_layers
from napari_lightning_pose.viewer.widgets.video_adding import copy_and_open_video
from napari_lightning_pose.viewer.widgets.warmup import frame_shown_first

PLUGIN = "napari-lightning-pose"
LABELING_WIDGET = "Label keypoints"  # display name in napari.yaml
CONTEXT_FRAMES = 2  # neighbours exported on each side, for Lightning Pose's context model


class ProjectWidget(QWidget):
    """Dock widget to set up a labeling project; see the module docstring.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer to show videos in and to dock the labeling widget to.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.project: Project | None = None
        self.worker = None  # the job running now (one at a time)
        self.last_video: Path | None = None  # the video the last Add video put in the project
        self._cancelled = False
        self._cancellable = False  # the job running now stops at Cancel (frame selection)
        self._build_ui()
        self._update_enabled()
        watch_layers(self.viewer)  # lines up prediction layers; "frame" slider, not "fran"

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("folder for the new project")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._choose_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit)
        folder_row.addWidget(browse)
        self.keypoints_edit = QLineEdit()
        self.keypoints_edit.setPlaceholderText("nose, paw_left, paw_right, tail")
        self.keypoints_edit.setToolTip("Keypoint names in labeling order (commas or spaces).")
        self.skeleton_edit = QLineEdit()
        self.skeleton_edit.setPlaceholderText("nose-paw_left, nose-paw_right, nose-tail")
        self.skeleton_edit.setToolTip("Pairs of keypoints joined by a line while labeling.")
        self.create_button = QPushButton("Create project")
        self.create_button.clicked.connect(self.create_project_from_form)
        self.open_button = QPushButton("Open project…")
        self.open_button.clicked.connect(self._choose_project)
        create_row = QHBoxLayout()
        create_row.addWidget(self.create_button)
        create_row.addWidget(self.open_button)
        form = QFormLayout()
        form.addRow("Folder", folder_row)
        form.addRow("Keypoints", self.keypoints_edit)
        form.addRow("Skeleton", self.skeleton_edit)
        new_box = QGroupBox("1. Project")
        new_layout = QVBoxLayout(new_box)
        new_layout.addLayout(form)
        new_layout.addLayout(create_row)
        self.project_label = QLabel("No project open.")
        self.project_label.setWordWrap(True)
        new_layout.addWidget(self.project_label)

        self.add_video_button = QPushButton("Add video…")
        self.add_video_button.setToolTip("Copy a video into the project's videos/ and show it.")
        self.add_video_button.clicked.connect(self._choose_video)
        self.video_combo = QComboBox()
        self.video_combo.setToolTip("The video to pick frames from.")
        video_box = QGroupBox("2. Videos")
        video_layout = QVBoxLayout(video_box)
        video_layout.addWidget(self.add_video_button)
        video_layout.addWidget(self.video_combo)

        frames_box = FramePickingBox()
        self.frames_box = frames_box
        self.n_frames_spin, self.method_combo = frames_box.n_frames_spin, frames_box.method_combo
        self.select_button, self.cancel_button = frames_box.select_button, frames_box.cancel_button
        self.progress, self.progress_label = frames_box.progress, frames_box.progress_label
        self.select_button.clicked.connect(self.select_frames)
        self.cancel_button.clicked.connect(self.cancel)

        self.label_button = QPushButton("Label frames")
        self.label_button.setToolTip("Open the project in the labeling widget.")
        self.label_button.clicked.connect(self.open_labeling)

        self.busy_label = QLabel("")
        self.busy_label.setWordWrap(True)
        self.busy_label.setToolTip("What the dock is doing in the background.")

        layout = QVBoxLayout(self)
        layout.addWidget(new_box)
        layout.addWidget(video_box)
        layout.addWidget(frames_box)
        layout.addWidget(self.label_button)
        layout.addWidget(self.busy_label)
        layout.addStretch(1)
        settle_when_shown(self, self.viewer)

    @property
    def busy(self) -> bool:
        """True while a job runs (adding a video, picking frames, opening the labeling dock)."""
        return self.worker is not None

    def _update_enabled(self) -> None:
        has_project = self.project is not None
        running = self.worker is not None
        self.add_video_button.setEnabled(has_project and not running)
        self.select_button.setEnabled(has_project and self.video_combo.count() > 0 and not running)
        self.cancel_button.setEnabled(running and self._cancellable)
        self.label_button.setEnabled(has_project and not running)
        self.create_button.setEnabled(not running)
        self.open_button.setEnabled(not running)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the new project")
        if folder:
            self.folder_edit.setText(folder)

    def _choose_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a project's config", "", "Project config (*.yaml *.yml)"
        )
        if path:
            self.open_project(path)

    def _choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Add a video", "", "Videos (*.mp4 *.avi *.mov *.mkv);;All files (*)"
        )
        if path:
            self.add_video(path)

    # ------------------------------------------------------------------ actions
    def create_project_from_form(self) -> Path | None:
        """Create a project from the folder, keypoints and skeleton typed in the form."""
        try:
            keypoints = parse_keypoints(self.keypoints_edit.text())
            skeleton = parse_skeleton(self.skeleton_edit.text(), keypoints)
        except ValueError as err:
            show_error(f"Could not create the project: {err}.")
            return None
        return self.create_project(self.folder_edit.text().strip(), keypoints, skeleton)

    def create_project(
        self,
        folder: str | Path,
        keypoints: Sequence[str],
        skeleton: Sequence[Sequence[str]] = (),
    ) -> Path | None:
        """Create a project folder (config.yaml, labeled-data/, videos/) and open it.

        Returns the new config path, or None after showing what was wrong.
        """
        if not str(folder):
            show_error("Choose a folder for the project first.")
            return None
        try:
            config = init_project(folder, keypoints, skeleton)
        except LightningPoseInputError as err:
            show_error(f"Could not create the project: {err}")
            return None
        self.open_project(config)
        return config

    def open_project(self, path: str | Path) -> bool:
        """Open an existing project (folder or config.yaml)."""
        try:
            self.project = Project.open(path)
        except LightningPoseInputError as err:
            show_error(f"Could not open the project: {err}")
            return False
        names = self.project.keypoint_names
        self.project_label.setText(
            f"<b>{self.project.root.name}</b> ({self.project.config_path})<br>"
            f"{len(names)} keypoints: {', '.join(names)}"
        )
        self._refresh_videos()
        return True

    def add_video(self, path: str | Path) -> Any:
        """Copy a video into the project's videos/ and show it as a layer, in a worker.

        The copy, the check that it decodes and the packet scan run in the background; the
        layer is added when they are done (``busy`` is False again, ``last_video`` names the
        video). Returns the worker, or None when nothing was started (no project, busy).
        """
        if self.project is None:
            show_error("Create or open a project first.")
            return None
        if self.busy:
            return None
        path = Path(path)
        shown = {str(layer.metadata.get("video_path")) for layer in self.viewer.layers}
        worker = create_worker(
            copy_and_open_video,
            self.project,
            path,
            shown,
            frame_shown_first(self.viewer),
            _connect={"errored": lambda err: show_error(f"Could not add the video: {err}")},
            _start_thread=False,
        )
        worker.returned.connect(self._on_video_added)
        return self._start(worker, f"adding {path.name}…")

    def _on_video_added(self, result: tuple[Path, LayerData | None]) -> None:
        dest, layer_data = result
        if layer_data is None:  # a second layer of the same video would only confuse
            shown = next(
                layer
                for layer in self.viewer.layers
                if layer.metadata.get("video_path") == str(dest.resolve())
            )
            self.viewer.layers.selection.active = shown
            show_info(f"{dest.name} is already in the project and shown as '{shown.name}'.")
        else:
            data, kwargs, _ = layer_data
            self.viewer.add_image(data, **kwargs)
        self.last_video = dest
        self._refresh_videos(select=dest)

    def select_frames(self) -> None:
        """Pick frames of the chosen video in a worker thread (see the module docstring)."""
        if self.project is None or self.worker is not None:
            return
        video = self.video_combo.currentData()
        if video is None:
            show_error("Add a video to the project first.")
            return
        worker = create_worker(
            iter_pick_frames,
            self.project,
            video,
            self.n_frames_spin.value(),
            self.method_combo.currentText(),
            0,
            CONTEXT_FRAMES,
            _connect={"errored": self._on_error},  # reported here, not raised again
            _start_thread=False,
        )
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(self._on_frames_picked)
        self.frames_box.show_reading(Path(video).name)
        self._start(worker, f"picking frames of {Path(video).name}…", cancellable=True)

    def cancel(self) -> None:
        """Stop frame selection at its next step (frames already written stay on disk)."""
        if self.worker is not None and self._cancellable:
            self._cancelled = True
            self.worker.quit()
            self.progress_label.setText("cancelling…")

    def open_labeling(self) -> Any:
        """Dock the labeling widget (or reuse the docked one) and open this project in it.

        Video layers of the project are removed first: they share the frame slider with the
        frames to label and would stretch it to the video's length. The project's files are
        read in a worker (``LabelingWidget.load_project_in_background``); this dock stays
        busy until the labeling dock shows them. Returns the labeling widget.
        """
        if self.project is None or self.busy:
            return None
        videos = {str(p.resolve()) for p in self.project.video_paths()}
        shown = [la for la in self.viewer.layers if la.metadata.get("video_path") in videos]
        remove_layers(self.viewer, shown)  # one garbage collection, not one per layer
        dock, widget = self.viewer.window.add_plugin_dock_widget(
            PLUGIN, LABELING_WIDGET, tabify=True
        )
        dock.show()
        dock.raise_()  # its tab in front: labeling is the next step
        worker = widget.load_project_in_background(self.project.config_path)
        if worker is not None:  # started by the labeling dock, which reports its errors
            doing = "opening the frames to label…"
            self._start(worker, doing, started=True, done=widget.loading_finished)
        return widget

    # ------------------------------------------------------------------ worker events
    def _on_progress(self, event: FrameProgress) -> None:
        if self._cancelled:  # events still queued from before the cancel
            return
        self.frames_box.show_progress(event)

    def _on_frames_picked(self, images: list[str]) -> None:
        self.frames_box.show_end(f"added {len(images)} frames to label", complete=True)
        show_info(f"Added {len(images)} frames to {self.project.csv_path.name}.")
        self.worker = None  # done: the labeling dock's reading is the next job
        self.open_labeling()

    def _on_error(self, err: Exception) -> None:
        self.frames_box.show_end("failed")
        show_error(f"Frame selection failed: {err}")

    # ------------------------------------------------------------------ jobs
    def _start(
        self,
        worker: Any,
        doing: str,
        cancellable: bool = False,
        started: bool = False,
        done: Any = None,
    ) -> Any:
        """Run ``worker`` as this dock's job: busy line, buttons off until it has finished
        (or, when given, until the signal ``done``: its owner's work after the worker).

        ``cancellable`` enables Cancel; ``started`` when its owner started it already.
        """
        self.worker = worker
        self._cancelled = False
        self._cancellable = cancellable
        finished = self._finisher(worker)
        if done is None:
            worker.finished.connect(finished)
        else:

            def once() -> None:  # the owner's signal outlives this job
                done.disconnect(once)
                finished()

            done.connect(once)
        self.busy_label.setText(f"busy: {doing}")
        self._update_enabled()
        if not started:
            worker.start()
        return worker

    def _finisher(self, worker: Any) -> Callable[[], None]:
        def finished() -> None:
            if self.worker is worker:  # not replaced by a follow-up job (labeling)
                self.worker = None
                self._cancellable = False
                if self._cancelled:
                    self.frames_box.show_end("cancelled")
            if self.worker is None:  # also when the follow-up did not start
                self.busy_label.setText("")
            self._update_enabled()

        return finished

    # ------------------------------------------------------------------ helpers
    def _refresh_videos(self, select: Path | None = None) -> None:
        self.video_combo.clear()
        if self.project is not None:
            for path in self.project.video_paths():
                self.video_combo.addItem(path.name, str(path))
        if select is not None:
            index = self.video_combo.findText(Path(select).name)
            if index >= 0:
                self.video_combo.setCurrentIndex(index)
        self._update_enabled()
