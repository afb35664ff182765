"""Label views dock in the real window: the views in the grid, a label goes to its view's
CSV, offers from the other views and reprojection errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from napari_lightning_pose.io.labels import read_labels

from ...test_labeling.view_project import KEYPOINTS, VIEWS, labels_csv, make_view_project

# window and training tests of a few seconds each: the fast lane leaves them to CI
pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[4] / "docs"


def _click_in_box(viewer, qtbot, box: int, y: float, x: float) -> None:
    """A real left click on the canvas at world (y, x) in the grid's view box ``box``."""
    from qtpy.QtCore import QPoint, Qt

    canvas = viewer.window._qt_viewer.canvas
    view = canvas.grid_views[box]
    pos = (view.transform * view.scene.transform).map([x, y])[:2]
    point = QPoint(round(float(pos[0])), round(float(pos[1])))
    qtbot.mouseClick(canvas.native, Qt.MouseButton.LeftButton, pos=point)


@pytest.fixture
def dock(make_napari_viewer, tmp_path, qtbot):
    config, pixels = make_view_project(tmp_path / "proj")
    viewer = make_napari_viewer(show=True)
    _, widget = viewer.window.add_plugin_dock_widget("napari-lightning-pose", "Label views")
    assert widget.load_project(config)
    qtbot.waitUntil(lambda: not widget.busy, timeout=20_000)
    return viewer, widget, config, pixels


def test_views_in_the_grid_offers_and_a_save_per_view(dock, qtbot) -> None:
    viewer, widget, config, pixels = dock
    root = config.parent
    assert "3 views, 4 frames" in widget.status.text()
    assert viewer.dims.current_step[0] == 0
    assert viewer.dims.axis_labels[0] == "frame" and viewer.dims.nsteps[0] == 4
    grid = viewer.canvas.grid
    assert grid.enabled and grid.stride == 4
    layers = list(viewer.layers)
    assert len({grid.position(i, layers) for i in range(len(layers))}) == len(VIEWS)
    assert widget.view == "top"
    assert viewer.layers.selection.active.name == "top labels"
    # frame 1: front has no labels; top and side do: front is offered their triangulation
    viewer.dims.set_current_step(0, 1)
    offers = widget.offers["front"]
    assert "session0 img1.png" in widget.status.text(), widget.status.text()
    assert len(offers.data) == len(KEYPOINTS)
    np.testing.assert_allclose(offers.data[:, [2, 1]], pixels["front"][1], atol=1e-6)
    assert len(widget.offers["top"].data) == 0
    if os.environ.get("NLP_UPDATE_DOCS") == "1":  # the offers of frame 1 (magenta crosses)
        from PIL import Image

        qtbot.wait(300)
        viewer.window._qt_window.resize(1400, 800)
        qtbot.wait(300)
        Image.fromarray(viewer.screenshot(canvas_only=False, flash=False)).save(
            DOCS / "multicam_labeling.png"
        )
    # frame 2: front's nose is 10 px off; its error is listed and flagged
    viewer.dims.set_current_step(0, 2)
    text = widget.errors.text()
    assert "front: nose 10.0 (!)" in text and text.count("(!)") == 1, text
    # frame 1, top's labels active: a click in front's box labels front's nose there
    viewer.dims.set_current_step(0, 1)
    assert widget.view == "top"
    nose = widget.offers["front"].data[0, 1:]
    _click_in_box(viewer, qtbot, VIEWS.index("front"), *nose)
    assert widget.view == "front"
    assert viewer.layers.selection.active.name == "front labels"
    front = widget.views.sessions["front"].state
    np.testing.assert_allclose(front.xy[1, 0], nose[::-1], atol=1.0)
    assert np.isnan(widget.views.sessions["top"].state.xy[1]).sum() == 0  # top untouched
    # the other two keypoints: take the offers
    assert widget.accept_offers() == 2
    assert len(widget.offers["front"].data) == 0  # taken
    before = {v: labels_csv(root, v).read_bytes() for v in ("top", "side")}
    assert widget.dirty
    assert widget.save()
    assert not widget.dirty
    saved = read_labels(labels_csv(root, "front"), KEYPOINTS)
    np.testing.assert_allclose(
        saved.iloc[1].to_numpy().reshape(-1, 2), pixels["front"][1], atol=1.0
    )
    assert all(labels_csv(root, v).read_bytes() == before[v] for v in before)
    # frame 3 is labeled everywhere: choosing front's ear and clicking moves it
    viewer.dims.set_current_step(0, 3)
    widget.keypoint_combo.activated.emit(KEYPOINTS.index("ear"))  # the user picks it
    _click_in_box(viewer, qtbot, VIEWS.index("front"), 60.0, 70.0)
    np.testing.assert_allclose(front.xy[3, 1], (70.0, 60.0), atol=1.0)
    assert widget.views.sessions["front"].dirty and not widget.views.sessions["top"].dirty
    # closing the window saves it (as the labeling dock does)
    viewer.close()
    saved = read_labels(labels_csv(root, "front"), KEYPOINTS)
    np.testing.assert_allclose(saved.iloc[3, 2:4], (70.0, 60.0), atol=1.0)


def test_the_split_mirror_mouse_sample_labels_view_by_view(
    make_napari_viewer, split_sample, tmp_path, qtbot
) -> None:
    """Real data: the bundled sample split into top and bottom cameras opens with both views'
    50 labeled frames side by side, each view's labels on its own crop."""
    import shutil

    from napari_lightning_pose.io.pose_csv import coords_array

    root = Path(shutil.copytree(split_sample.config.parent, tmp_path / "split"))
    viewer = make_napari_viewer(show=True)
    _, widget = viewer.window.add_plugin_dock_widget("napari-lightning-pose", "Label views")
    assert widget.load_project(root / "config.yaml")
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    vs = widget.views
    assert vs.views == split_sample.views and not vs.left_out
    assert len(vs.frames) == 50 and "No calibration found" in widget.status.text()
    for view, csv in zip(split_sample.views, split_sample.csv_files, strict=True):
        labels = read_labels(root / csv.name, split_sample.keypoint_names)
        state = vs.sessions[view].state
        pairs = zip(vs.frames, state.images, strict=True)
        assert all(f"{session}_{view}/{name}" in img for (session, name), img in pairs)
        rows = [labels.index.get_loc(img) for img in state.images]
        np.testing.assert_allclose(state.xy, coords_array(labels)[rows])
        assert len(widget.labels[view].data) == int(np.isfinite(state.xy[..., 0]).sum())
    assert "No calibration" in widget.errors.text()
    viewer.dims.set_current_step(0, 7)
    qtbot.wait(300)
    viewer.window._qt_window.resize(1400, 800)
    qtbot.wait(300)
    if os.environ.get("NLP_UPDATE_DOCS") == "1":
        from PIL import Image

        Image.fromarray(viewer.screenshot(canvas_only=False, flash=False)).save(
            DOCS / "multicam_labeling_mirror.png"
        )
