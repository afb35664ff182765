"""The labeling dock's Qt widgets: buttons, keypoint list, counts, status and help.

``LabelingPanel`` builds them and shows what it is given (a ``LabelState`` and a frame, the
keypoint to highlight, a status line); it knows nothing of files or layers. The dock
(``labeling.LabelingWidget``) is a panel that connects the buttons to its actions and is the
``LabelingView`` its editor talks to.
"""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_lightning_pose.labeling.session import OpenedProject
from napari_lightning_pose.labeling.state import KeypointStatus, LabelState
from napari_lightning_pose.viewer.layer_styles import keypoint_colors

HELP_TEXT = (
    "<b>Click</b> on the image to place the highlighted keypoint (add mode, key P); "
    "the next one is selected for you. "
    "<b>Drag</b> a point in select mode (S) to move it.<br>"
    "<b>Up/Down</b> keypoint &nbsp; <b>Left/Right</b> frame &nbsp; "
    "<b>M / Shift+M</b> next/previous frame with missing labels<br>"
    "<b>N</b> current keypoint not visible &nbsp; "
    "<b>Delete</b> remove selected point (or the current keypoint's)<br>"
    "<b>Ctrl+Z / Ctrl+Shift+Z</b> undo / redo"
)


class LabelingPanel(QWidget):
    """The labeling dock's widgets and what they show; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.open_button = QPushButton("Open project…")
        self.open_button.setToolTip("Choose a project's config.yaml to label its frames.")
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip(
            "Write the labels CSV now (atomic, old file kept as .bak1). "
            "Labels are also saved every 30 s and when the window closes."
        )
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.save_button)

        self.project_label = QLabel("No project open.")
        self.project_label.setWordWrap(True)
        self.counts_label = QLabel("")
        self.frame_label = QLabel("")
        self.frame_label.setWordWrap(True)
        self.keypoint_list = QListWidget()
        self.keypoint_list.setToolTip(
            "Keypoints in the config's order; the highlighted one is placed by the next click.\n"
            "Click a name to choose it. Up/Down: previous/next keypoint, "
            "N: not visible, Delete: remove."
        )
        self.keypoint_list.setStyleSheet(
            "QListWidget::item:selected { background-color: rgb(0, 122, 204); color: white; }"
        )

        self.missing_button = QPushButton("Next missing (M)")
        self.missing_button.setToolTip("Jump to the next frame with keypoints still to label.")
        self.not_visible_button = QPushButton("Not visible (N)")
        self.not_visible_button.setToolTip(
            "Mark the current keypoint not visible on this frame (saved as an empty cell)."
        )
        actions = QHBoxLayout()
        actions.addWidget(self.missing_button)
        actions.addWidget(self.not_visible_button)

        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.help_label = QLabel(HELP_TEXT)
        self.help_label.setWordWrap(True)
        self.help_label.setTextFormat(Qt.TextFormat.RichText)
        self.help_label.setStyleSheet("font-size: 11px;")

        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.project_label)
        layout.addWidget(self.counts_label)
        layout.addWidget(self.frame_label)
        layout.addWidget(self.keypoint_list, stretch=1)
        layout.addLayout(actions)
        layout.addWidget(self.status_label)
        layout.addWidget(self.help_label)
        self.set_enabled(False)

    def set_enabled(self, enabled: bool) -> None:
        """Turn the buttons that need an open project on or off."""
        for w in (self.save_button, self.missing_button, self.not_visible_button):
            w.setEnabled(enabled)

    def set_status(self, text: str) -> None:
        """Show one line of status under the keypoint list."""
        self.status_label.setText(text)

    def show_current_keypoint(self, keypoint: int) -> None:
        """Select and embolden ``keypoint``'s row of the keypoint list."""
        if self.keypoint_list.currentRow() != keypoint:
            self.keypoint_list.setCurrentRow(keypoint)
        for row in range(self.keypoint_list.count()):
            item = self.keypoint_list.item(row)
            font = item.font()
            font.setBold(row == keypoint)
            item.setFont(font)

    def show_state(self, state: LabelState, frame: int) -> None:
        """Each keypoint's status on ``frame`` in the list; the counts and the frame's name."""
        for k, name in enumerate(state.keypoints):
            item = self.keypoint_list.item(k)
            if item is None:
                continue
            status = state.status(frame, k) if state.n_frames else KeypointStatus.UNLABELED
            suffix = {
                KeypointStatus.LABELED: "  ✓",
                KeypointStatus.NOT_VISIBLE: "  (not visible)",
                KeypointStatus.UNLABELED: "",
            }[status]
            if item.text() != name + suffix:
                item.setText(name + suffix)
        if state.n_frames:
            self.counts_label.setText(state.counts(frame).text())
            self.frame_label.setText(f"frame {frame + 1}/{state.n_frames}: {state.images[frame]}")
        else:
            self.counts_label.setText("no frames to label")
            self.frame_label.setText("")

    def fill_keypoint_list(self, keypoints: list[str], current: int) -> None:
        """List ``keypoints`` with their colours; ``current`` selected."""
        self.keypoint_list.blockSignals(True)
        self.keypoint_list.clear()
        colors = keypoint_colors(keypoints)
        for name in keypoints:
            pix = QPixmap(12, 12)
            pix.fill(QColor.fromRgbF(*colors[name]))
            self.keypoint_list.addItem(QListWidgetItem(QIcon(pix), name))
        self.keypoint_list.setCurrentRow(current)
        self.keypoint_list.blockSignals(False)

    def show_opened(self, opened: OpenedProject, keypoint: int) -> None:
        """The opened project's keypoint list (``keypoint`` current), name, size and file."""
        self.fill_keypoint_list(opened.keypoints, keypoint)
        self.set_enabled(True)
        self.project_label.setText(
            f"<b>{opened.config_path.parent.name}</b>: {len(opened.images)} frames, "
            f"{len(opened.keypoints)} keypoints<br>labels: {opened.labels_path}"
        )

    def say_opened(self, opened: OpenedProject, aside: list[str]) -> None:
        """Status: opened, naming the layers set ``aside`` while it is open."""
        self.set_status(
            f"opened; {', '.join(aside)} set aside while labeling: the slider steps through "
            f"the {len(opened.images)} frames to label (they come back when the project "
            "closes)"
            if aside
            else "opened"
        )

    def show_no_project(self) -> None:
        """Empty list and labels, buttons off: no project is open."""
        self.keypoint_list.clear()
        self.set_enabled(False)
        self.project_label.setText("No project open.")
        self.counts_label.setText("")
        self.frame_label.setText("")
