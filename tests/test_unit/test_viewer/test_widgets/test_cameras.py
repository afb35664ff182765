"""A multi-camera result in the real window: grid of cameras, traces of every camera, 3-D."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from napari_lightning_pose.viewer.layer_styles import POSTERIOR_SD_LIMITS_PX, heat_rgba

from ..camera_rig import CAMERAS, HOT, KEYPOINTS, SHIFT

# window and training tests of a few seconds each: the fast lane leaves them to CI
pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[4] / "docs"


def _save_docs_picture(shot: np.ndarray, name: str) -> None:
    """Refresh ``docs/<name>`` when NLP_UPDATE_DOCS=1 (running the tests changes nothing)."""
    if os.environ.get("NLP_UPDATE_DOCS") == "1":
        from PIL import Image

        Image.fromarray(shot).save(DOCS / name)


def test_output_folder_opens_as_a_grid_of_cameras_with_traces_of_each(
    make_napari_viewer, rig, qtbot
) -> None:
    from napari_lightning_pose.viewer.widgets.traces import TracePanel

    viewer = make_napari_viewer(show=True)
    panel = TracePanel(viewer)
    viewer.window.add_dock_widget(panel, name="Traces", area="bottom")
    viewer.open(str(rig["out_dir"]), plugin="napari-lightning-pose")
    qtbot.waitUntil(lambda: not panel.busy and len(panel.cameras) == 3, timeout=20_000)
    assert viewer.canvas.grid.enabled and viewer.canvas.grid.stride == 4
    layers = list(viewer.layers)
    assert len(layers) == 4 * len(CAMERAS)
    # each camera's video and its smoothed layers share a view box; cameras differ
    boxes = [viewer.canvas.grid.position(i, layers) for i in range(len(layers))]
    assert len(set(boxes)) == len(CAMERAS)
    for c in range(len(CAMERAS)):
        assert len(set(boxes[4 * c : 4 * c + 4])) == 1
    assert [layers[4 * c + 3].name for c in range(3)] == list(CAMERAS)
    points = viewer.layers["side"]
    np.testing.assert_allclose(
        points.face_color,
        heat_rgba(points.features["posterior_sd"], POSTERIOR_SD_LIMITS_PX),
        atol=0.02,
    )
    # the trace panel: the chosen keypoint in every camera (one x, y and SD line each)
    assert list(panel.cameras) == list(CAMERAS)
    panel.set_keypoint(KEYPOINTS[1])
    for plot in panel.plots:
        curves = [i for i in plot.listDataItems() if i.name() in CAMERAS or i.name() is None]
        assert len(curves) >= len(CAMERAS)
    assert [n for n in (i.name() for i in panel.plots[0].listDataItems()) if n] == list(CAMERAS)
    assert all(name in panel.status.text() for name in CAMERAS)  # the key to the colours
    # one time slider for all cameras, the cursor following it
    viewer.dims.set_current_step(0, HOT.frame)
    assert panel.cursor_frame() == HOT.frame
    for c in range(3):
        assert layers[4 * c + 3]._slice_input.world_slice.point[0] == HOT.frame
    viewer.layers.selection.active = points
    qtbot.wait(300)  # the legend dock settles (and gives the window its size back) first
    viewer.window._qt_window.resize(1400, 900)
    qtbot.wait(300)
    shot = viewer.screenshot(canvas_only=False, flash=False)
    _save_docs_picture(shot, "multicam_grid.png")
    canvas = viewer.screenshot(canvas_only=True, flash=False)
    # three video boxes side by side: bright blobs in each third of the canvas's width
    thirds = np.array_split(canvas[..., :3].max(axis=-1), 3, axis=1)
    assert all((part > 150).sum() > 20 for part in thirds)


def test_cameras_dock_shows_the_3d_skeleton_tied_to_the_time_slider(
    make_napari_viewer, rig, qtbot
) -> None:
    viewer = make_napari_viewer(show=True)
    _, dock = viewer.window.add_plugin_dock_widget("napari-lightning-pose", "Cameras")
    assert not dock.show_3d_button.isEnabled()
    assert dock.open(rig["out_dir"])
    qtbot.waitUntil(lambda: not dock.busy, timeout=20_000)
    assert "3 cameras (top, side, front), with videos; 3-D table found" in dock.status.text()
    assert viewer.canvas.grid.enabled and len(viewer.layers) == 12
    assert dock.show_3d_button.isEnabled()
    assert dock.show_3d(make_napari_viewer(show=True))
    qtbot.waitUntil(lambda: not dock.busy and dock.viewer_3d is not None, timeout=20_000)
    viewer3d = dock.viewer_3d
    assert viewer3d.dims.ndisplay == 3
    assert [layer.name for layer in viewer3d.layers] == ["3d skeleton", "3d"]
    points = viewer3d.layers["3d"]
    np.testing.assert_allclose(
        points.face_color,
        heat_rgba(points.features["posterior_sd"], POSTERIOR_SD_LIMITS_PX),
        atol=0.02,
    )
    skeleton = viewer3d.layers["3d skeleton"]
    assert skeleton.edge_color.shape == (len(skeleton.data), 4)
    # the two windows' sliders move together, both ways
    viewer.dims.set_current_step(0, HOT.frame)
    assert viewer3d.dims.current_step[0] == HOT.frame
    viewer3d.dims.set_current_step(0, 5)
    assert viewer.dims.current_step[0] == 5
    viewer3d.dims.set_current_step(0, HOT.frame)
    shown = points._view_indices
    assert set(points.features["frame"].to_numpy()[shown]) == {HOT.frame}
    qtbot.wait(300)
    viewer3d.window._qt_window.resize(1100, 800)
    qtbot.wait(300)
    viewer3d.reset_view()
    scene = getattr(viewer3d, "scene", viewer3d)  # napari 0.9 moved the camera there
    scene.camera.angles = (-20, 30, 140)
    qtbot.wait(200)
    shot = viewer3d.screenshot(canvas_only=False, flash=False)
    _save_docs_picture(shot, "multicam_3d.png")
    canvas = viewer3d.screenshot(canvas_only=True, flash=False)
    assert (canvas[..., 0] > 200).sum() > 50  # the keypoints are drawn (heat colours: red high)


def test_outlier_queue_ranks_the_cameras_frames_by_worst_camera_and_reprojection(
    make_napari_viewer, rig, qtbot
) -> None:
    from napari_lightning_pose.viewer.widgets.outliers import OutlierQueueWidget
    from napari_lightning_pose.viewer.widgets.traces import TracePanel

    viewer = make_napari_viewer(show=True)
    panel = TracePanel(viewer)
    viewer.window.add_dock_widget(panel, name="Traces", area="bottom")
    queue = OutlierQueueWidget(viewer)
    viewer.window.add_dock_widget(queue, name="Outlier queue", area="right")
    viewer.open(str(rig["out_dir"]), plugin="napari-lightning-pose")
    qtbot.waitUntil(lambda: queue.scores is not None and not queue.busy, timeout=20_000)
    qtbot.waitUntil(lambda: not panel.busy and len(panel.cameras) == 3, timeout=20_000)
    assert queue.smoothed_csv == rig["out_dir"]
    assert "worst of 3 cameras" in queue.source.text()
    combos = [queue.score_combo.itemText(i) for i in range(queue.score_combo.count())]
    assert "reprojection_error" in combos
    rows = {
        int(queue.table.item(r, 1).text()): queue.table.item(r, 4).text()
        for r in range(min(2, queue.table.rowCount()))
    }
    assert set(rows) == {HOT.frame, SHIFT.frame}
    assert rows[HOT.frame].startswith(f"{HOT.camera}:")
    assert "reprojection" in rows[SHIFT.frame]
    queue.score_combo.setCurrentText("reprojection_error")
    assert int(queue.table.item(0, 1).text()) == SHIFT.frame
    assert queue.table.item(0, 4).text().startswith(f"{SHIFT.camera}:")
    queue.go_to(0)  # the one slider: every camera's view box moves to the frame
    assert viewer.dims.current_step[0] == SHIFT.frame
    assert panel.keypoint == KEYPOINTS[SHIFT.keypoint] and panel.cursor_frame() == SHIFT.frame
    assert not queue.label_these()  # one video's frames only, and it says so
    assert "one video" in queue.status.text()
    qtbot.wait(300)
    viewer.window._qt_window.resize(1500, 950)
    qtbot.wait(300)
    _save_docs_picture(viewer.screenshot(canvas_only=False, flash=False), "multicam_outliers.png")
