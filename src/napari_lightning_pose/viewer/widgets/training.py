"""Training dock: train an ensemble in the background, with progress, ETA and live losses.

"Continue from the current models" (offered when the project's models folder holds an
ensemble) starts each member from its own trained weights (``training.warm_start``: fresh
optimiser and schedule, the current labels, new frames included), so a refine round takes a
fraction of the steps and the members stay diverse.

The job is the core generator ``jobs.train_ensemble``, run in its own process
(``inference.job_process``: torch never enters the window's process) and driven by napari's
``thread_worker``; Cancel sets the core's stop event (the running member saves ``last.ckpt``
within one step), it is never ``worker.quit()``. Only the plot and the progress bar are
updated on the GUI thread, so the viewer and the other docks stay usable while it trains.
What the choices mean is in ``train_settings``, the loss box in ``loss_strengths``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.inference.job_process import run_in_process
from napari_lightning_pose.inference.jobs import EnsembleTrainEvent, models_dir, train_ensemble
from napari_lightning_pose.io.run_layout import has_checkpoint
from napari_lightning_pose.viewer.widgets.job_dock import JobDock, device_choices
from napari_lightning_pose.viewer.widgets.loss_strengths import LossStrengths
from napari_lightning_pose.viewer.widgets.train_settings import (
    MODEL_TYPES,
    format_eta,
    labels_summary,
    run_config,
)

#: The plot's module: it imports pyqtgraph, so the dock imports it in a worker.
LOSS_PLOT = "napari_lightning_pose.viewer.widgets.loss_plot"


class TrainingWidget(JobDock):
    """Train N ensemble members (different seeds) of a project's model in a worker.

    Parameters
    ----------
    napari_viewer
        The viewer; when its window closes the running job is stopped and waited for, so
        every checkpoint on disk is complete.
    """

    job_name = "Training"

    def __init__(self, napari_viewer: Any = None) -> None:
        super().__init__(napari_viewer)
        self.last_event: EnsembleTrainEvent | None = None
        #: (member, loss name) -> [(x, value)]; values <= 0 are not drawn on the log axis
        self.history: dict[tuple[int, str], list[tuple[float, float]]] = {}
        self.val_points: list[tuple[float, float]] = []
        #: member -> x where its curves start (a dashed line on the plot)
        self.member_starts: dict[int, float] = {}
        self.plot: Any = None  # loss_plot.LossPlot once pyqtgraph is imported
        self._build()
        self._load_plot()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.project_edit = QLineEdit()
        self.project_edit.setPlaceholderText("project folder or its config.yaml")
        self.project_edit.textChanged.connect(lambda _: self.refresh_continue())
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.project_edit, 1)
        row.addWidget(browse)
        self.model_combo = QComboBox()
        self.model_combo.addItems(list(MODEL_TYPES))
        self.model_combo.currentTextChanged.connect(self._model_changed)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 1_000_000)
        self.steps_spin.setValue(300)
        self.members_spin = QSpinBox()
        self.members_spin.setRange(1, 20)
        self.members_spin.setValue(3)
        self.members_spin.setToolTip("ensemble members, trained with model seeds 0..N-1")
        self.device_combo = QComboBox()
        self.device_combo.addItems(device_choices())
        form = QFormLayout()
        form.addRow("Project", row)
        self.labels_note = QLabel("")
        self.labels_note.setWordWrap(True)
        form.addRow("Labels", self.labels_note)
        form.addRow("Model", self.model_combo)
        form.addRow("Steps per member", self.steps_spin)
        form.addRow("Ensemble size", self.members_spin)
        form.addRow("Device", self.device_combo)
        self.continue_check = QCheckBox("Continue from the current models")
        self.continue_check.setToolTip(
            "Start each member from its own trained weights (fresh optimiser and schedule, "
            "current labels): after 'Label these', a fraction of the steps."
        )
        self.continue_check.setEnabled(False)
        form.addRow("", self.continue_check)
        self.folds_check = QCheckBox("Members hold out different frames")
        self.folds_check.setChecked(True)
        self.folds_check.setToolTip(
            "Member m holds out its own share of the labeled frames (training.holdout_fold), "
            "so Label QC judges every label by a model that never trained on it. Off: all "
            "members hold out the same frames."
        )
        form.addRow("", self.folds_check)

        self.loss_group = LossStrengths()
        self.loss_checks = self.loss_group.checks
        self.loss_weights = self.loss_group.weights
        self.loss_notes = self.loss_group.notes
        self.project_edit.textChanged.connect(self._project_changed)
        self.train_button = QPushButton("Train")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel")
        self.train_button.clicked.connect(lambda: self.start(resume=False))
        self.resume_button.clicked.connect(lambda: self.start(resume=True))
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        for b in (self.train_button, self.resume_button, self.cancel_button):
            buttons.addWidget(b)
        self.progress = QProgressBar()
        self.eta_label = QLabel("ETA -")
        self.status.setText("Pick a project, then Train.")
        self.plot_box = QWidget()
        self.plot_box.setMinimumHeight(260)
        QVBoxLayout(self.plot_box).setContentsMargins(0, 0, 0, 0)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.loss_group)
        layout.addLayout(buttons)
        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.eta_label)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.plot_box, 1)
        self._model_changed(self.model_combo.currentText())
        self._set_running(False)

    # ------------------------------------------------------------------ public
    def config_for_run(self) -> dict[str, Any]:
        """The project's config with the dock's model type and losses filled in."""
        return run_config(
            self.project_edit.text().strip(),
            self.model_combo.currentText(),
            self.loss_group.chosen(),
        )

    def current_members(self) -> list[Path]:
        """The run folders of the project's trained ensemble (empty when there is none)."""
        try:
            cfg = self.config_for_run()
        except LightningPoseInputError:
            return []
        root = models_dir(cfg)
        if not root.is_dir():
            return []
        return [d for d in sorted(root.iterdir()) if d.is_dir() and has_checkpoint(d)]

    def refresh_continue(self) -> None:
        """Offer "continue from the current models" only when an ensemble exists."""
        members = self.current_members()
        self.continue_check.setEnabled(bool(members) and not self.running)
        if not members:
            self.continue_check.setChecked(False)
        self.continue_check.setText(
            f"Continue from the current models ({len(members)})"
            if members
            else "Continue from the current models (none yet)"
        )

    def refresh_losses(self) -> None:
        """Offer only the losses the chosen project can train now (the others unticked and
        greyed out, saying what they lack), and show each strength as the log_weight it
        becomes under the project's heatmap loss and input size."""
        from napari_lightning_pose.labeling.project import Project
        from napari_lightning_pose.losses.availability import project_availability

        try:
            cfg = Project.open(self.project_edit.text().strip()).config
            available = project_availability(cfg)
            self.labels_note.setText(labels_summary(cfg))
        except (LightningPoseInputError, OSError, ValueError):
            self.loss_group.clear_notes()
            self.labels_note.setText("")
            return
        self.loss_group.show_project(cfg, available)

    def start(self, resume: bool = False) -> bool:
        """Start (or with ``resume`` continue) training; False with a message if it can't."""
        if self.running:
            self._say("Training is already running: Cancel it first, or wait for it.")
            return False
        try:
            cfg = self.config_for_run()
        except LightningPoseInputError as err:
            self._say(str(err), error=True)
            return False
        self.history, self.val_points, self.last_event = {}, [], None
        self.member_starts = {}
        if self.plot is not None:
            self.plot.clear()
        self.out_dir = models_dir(cfg)
        device = self.device_combo.currentText()
        warm = self.continue_check.isChecked() and not resume
        self.warm = warm
        doing = "Resuming" if resume else "Continuing the current models" if warm else "Training"
        self._say(f"{doing} into {self.out_dir} ...")
        self.run_job(
            run_in_process,  # torch in its own process: no frozen window (job_process)
            train_ensemble,
            cfg,
            self.out_dir,
            self.members_spin.value(),
            steps=self.steps_spin.value(),
            resume=resume,
            device=None if device == "auto" else device,
            warm=warm,
            folds=self.folds_check.isChecked(),
        )
        return True

    def cancel(self) -> bool:
        """Ask the run to stop: the member in training saves ``last.ckpt`` within one step."""
        if not super().cancel():
            return False
        self._say("Stopping after this step (the checkpoint is being saved)...")
        return True

    # ---------------------------------------------------------------- internals
    def _on_event(self, ev: EnsembleTrainEvent) -> None:
        self.last_event = ev
        done, total = ev.progress()
        self.progress.setMaximum(int(total or 0))
        self.progress.setValue(int(done))
        core = ev.event
        x = float(done)
        if core.kind == "step":
            self.eta_label.setText(format_eta(ev.eta_s()))
            self.member_starts.setdefault(ev.member, ev.member * core.total_steps)
            for name, value in core.losses.items():
                # a log axis has no 0: such a value is a gap, not a dip to a made-up floor
                y = float(value) if value > 0 else float("nan")
                self.history.setdefault((ev.member, name), []).append((x, y))
            if core.step % 2 == 0 or core.step == core.total_steps:
                self._redraw()
        elif core.kind in ("validation", "done", "stopped") and core.val_pixel_error:
            self.val_points.append((x, core.val_pixel_error))
            self._redraw()
        if core.kind in ("done", "stopped"):
            val = f", validation {core.val_pixel_error:.2f} px" if core.val_pixel_error else ""
            self._say(
                f"member {ev.member + 1}/{ev.n_members} {core.kind} at step {core.step}{val}"
                f"{'; Resume continues it' if core.kind == 'stopped' else ''}"
            )

    def _redraw(self) -> None:
        """Show the history on the plot (nothing until the plot is there: it then shows it)."""
        if self.plot is not None:
            self.plot.show_history(self.history, self.member_starts, self.val_points)

    def _load_plot(self) -> None:
        """Import the plot's module (pyqtgraph) in a worker, then show the plot.

        Imported on the GUI thread it froze the window for 0.1-0.15 s when the dock opened.
        """
        if LOSS_PLOT in sys.modules:
            self._show_plot()
            return
        import importlib

        from napari.qt.threading import create_worker

        worker = create_worker(importlib.import_module, LOSS_PLOT, _start_thread=False)
        worker.returned.connect(lambda _module: self._show_plot())
        worker.start()

    def _show_plot(self) -> None:
        from napari_lightning_pose.viewer.widgets.loss_plot import LossPlot

        try:
            self.plot = LossPlot()
            self.plot_box.layout().addWidget(self.plot)
        except RuntimeError:  # the dock was deleted before the import finished
            return
        self._redraw()

    # the plot's parts, for tests and scripts (None until the plot is shown)
    @property
    def curves(self) -> dict[tuple[int, str], Any]:
        return {} if self.plot is None else self.plot.curves

    @property
    def boundaries(self) -> list[Any]:
        return [] if self.plot is None else self.plot.boundaries

    @property
    def legend(self) -> Any:
        return None if self.plot is None else self.plot.legend

    @property
    def loss_plot(self) -> Any:
        return None if self.plot is None else self.plot.loss_plot

    def _on_finished(self) -> None:
        self._redraw()
        ev = self.last_event
        if ev is not None and ev.event.kind == "done" and ev.member == ev.n_members - 1:
            self.eta_label.setText("done")
            how = "Continued" if getattr(self, "warm", False) else "Trained"
            self._say(f"{how} {ev.n_members} members into {self.out_dir}.")

    def _set_running(self, running: bool) -> None:
        if hasattr(self, "continue_check"):
            if running:
                self.continue_check.setEnabled(False)
            else:
                self.refresh_continue()
        self.train_button.setEnabled(not running)
        self.resume_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _project_changed(self, _text: str) -> None:
        from napari_lightning_pose.io.config import CONFIG_NAME

        path = Path(self.project_edit.text().strip())
        if path.is_file() or (path / CONFIG_NAME).is_file():  # a whole path: check it
            self.refresh_losses()

    def _model_changed(self, text: str) -> None:
        self.loss_group.setEnabled(MODEL_TYPES[text][1])

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Project config", "", "config (*.yaml)")
        if path:
            self.project_edit.setText(str(Path(path)))
