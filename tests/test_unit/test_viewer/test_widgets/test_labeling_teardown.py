"""After the labeling dock is closed and deleted, the viewer goes on without reaching it.

napari's close button on a dock takes the widget out of its dock and deletes the dock; the
viewer, its layers and its main window stay. Nothing the viewer does afterwards (a frame
change, a key press, removing layers, closing the window) may call into the dead dock,
whose Qt objects are gone.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QEvent, Qt
from qtpy.QtWidgets import QApplication

from napari_lightning_pose.io.labels import read_labels

#: Everything the viewer, its layers, its keys or its window could call on the dock's parts:
#: the dock itself, its editor (keys and the labels layer's callbacks) and its saver.
ENTRY_POINTS = {
    "dock": ("_on_frame_changed", "_on_layer_removing", "save"),
    "editor": (
        "_on_points_data",
        "_on_points_features",
        "next_keypoint",
        "previous_keypoint",
        "next_missing_frame",
        "previous_missing_frame",
        "mark_not_visible",
        "delete_point",
    ),
    "saver": ("_on_autosave", "save", "save_on_close", "on_layer_removing"),
}


def _close_and_delete(viewer, widget) -> None:
    """What the dock's close button does, then the widget's Qt object is deleted."""
    viewer.window.remove_dock_widget(widget)
    widget.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def _use_the_viewer(viewer, press) -> None:
    """A user carrying on: change frame, press the dock's shortcuts, remove every layer."""
    viewer.dims.set_current_step(0, 3)
    for key in (Qt.Key.Key_M, Qt.Key.Key_N, Qt.Key.Key_Down, Qt.Key.Key_Delete):
        press(viewer, key)
    viewer.layers.remove(viewer.layers[-1])
    viewer.layers.clear()


def test_nothing_reaches_the_dock_after_it_is_closed(labeling, click, press, monkeypatch):
    viewer, widget = labeling
    click(viewer, 50, 60)  # an unsaved label: the close saves it, nothing saves it again
    calls: list[str] = []
    _close_and_delete(viewer, widget)
    parts = {"dock": widget, "editor": widget.editor, "saver": widget.saver}
    for part, names in ENTRY_POINTS.items():
        for name in names:  # napari looks bound callbacks up by name on the object
            fake = lambda *a, name=f"{part}.{name}", **k: calls.append(name)  # noqa: E731
            monkeypatch.setattr(parts[part], name, fake)
    _use_the_viewer(viewer, press)
    viewer.close()
    assert calls == []


def test_the_viewer_goes_on_without_errors_after_the_dock_is_deleted(labeling, click, press):
    """No callback into the deleted widget ('wrapped C/C++ object has been deleted')."""
    viewer, widget = labeling
    click(viewer, 50, 60)
    points = widget.points_layer
    _close_and_delete(viewer, widget)
    _use_the_viewer(viewer, press)
    assert points not in viewer.layers
    viewer.close()


def test_closing_the_dock_saves_first(labeling, click):
    viewer, widget = labeling
    csv = widget.labels_path
    click(viewer, 50, 60)
    assert widget.dirty
    viewer.window.remove_dock_widget(widget)
    row = read_labels(csv).loc["labeled-data/img00.png"]
    np.testing.assert_allclose(row.xs("paw1LH_top", level="bodyparts"), [60, 50], atol=1.0)
    widget.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
