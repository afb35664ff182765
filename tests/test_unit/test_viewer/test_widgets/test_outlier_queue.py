"""Outlier queue dock in a real napari window: histogram threshold, jumping, Label these."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from napari_lightning_pose.ensemble import smooth_ensemble, write_smoothed_csv
from napari_lightning_pose.io.labels import frame_labels, image_path
from napari_lightning_pose.io.pose_csv import make_pose_frame, write_pose_csv
from napari_lightning_pose.labeling.project import Project

DOCS = Path(__file__).resolve().parents[4] / "docs"


def _save_docs_picture(shot: np.ndarray, name: str) -> None:
    """Refresh ``docs/<name>`` from the test's screenshot when NLP_UPDATE_DOCS=1 (a checkout
    must not change by running its tests)."""
    if os.environ.get("NLP_UPDATE_DOCS") == "1":
        from PIL import Image

        DOCS.mkdir(exist_ok=True)
        Image.fromarray(shot).save(DOCS / name)


@pytest.fixture
def qc_project(blob_project, blob_tools):
    """The blob project with a 3-member ensemble of its 30-frame video (smooth tracks, a jump
    planted at frame 12, members disagreeing at frame 22) smoothed into
    predictions/blobs/blobs.eks.csv."""
    root = blob_project.parent
    rng = np.random.default_rng(0)
    truth = np.array([[30.0, 20.0], [60.0, 55.0]]) + np.cumsum(rng.normal(0, 0.4, (30, 2, 2)), 0)
    # the video shows the blobs where they truly are (the members' errors are theirs)
    blob_tools.write_video(root / "videos" / "blobs.mp4", blob_tools.frames(truth, 80, 96))
    out = root / "predictions" / "blobs"
    out.mkdir(parents=True)
    members = []
    for m in range(3):
        xy = truth + rng.normal(0, 0.3, truth.shape)
        xy[12, 0] += (25.0, 10.0)
        xy[22, 1] += rng.normal(0, 12.0, 2)
        values = np.concatenate([xy, np.full((*xy.shape[:2], 1), 0.9)], axis=-1)
        df = make_pose_frame(values, ["red", "green"], ("x", "y", "likelihood"), scorer="m")
        members.append(write_pose_csv(df, out / f"m{m}.csv"))
    smoothed = write_smoothed_csv(smooth_ensemble(members, smoothing=4.0), out / "blobs.eks.csv")
    return blob_project, smoothed, members


@pytest.fixture
def queue(make_napari_viewer, qc_project, qtbot):
    from napari_lightning_pose.viewer.widgets.outliers import OutlierQueueWidget
    from napari_lightning_pose.viewer.widgets.traces import TracePanel

    config, smoothed, members = qc_project
    from napari_lightning_pose.viewer.layers import video_layer_data
    from napari_lightning_pose.viewer.prediction_layers import prediction_layer_data

    viewer = make_napari_viewer(show=True)
    data, kwargs, _ = video_layer_data(config.parent / "videos" / "blobs.mp4")
    viewer.add_image(data, **kwargs)
    panel = TracePanel(viewer)
    viewer.window.add_dock_widget(panel, name="Traces", area="bottom")
    widget = OutlierQueueWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Outliers", area="right")
    # what the Predict + smooth dock adds: the queue and the traces pick it up
    for data, kwargs, kind in prediction_layer_data(
        smoothed, [("red", "green")], n_video_frames=30, member_csvs=members
    ):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    qtbot.waitUntil(lambda: not widget.busy and not panel.busy, timeout=20_000)
    return viewer, widget, panel, config


def test_threshold_counts_frames_and_rows_jump(queue, qtbot, tmp_path):
    viewer, widget, panel, config = queue
    assert widget.smoothed_csv is not None and widget.smoothed_csv.name == "blobs.eks.csv"
    assert panel.track is not None
    assert widget.project_edit.text() == str(config)
    top = [int(widget.table.item(r, 1).text()) for r in range(2)]
    assert set(top) == {12, 22}
    widget.set_threshold(1e9)
    assert widget.n_above == 0 and widget.table.rowCount() == 0
    widget.set_threshold(0.0)
    many = widget.n_above
    assert many > 2 and widget.table.rowCount() > 2
    widget.line.setValue(float(widget.ranked["combined"].iloc[1]))  # dragging the line
    assert widget.n_above == 2 and widget.table.rowCount() == 2
    assert "2 frames at or above" in widget.above.text()
    widget.go_to(1)
    assert viewer.dims.current_step[0] == int(widget.table.item(1, 1).text())
    assert panel.keypoint == widget.table.item(1, 2).text()
    assert panel.cursor_frame() == viewer.dims.current_step[0]
    widget.previous()
    assert viewer.dims.current_step[0] == int(widget.table.item(0, 1).text())
    widget.next()
    assert viewer.dims.current_step[0] == int(widget.table.item(1, 1).text())
    qtbot.wait(50)
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()
    widget.window().resize(1400, 900)
    qtbot.wait(100)
    _save_docs_picture(viewer.screenshot(canvas_only=False, flash=False), "outlier_queue.png")


@pytest.mark.slow
def test_label_these_appends_prefilled_rows_and_opens_labeling(queue, qtbot):
    viewer, widget, _, config = queue
    project = Project.open(config)
    before = project.csv_path.read_bytes()
    widget.line.setValue(float(widget.ranked["combined"].iloc[1]))
    assert widget.selected_frames() == [12, 22] or sorted(widget.selected_frames()) == [12, 22]
    assert widget.label_these()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30_000)
    assert widget.last_result is not None
    assert sorted(widget.last_result.added) == [image_path("blobs", 12), image_path("blobs", 22)]
    assert project.csv_path.read_bytes().startswith(before)
    from napari_lightning_pose.viewer.widgets.docking import find_dock
    from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget

    dock = find_dock(widget, LabelingWidget)
    assert dock is not None and dock.state is not None
    assert dock.current_image in widget.last_result.added
    # pre-filled points: their own layer of crosses, not labels
    pre = dock.prefill.layer
    assert pre is not None and len(pre.data) == 4
    assert str(pre.symbol[0]).lower().endswith("cross")
    assert np.isnan(dock.state.xy[dock.state.images.index(dock.current_image)]).all()
    # frame 12: the ensemble jumped, so its pre-filled red point is off the blob, to be moved
    dock.go_to_frame(dock.state.images.index(image_path("blobs", 12)))
    widget.window().resize(1400, 900)
    qtbot.wait(100)
    _save_docs_picture(viewer.screenshot(canvas_only=False, flash=False), "refine_flow.png")
    # accepting the current frame's pre-filled points makes them labels
    image = dock.current_image
    assert dock.prefill.accept_current()
    row = frame_labels(project.read_labels(), image)
    assert np.isfinite(row).all()
    assert len(dock.prefill.layer.data) == 2  # the other frame's are still unconfirmed
    # a second time: skipped, nothing changes
    snapshot = project.csv_path.read_bytes()
    assert widget.label_these([12])
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30_000)
    assert "already has a row" in widget.status.text()
    assert project.csv_path.read_bytes() == snapshot


def test_queue_is_diverse_by_default_and_says_why(queue, qtbot):
    from qtpy.QtCore import Qt

    from napari_lightning_pose.qc.defaults import DEFAULT_MIN_GAP

    viewer, widget, _, _ = queue
    assert widget.gap_spin.value() == DEFAULT_MIN_GAP and widget.spread_check.isChecked()
    frames = widget.ranked["frame"].to_numpy()
    assert np.diff(np.sort(frames)).min() >= DEFAULT_MIN_GAP
    # the "why" column: what each score added, largest first
    header = widget.table.horizontalHeaderItem(4).text()
    assert header == "why"
    why = widget.table.item(0, 4).text()
    assert why and any(name in why for name in ("jump", "spread", "residual", "posterior"))
    # a click on a row (a real mouse click on the table) jumps the viewer there
    rect = widget.table.visualItemRect(widget.table.item(1, 1))
    qtbot.mouseClick(widget.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert viewer.dims.current_step[0] == int(widget.table.item(1, 1).text())
    # diversity off: neighbouring frames may be listed again
    widget.spread_check.setChecked(False)
    widget.gap_spin.setValue(0)
    assert len(widget.ranked) > len(frames)


def test_next_missing_after_label_these_goes_to_the_new_frames(queue, qtbot, errors):
    """Issue 24, 3: "Next missing (M)" said "Every frame is labeled." while the dock showed
    frames still to label after Label these."""
    from qtpy.QtCore import Qt

    viewer, widget, _, _config = queue
    assert widget.label_these([12, 22])
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30_000)
    from napari_lightning_pose.viewer.widgets.docking import find_dock
    from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget

    dock = find_dock(widget, LabelingWidget)
    qtbot.waitUntil(lambda: dock.state is not None and not dock.loading, timeout=30_000)
    todo = [f for f in range(dock.state.n_frames) if not dock.state.decided()[f].all()]
    assert len(todo) == 2, dock.counts_label.text()
    dock.go_to_frame(0)
    seen = set()
    for _ in range(2):
        qtbot.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_M)
        seen.add(dock.current_frame)
    assert seen == set(todo)
    assert not any("Every frame is labeled" in e for e in errors)
