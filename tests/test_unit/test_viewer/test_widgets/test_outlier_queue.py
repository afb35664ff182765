"""Outlier queue dock in a real napari window: histogram threshold, jumping, Label these."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from napari_lightning_pose.ensemble import smooth_ensemble, write_smoothed_csv
from napari_lightning_pose.io.image_paths import image_path
from napari_lightning_pose.io.labels import frame_labels
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


def _with_ensemble(config: Path, blob_tools) -> tuple[Path, Path, list[Path]]:
    """A 3-member ensemble of the blob project's 30-frame video (smooth tracks, a jump
    planted at frame 12, members disagreeing at frame 22) smoothed into
    predictions/blobs/blobs.eks.csv."""
    root = config.parent
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
    return config, smoothed, members


def _open_queue(make_napari_viewer, qtbot, config, smoothed, members):
    """A shown viewer with the video, the Traces panel, the Outlier queue and the smoothed
    layers (as Predict + smooth adds them), once the queue and the traces have scored."""
    from napari_lightning_pose.viewer.layers import video_layer_data
    from napari_lightning_pose.viewer.prediction_layers import prediction_layer_data
    from napari_lightning_pose.viewer.widgets.outliers import OutlierQueueWidget
    from napari_lightning_pose.viewer.widgets.traces import TracePanel

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


@pytest.fixture
def qc_project(blob_project, blob_tools):
    """The blob project with its smoothed ensemble (``_with_ensemble``)."""
    return _with_ensemble(blob_project, blob_tools)


@pytest.fixture
def queue(make_napari_viewer, qc_project, qtbot):
    return _open_queue(make_napari_viewer, qtbot, *qc_project)


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
    # Ctrl+click adds a row to the selection (what Label these sends), and jumps there too
    assert widget.table.rowCount() >= 3
    rect = widget.table.visualItemRect(widget.table.item(2, 1))
    ctrl = Qt.KeyboardModifier.ControlModifier
    qtbot.mouseClick(widget.table.viewport(), Qt.MouseButton.LeftButton, ctrl, rect.center())
    picked = [int(widget.table.item(r, 1).text()) for r in (1, 2)]
    assert widget.selected_frames() == picked
    assert viewer.dims.current_step[0] == picked[1]
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


@pytest.fixture
def demo_named_queue(make_napari_viewer, tmp_path, blob_tools, qtbot):
    """The queue on a blob project whose labeled frames are named as in the demo's sample:
    ``labeled-data/img00.png`` .. ``img39.png`` (2 digits)."""
    config = blob_tools.make_project(tmp_path / "blobs", frame_digits=2)
    return _open_queue(make_napari_viewer, qtbot, *_with_ensemble(config, blob_tools))


def _digits(image: str) -> int:
    """The width of the frame number in an ``img<frame>.png`` name."""
    match = re.fullmatch(r"img(\d+)\.png", Path(image).name)
    assert match, image
    return len(match.group(1))


@pytest.mark.slow  # a window, a worker writing frames and a labeling dock: ~20 s
def test_label_these_names_new_frames_like_the_projects_frames(
    demo_named_queue, qtbot, click, errors
):
    """Issue 24, 9: "New frame names are inconsistent: img00139.png from Label these,
    img213.png from the demo." On a project named like the demo's (2 digits), the frames
    Label these adds, their PNGs and context neighbours, the pre-fill and the row a user
    then labels are all named with 2 digits: one name per frame everywhere."""
    from qtpy.QtCore import Qt

    from napari_lightning_pose.qc.refine import read_prefill
    from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget
    from napari_lightning_pose.viewer.widgets.outliers import find_dock

    viewer, widget, _, config = demo_named_queue
    project = Project.open(config)
    before = project.csv_path.read_bytes()
    existing = list(project.read_labels().index)
    assert {_digits(im) for im in existing} == {2}
    # the user clicks the top row of the queue and presses Label these, then the next row
    # (a click on a row selects that row alone: Ctrl+click does not add to it)
    table = widget.table
    left = Qt.MouseButton.LeftButton
    frames = []
    for row in (0, 1):
        rect = table.visualItemRect(table.item(row, 1))
        qtbot.mouseClick(table.viewport(), left, pos=rect.center())
        assert len(widget.selected_frames()) == 1
        frames += widget.selected_frames()
        qtbot.mouseClick(widget.label_button, left)
        qtbot.waitUntil(lambda: widget.worker is None, timeout=30_000)
        assert widget.last_result is not None
        assert widget.last_result.added == [f"labeled-data/blobs/img{frames[-1]:02d}.png"]
    assert sorted(frames) == [12, 22]
    new = [f"labeled-data/blobs/img{f:02d}.png" for f in frames]
    # the labels file: the old rows untouched, one row per new frame, every name 2 digits
    labels = project.read_labels()
    assert project.csv_path.read_bytes().startswith(before)
    assert list(labels.index) == existing + new
    assert {_digits(im) for im in labels.index} == {2}
    # every row's PNG is on disk under that name; the context frames are named alike
    root = config.parent
    assert all((root / im).is_file() for im in labels.index)
    written = sorted(p.name for p in (root / "labeled-data" / "blobs").glob("*.png"))
    assert written and {_digits(name) for name in written} == {2}, written
    assert sorted(read_prefill(project).index) == sorted(new)
    # the labeling dock opens on a new frame; the user clicks the red blob and accepts the
    # pre-filled green point: the row of that name is the one saved
    dock = find_dock(widget, LabelingWidget)
    qtbot.waitUntil(lambda: dock.state is not None and not dock.loading, timeout=30_000)
    image = dock.current_image
    assert image in new
    assert sorted(
        im for im in dock.state.images if im.startswith("labeled-data/blobs/")
    ) == sorted(new)
    from PIL import Image

    pixels = np.asarray(Image.open(root / image).convert("RGB")).astype(int)
    red_y, red_x = np.unravel_index(np.argmax(pixels[..., 0] - pixels[..., 1]), pixels.shape[:2])
    click(viewer, float(red_y), float(red_x))
    qtbot.mouseClick(dock.prefill.button, left)
    labels = project.read_labels()
    assert list(labels.index) == existing + new  # no second row under another name
    row = frame_labels(labels, image)
    assert np.isfinite(row).all()
    assert np.allclose(row[0], (red_x, red_y), atol=1.0)  # x, y where the user clicked
    assert not [e for e in errors if "rror" in e]
    widget.window().resize(1400, 900)
    qtbot.wait(100)
    shot = viewer.screenshot(canvas_only=False, flash=False)
    assert shot.ndim == 3 and shot[..., :3].std() > 10  # a drawn window, not a blank one
    _save_docs_picture(shot, "label_these_frame_names.png")
