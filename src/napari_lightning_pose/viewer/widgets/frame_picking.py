"""The Project dock's "Frames to label" box: how many frames and how to pick them, Select
and Cancel, and the progress of the pick as it runs (set from the GUI thread)."""

from __future__ import annotations

from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from napari_lightning_pose.labeling.frames import METHODS, FrameProgress

#: What the progress line says for each stage of ``labeling.frames.iter_pick_frames``.
STAGES = {"read": "reading frames", "cluster": "clustering", "export": "writing PNGs"}


class FramePickingBox(QGroupBox):
    """Frame count, method, Select / Cancel and a progress bar with a line under it."""

    def __init__(self) -> None:
        super().__init__("3. Frames to label")
        self.n_frames_spin = QSpinBox()
        self.n_frames_spin.setRange(1, 10_000)
        self.n_frames_spin.setValue(20)
        self.method_combo = QComboBox()
        self.method_combo.addItems(list(METHODS))
        self.method_combo.setToolTip(
            "kmeans: frames that look different from each other (thumbnails clustered); "
            "uniform: evenly spaced frames."
        )
        self.select_button = QPushButton("Select frames")
        self.select_button.setToolTip(
            "Pick frames of the video, write them to labeled-data/<video>/ and add them to "
            "the labels CSV; then open them for labeling."
        )
        self.cancel_button = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setFormat("%p%")
        self.progress_label = QLabel("")
        form = QFormLayout()
        form.addRow("Frames", self.n_frames_spin)
        form.addRow("Method", self.method_combo)
        run_row = QHBoxLayout()
        run_row.addWidget(self.select_button)
        run_row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(run_row)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)

    def show_reading(self, video_name: str) -> None:
        """Busy (no percentage) until the first event says how far the pick is."""
        self.progress.setRange(0, 0)
        self.progress_label.setText(f"reading {video_name}…")

    def show_progress(self, event: FrameProgress) -> None:
        done, total = event.progress()
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        else:
            self.progress.setRange(0, 0)
        self.progress_label.setText(STAGES.get(event.stage, event.stage))

    def show_end(self, text: str, complete: bool = False) -> None:
        """A full bar (``complete``) or an empty one, and ``text`` under it."""
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if complete else 0)
        self.progress_label.setText(text)
