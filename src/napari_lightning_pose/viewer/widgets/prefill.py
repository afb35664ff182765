"""Pre-filled, unconfirmed points in the labeling dock (``qc.refine``): shown, and accepted.

Frames sent back by "Label these" carry the smoothed positions as unconfirmed points (kept
apart from the labels, in ``CollectedData.prefill.csv``). :class:`PrefillOverlay` draws them
as a Points layer of magenta crosses, unmistakably not labels, under the labels layer, and
adds an "Accept pre-filled (this frame)" button: accepting saves the labels, writes the
frame's unconfirmed points as confirmed labels and reopens the project at the same frame.
Placing a keypoint by a click confirms it as well (the label wins over the pre-fill).
"""

from __future__ import annotations

from typing import Any

from qtpy.QtWidgets import QPushButton

#: How pre-filled points look: never like a label.
PREFILL_STYLE = {
    "symbol": "cross",
    "face_color": "#ff33ff",
    "border_color": "#ffffff",
    "opacity": 0.9,
}


class PrefillOverlay:
    """The unconfirmed points of a labeling dock's project (see module docstring)."""

    def __init__(self, dock: Any) -> None:
        self.dock = dock
        self.layer: Any = None
        self.button = QPushButton("Accept pre-filled (this frame)")
        self.button.setToolTip(
            "Pre-filled points (magenta crosses) are not labels until confirmed: accept "
            "them as they are, or click the keypoint where it belongs."
        )
        self.button.clicked.connect(self.accept_current)
        self.button.setVisible(False)
        dock.layout().insertWidget(dock.layout().count() - 2, self.button)

    def refresh(self) -> None:
        """(Re)draw the project's unconfirmed points over its frame stack."""
        from napari_lightning_pose.qc.refine import unconfirmed_points

        self.remove()
        dock = self.dock
        if dock.state is None or dock.config_path is None:
            return
        data, features = unconfirmed_points(dock.config_path, dock.state.images)
        self.button.setVisible(len(data) > 0)
        if not len(data):
            return
        size = dock.points_layer.current_size if dock.points_layer is not None else 8
        self.layer = dock.viewer.add_points(
            data,
            ndim=3,
            features=features,
            name=f"{dock.config_path.parent.name} pre-filled (unconfirmed)",
            size=size,
            **PREFILL_STYLE,
        )
        self.layer.editable = False
        self.layer.metadata["kind"] = "prefill"
        if dock.points_layer is not None:  # labels on top, and still the active layer
            layers = dock.viewer.layers
            layers.move(layers.index(self.layer), layers.index(dock.points_layer))
            layers.selection.active = dock.points_layer

    def remove(self) -> None:
        """Take the layer out of the viewer."""
        if self.layer is not None and self.layer in self.dock.viewer.layers:
            self.dock.viewer.layers.remove(self.layer)
        self.layer = None
        self.button.setVisible(False)

    def accept_current(self) -> bool:
        """Confirm the current frame's pre-filled points (labels a person placed stay)."""
        from napari_lightning_pose.qc.refine import confirm_points

        dock = self.dock
        image = dock.current_image
        if image is None or not dock.save(only_if_dirty=True):
            return False
        frame = dock.current_frame
        confirm_points(dock.config_path, image)
        if dock.load_project(dock.config_path):
            dock.go_to_frame(frame)
        return True
