"""Label QC dock: the labeled frames most likely to hold a wrong label, worst first.

"Check labels" runs ``qc.label_qc`` on the project's labels as they are on disk (the
labeling dock's unsaved edits are saved first) in a worker: pose-PCA and multi-view-PCA
errors, the left/right swap test and, with "use models", the distance to the ensemble's
held-out predictions. The table lists one row per frame with what each criterion added
("why"). Clicking a row opens the frame in the labeling dock with that keypoint selected;
the user fixes the point there (and checks again) or presses "Confirm frame": the frame's
labels are remembered as checked (``qc.label_confirmations``) and the row leaves the list
while they stay where they are. Nothing in this dock changes a label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.viewer.widgets.job_dock import JobDock

#: Short names of the criteria in the "why" column.
SHORT = {
    "pose_pca_error": "pose PCA",
    "conditional_z": "others",
    "multiview_pca_error": "views PCA",
    "swap_gain": "L/R swap",
    "model_distance": "models",
}
MAX_ROWS = 200


class LabelQCWidget(JobDock):
    """Rank the labeled frames by how likely a label is wrong; jump, fix or confirm."""

    job_name = "Label QC"

    def __init__(self, napari_viewer: Any = None) -> None:
        super().__init__(napari_viewer)
        self.result: Any = None
        self.labels: pd.DataFrame | None = None
        self.ranked = pd.DataFrame()
        self.project_edit = QLineEdit()
        self.project_edit.setPlaceholderText("project config.yaml")
        self.models_check = QCheckBox("use models (held-out predictions)")
        self.models_check.setToolTip(
            "Also measure each label's distance to the trained ensemble's prediction, from "
            "members that did not train on the frame."
        )
        self.check_button = QPushButton("Check labels")
        self.check_button.clicked.connect(self.check)
        self.confirm_button = QPushButton("Confirm frame")
        self.confirm_button.setToolTip(
            "These labels are right: remember them as checked (the labels are not changed)."
        )
        self.confirm_button.clicked.connect(lambda: self.confirm_row(self._row()))
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["#", "frame", "keypoint", "score", "why"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.cellClicked.connect(lambda row, _col: self.go_to(row))
        self.table.setMinimumHeight(200)

        form = QFormLayout()
        form.addRow("project", self.project_edit)
        form.addRow("", self.models_check)
        buttons = QHBoxLayout()
        buttons.addWidget(self.check_button)
        buttons.addWidget(self.confirm_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        self._say("Check the labels of a project: the frames most likely wrong come first.")
        self._set_running(False)

    # ------------------------------------------------------------------ public
    def check(self) -> bool:
        """Run label QC on the project's labels in a worker; False when it cannot start."""
        from napari_lightning_pose.qc.label_qc_models import iter_label_qc

        if self.running:
            return False
        config = self.project_edit.text().strip() or self._project_of_labeling()
        if not config:
            self._say("No project chosen: enter its config.yaml.", error=True)
            return False
        self.project_edit.setText(config)
        dock = self._labeling()
        if dock is not None and dock.state is not None:
            dock.save(only_if_dirty=True)  # judge what the user sees
        models: list[Path] = []
        if self.models_check.isChecked():
            try:
                models = self._members(config)
            except LightningPoseInputError as err:
                self._say(str(err), error=True)
                return False
        self._say("Checking the labels" + (f" with {len(models)} models..." if models else "..."))
        if models:  # the models predict with torch, in its own process (job_process)
            from napari_lightning_pose.inference.job_process import run_in_process

            self.run_job(run_in_process, iter_label_qc, config, models)
        else:
            self.run_job(iter_label_qc, config, models)
        return True

    def go_to(self, row: int) -> None:
        """Open row ``row``'s frame in the labeling dock with its keypoint selected."""
        if not 0 <= row < len(self.ranked):
            return
        self.table.selectRow(row)
        image, keypoint = self.ranked.iloc[row][["image", "keypoint"]]
        dock = self._labeling(create=True)
        if dock is None:
            return
        config = self.project_edit.text().strip()
        if dock.state is None or dock.config_path != Path(config).resolve():
            if not dock.load_project(config):
                return
        if image in dock.state.images:
            dock.go_to_frame(dock.state.images.index(image))
            dock.set_current_keypoint(keypoint)
            self._say(f"{image}: check {keypoint}; fix it there, or Confirm frame.")

    def confirm_row(self, row: int) -> bool:
        """Remember row ``row``'s frame as checked; the row leaves the list."""
        from napari_lightning_pose.io.labels import read_labels
        from napari_lightning_pose.labeling.project import Project
        from napari_lightning_pose.qc.label_confirmations import confirm_frames

        if not 0 <= row < len(self.ranked):
            self._say("Select a row to confirm.")
            return False
        image = str(self.ranked.iloc[row]["image"])
        project = Project.open(self.project_edit.text().strip())
        dock = self._labeling()
        if dock is not None and dock.state is not None:
            dock.save(only_if_dirty=True)
        labels = read_labels(project.csv_path, project.config["data"]["keypoint_names"] or None)
        confirm_frames(project.csv_path, labels, [image])
        self.ranked = self.ranked.drop(self.ranked.index[row]).reset_index(drop=True)
        self._fill_table()
        self._say(f"{image} confirmed as checked (its labels are unchanged).")
        if len(self.ranked):
            self.go_to(min(row, len(self.ranked) - 1))
        return True

    # ---------------------------------------------------------------- internals
    def _on_event(self, event: Any) -> None:
        from napari_lightning_pose.labeling.project import Project
        from napari_lightning_pose.qc.label_confirmations import confirmed_now

        if event.kind == "model":
            self._say(f"Predicted the labeled frames with model {event.done}/{event.total}...")
            return
        self.result, self.labels = event.result, event.labels
        csv = Project.open(self.project_edit.text().strip()).csv_path
        skip = confirmed_now(csv, event.labels)
        self.ranked = event.result.ranked(MAX_ROWS, skip)
        self._fill_table()
        confirmed = f" {len({s[0] for s in skip})} confirmed frames left out." if skip else ""
        self._say(
            f"{len(self.ranked)} labeled frames ranked, most likely wrong first.{confirmed} "
            + " ".join(event.notes)
        )

    def _fill_table(self) -> None:
        self.table.setRowCount(len(self.ranked))
        parts = [c for c in self.ranked.columns if c.endswith("_part")]
        for r, row in enumerate(self.ranked.itertuples(index=False)):
            why = sorted(((getattr(row, c), c[: -len("_part")]) for c in parts), reverse=True)
            text = ", ".join(
                f"{SHORT.get(n, n)} {v:.0f}" for v, n in why if np.isfinite(v) and v >= 0.5
            )
            cells = [str(r + 1), Path(str(row.image)).name, str(row.keypoint)]
            cells += [f"{row.score:.1f}", text]
            for c, value in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(value))
        self.table.resizeColumnsToContents()

    def _set_running(self, running: bool) -> None:
        self.check_button.setEnabled(not running)
        self.confirm_button.setEnabled(not running)

    def _row(self) -> int:
        rows = [i.row() for i in self.table.selectedIndexes()]
        return rows[0] if rows else -1

    def _members(self, config: str) -> list[Path]:
        from napari_lightning_pose.inference.jobs import find_members, models_dir
        from napari_lightning_pose.labeling.project import Project

        return find_members(models_dir(Project.open(config).config))

    def _labeling(self, create: bool = False) -> Any:
        from napari_lightning_pose.viewer.widgets.docking import find_dock
        from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget

        dock = find_dock(self, LabelingWidget) if self.window() is not None else None
        if dock is None and create and self.viewer is not None:
            dock = LabelingWidget(self.viewer)
            self.viewer.window.add_dock_widget(dock, name="Label keypoints", area="right")
        return dock

    def _project_of_labeling(self) -> str:
        dock = self._labeling()
        if dock is not None and dock.state is not None:
            return str(dock.config_path)
        return ""
