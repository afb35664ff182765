"""Labels move only on purpose: a stray click on a finished frame places nothing; a chosen
keypoint is re-placed; Ctrl+Z / Ctrl+Shift+Z undo and redo every labeling action; the
labeling stack and a video do not share one slider unnoticed. Driven on the canvas."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from qtpy.QtCore import Qt

DOCS = Path(__file__).resolve().parents[4] / "docs"

Key = Qt.Key
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def _xy(widget, frame: int, keypoint: str) -> np.ndarray:
    return widget.state.xy[frame, widget.state.keypoints.index(keypoint)].copy()


def test_a_stray_click_on_a_finished_frame_moves_nothing(labeling, click, press, qtbot):
    viewer, widget = labeling
    widget.go_to_frame(1)  # img01: every keypoint decided; the dock moved on by itself
    before = widget.state.xy.copy()
    n_points = len(widget.points_layer.data)
    click(viewer, 150, 150)
    np.testing.assert_array_equal(widget.state.xy, before, strict=True)
    assert len(widget.points_layer.data) == n_points
    assert not widget.dirty
    status = widget.status_label.text()
    assert "choose it in the list" in status and "M goes to the next frame" in status
    if os.environ.get("NLP_UPDATE_DOCS") == "1":
        from PIL import Image

        viewer.window._qt_window.resize(1400, 900)
        qtbot.wait(100)
        shot = viewer.screenshot(canvas_only=False, flash=False)
        Image.fromarray(shot).save(DOCS / "labeling_frame_done.png")
    # the user chooses the keypoint (Down then Up lands on paw1LH_top): now a click re-places
    press(viewer, Key.Key_Down)
    press(viewer, Key.Key_Up)
    chosen = widget.current_keypoint
    click(viewer, 150, 150)
    np.testing.assert_allclose(_xy(widget, 1, chosen), [150, 150], atol=1.0)
    # on another frame the choice no longer holds
    widget.go_to_frame(2)
    before = widget.state.xy.copy()
    click(viewer, 100, 100)
    np.testing.assert_array_equal(widget.state.xy, before, strict=True)


def test_a_keypoint_chosen_in_the_list_is_replaced_by_a_click(labeling, click, qtbot):
    viewer, widget = labeling
    widget.go_to_frame(1)
    rect = widget.keypoint_list.visualItemRect(widget.keypoint_list.item(2))
    qtbot.mouseClick(widget.keypoint_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert widget.current_keypoint == widget.state.keypoints[2]
    click(viewer, 120, 140)
    np.testing.assert_allclose(_xy(widget, 1, widget.state.keypoints[2]), [140, 120], atol=1.0)


def test_undo_and_redo_every_labeling_action(labeling, click, press, qtbot):
    viewer, widget = labeling
    widget.go_to_frame(0)  # img00: nothing labeled
    start = widget.state.xy.copy()
    click(viewer, 50, 60)  # places paw1LH_top
    click(viewer, 80, 100)  # places paw2LF_top
    press(viewer, Key.Key_N)  # paw3RF_top not visible
    after = (widget.state.xy.copy(), widget.state.not_visible.copy())
    press(viewer, Key.Key_Z, CTRL)  # the mark
    assert not widget.state.not_visible[0, 2]
    press(viewer, Key.Key_Z, CTRL)  # the second click
    assert np.isnan(_xy(widget, 0, "paw2LF_top")).all()
    assert np.isfinite(_xy(widget, 0, "paw1LH_top")).all()
    press(viewer, Key.Key_Z, CTRL)  # the first click
    np.testing.assert_array_equal(widget.state.xy, start, strict=True)
    assert not np.any(np.rint(widget.points_layer.data[:, 0]) == 0)  # the layer follows
    for _ in range(3):
        press(viewer, Key.Key_Z, CTRL | SHIFT)
    np.testing.assert_array_equal(widget.state.xy, after[0], strict=True)
    np.testing.assert_array_equal(widget.state.not_visible, after[1], strict=True)
    assert np.sum(np.rint(widget.points_layer.data[:, 0]) == 0) == 2
    # a deletion is undone too, and what is saved is what is shown
    widget.set_current_keypoint("paw1LH_top")
    press(viewer, Key.Key_Delete)
    assert np.isnan(_xy(widget, 0, "paw1LH_top")).all()
    press(viewer, Key.Key_Z, CTRL)
    np.testing.assert_allclose(_xy(widget, 0, "paw1LH_top"), [60, 50], atol=1.0)
    assert widget.save()
    from napari_lightning_pose.io.labels import frame_labels, read_labels

    row = frame_labels(read_labels(widget.labels_path), widget.state.images[0])
    np.testing.assert_allclose(row[0], [60, 50], atol=1.0)


def test_a_video_open_beside_the_labeling_stack_is_put_aside(
    make_napari_viewer, sample_project, qtbot
):
    from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget

    viewer = make_napari_viewer(show=True)
    video = sample_project.parent / "videos" / "test_vid.mp4"
    (layer,) = viewer.open(str(video), plugin="napari-lightning-pose")
    widget = LabelingWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Label keypoints", area="right")
    assert widget.load_project(sample_project)
    # set aside: frame 21 of the slider is the project's 22nd image, not video frame 21
    assert layer not in viewer.layers
    assert viewer.dims.nsteps[0] == widget.state.n_frames
    assert "test_vid" in widget.status_label.text()
    widget.close_project()
    assert layer in viewer.layers and viewer.dims.nsteps[0] == 994
