"""Prediction layers in the real window: reader, colours, legend, trace cursor and clicks."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import QPoint, Qt

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.viewer.layer_styles import POSTERIOR_SD_LIMITS_PX, heat_rgba
from napari_lightning_pose.viewer.prediction_layers import read_pose_track
from napari_lightning_pose.viewer.widgets.legend import UncertaintyLegend
from napari_lightning_pose.viewer.widgets.traces import TracePanel

from ..test_prediction_layers import prediction_csv, smoothed_csv

N = 12


@pytest.fixture
def video(tmp_path: Path, blob_tools) -> Path:
    frames = blob_tools.frames(blob_tools.positions(N, 80, 96), 80, 96)
    return blob_tools.write_video(tmp_path / "clip.mp4", frames)


def test_drag_and_drop_video_then_smoothed_csv(make_napari_viewer, tmp_path, video) -> None:
    viewer = make_napari_viewer(show=True)
    viewer.open(str(video), plugin="napari-lightning-pose")
    csv = smoothed_csv(tmp_path / "clip.eks.csv", n=N, hot=(7, 1))
    viewer.open(str(csv), plugin="napari-lightning-pose")
    points = viewer.layers["clip.eks"]
    assert {"tracks", "points"} <= {type(lay).__name__.lower() for lay in viewer.layers}
    assert list(points.features.columns[:5]) == [
        "keypoint",
        "frame",
        "likelihood",
        "posterior_sd",
        "ensemble_sd",
    ]
    hot = int(np.argmin(points.face_color[:, 1]))
    assert (points.features["frame"][hot], points.features["keypoint"][hot]) == (7, "paw")
    np.testing.assert_allclose(
        points.face_color,
        heat_rgba(points.features["posterior_sd"], POSTERIOR_SD_LIMITS_PX),
        atol=0.02,
    )
    # same time axis as the video: the slider still has the video's 12 frames, and frame 7
    # of the points is frame 7 of the video
    assert viewer.dims.nsteps[0] == N
    np.testing.assert_array_equal(points.data[:, 0], points.features["frame"])


def test_prediction_csv_of_another_length_is_refused(make_napari_viewer, tmp_path, video) -> None:
    viewer = make_napari_viewer(show=True)
    viewer.open(str(video), plugin="napari-lightning-pose")
    csv = prediction_csv(tmp_path / "other.csv", n=N + 5)
    with pytest.raises(Exception, match=r"has 17 frames .* has 12") as info:
        viewer.open(str(csv), plugin="napari-lightning-pose")
    assert isinstance(info.value, LabelsError) or isinstance(info.value.__cause__, LabelsError)
    assert len(viewer.layers) == 1  # only the video


def test_smoothed_csv_without_video_opens_with_a_warning(make_napari_viewer, tmp_path) -> None:
    viewer = make_napari_viewer(show=True)
    csv = smoothed_csv(tmp_path / "clip.eks.csv", n=N)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        viewer.open(str(csv), plugin="napari-lightning-pose")
    assert any("without its video" in str(w.message) for w in caught)
    assert "clip.eks" in viewer.layers


def test_labels_reader_still_takes_labels(make_napari_viewer, bundled_sample) -> None:
    viewer = make_napari_viewer()
    viewer.open(str(bundled_sample / "CollectedData.csv"), plugin="napari-lightning-pose")
    assert "CollectedData" in viewer.layers


def test_legend_range_matches_the_layer_and_shows_in_screenshot(
    make_napari_viewer, tmp_path, video, qtbot
) -> None:
    viewer = make_napari_viewer(show=True)
    legend = UncertaintyLegend(viewer)
    viewer.window.add_dock_widget(legend, name="Uncertainty legend", area="bottom")
    viewer.open(str(video), plugin="napari-lightning-pose")
    viewer.open(str(smoothed_csv(tmp_path / "clip.eks.csv", n=N)), plugin="napari-lightning-pose")
    points = viewer.layers["clip.eks"]
    assert legend.limits == tuple(points.face_contrast_limits) == POSTERIOR_SD_LIMITS_PX
    ticks = legend.tick_labels()
    assert ticks[0] == (0.0, "0") and ticks[-1][1] == "\u226510"
    qtbot.wait(50)
    shot = viewer.screenshot(canvas_only=False, flash=False)
    # the legend's red end is in the window picture
    red = (shot[..., 0] > 200) & (shot[..., 1] < 40) & (shot[..., 2] < 60)
    assert red.sum() > 50
    viewer.open(str(prediction_csv(tmp_path / "clip.csv", n=N)), plugin="napari-lightning-pose")
    assert legend.color_by == "likelihood" and legend.limits == (0.0, 1.0)


def test_trace_cursor_follows_slider_and_click_moves_it(
    make_napari_viewer, tmp_path, video, qtbot
) -> None:
    viewer = make_napari_viewer(show=True)
    panel = TracePanel(viewer, window=10)
    viewer.window.add_dock_widget(panel, name="Traces", area="bottom")
    viewer.open(str(video), plugin="napari-lightning-pose")
    members = [prediction_csv(tmp_path / f"m{i}.csv", n=N) for i in range(2)]
    csv = smoothed_csv(tmp_path / "clip.eks.csv", n=N)
    panel.set_tracks(read_pose_track(csv), [read_pose_track(m) for m in members])
    panel.set_keypoint("paw")
    assert panel.keypoint_combo.currentText() == "paw"
    viewer.dims.set_current_step(0, 9)
    assert panel.cursor_frame() == 9
    lo, hi = panel.visible_frames()
    assert lo <= 9 <= hi and hi - lo == pytest.approx(10)  # the window follows the cursor
    qtbot.wait(50)
    # a real mouse click on the x row at frame 8
    plot = panel.plots[0]
    scene_pt = plot.vb.mapViewToScene(plot.vb.mapToView(plot.vb.rect().center()))
    target = plot.vb.mapViewToScene(pg_point(8.0, scene_pt, plot))
    view_pt = panel.graphics.mapFromScene(target)
    qtbot.mouseClick(panel.graphics.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(view_pt))
    qtbot.waitUntil(lambda: viewer.dims.current_step[0] == 8, timeout=2000)
    assert panel.cursor_frame() == 8


def pg_point(frame: float, scene_pt, plot):
    """The view point at ``frame`` and the height of the middle of the plot."""
    from qtpy.QtCore import QPointF

    mid = plot.vb.mapSceneToView(scene_pt)
    return QPointF(frame, mid.y())
