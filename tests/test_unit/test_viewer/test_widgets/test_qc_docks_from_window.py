"""The QC docks work from the window alone: a smoothed CSV opened by itself (File > Open) is
enough for Steer smoothing, the trace panel and the outlier queue to find its members and
project; Steer has an Open button, says what it needs, and re-smooths off the GUI thread."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_lightning_pose.ensemble.smooth import smooth_ensemble, write_smoothed_csv
from napari_lightning_pose.io.pose_csv import make_pose_frame, write_pose_csv

PLUGIN = "napari-lightning-pose"


def write_predictions(folder: Path, video: str, keypoints=("red", "green"), n_members=3):
    """``member<m>.csv`` and ``<video>.eks.csv`` of 30 frames, as Predict + smooth writes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    truth = np.array([[30.0, 20.0], [60.0, 55.0]]) + np.cumsum(rng.normal(0, 1, (30, 2, 2)), 0)
    members = []
    for m in range(n_members):
        xy = truth + rng.normal(0, 1.5, truth.shape)
        values = np.concatenate([xy, np.full((30, 2, 1), 0.9)], axis=-1)
        df = make_pose_frame(values, list(keypoints), ("x", "y", "likelihood"), scorer="m")
        members.append(write_pose_csv(df, folder / f"member{m}.csv"))
    smoothed = write_smoothed_csv(smooth_ensemble(members), folder / f"{video}.eks.csv")
    return smoothed, members


@pytest.fixture
def smoothed_csv(blob_tools, tmp_path) -> Path:
    """``<project>/predictions/blobs/blobs.eks.csv`` with three members beside it (a blob
    project with a skeleton)."""
    config = blob_tools.make_project(tmp_path / "blobs", **{"data.skeleton": [["red", "green"]]})
    smoothed, _ = write_predictions(config.parent / "predictions" / "blobs", "blobs")
    return smoothed


@pytest.fixture
def qc_window(make_napari_viewer, qtbot):
    """A shown viewer with Steer, Traces and the Outlier queue docked, nothing loaded."""
    from napari_lightning_pose.viewer.widgets.outliers import OutlierQueueWidget
    from napari_lightning_pose.viewer.widgets.steer import SteerWidget
    from napari_lightning_pose.viewer.widgets.traces import TracePanel

    viewer = make_napari_viewer(show=True)
    docks = {
        "steer": SteerWidget(viewer),
        "traces": TracePanel(viewer),
        "outliers": OutlierQueueWidget(viewer),
    }
    viewer.window.add_dock_widget(docks["steer"], name="Steer", area="right")
    viewer.window.add_dock_widget(docks["outliers"], name="Outliers", area="right")
    viewer.window.add_dock_widget(docks["traces"], name="Traces", area="bottom")
    return viewer, docks


def test_a_smoothed_csv_opened_by_itself_feeds_every_qc_dock(qc_window, smoothed_csv, qtbot):
    viewer, docks = qc_window
    steer = docks["steer"]
    assert "open a smoothed CSV" in steer.source.text()  # says what it needs
    viewer.open(str(smoothed_csv.parent.parent.parent / "videos" / "blobs.mp4"), plugin=PLUGIN)
    viewer.open(str(smoothed_csv), plugin=PLUGIN)
    qtbot.waitUntil(lambda: steer.track is not None and not steer.busy, timeout=20_000)
    qtbot.waitUntil(lambda: not docks["traces"].busy and not docks["outliers"].busy)
    assert "3 members" in steer.source.text()
    assert steer.project == smoothed_csv.parents[2] / "config.yaml"
    assert steer.video.name == "blobs.mp4"
    assert steer.skeleton  # the project's skeleton, found above predictions/
    names = [layer.name for layer in viewer.layers]
    assert "blobs steered" in names
    assert "3 members" in docks["traces"].status.text()
    assert "3 members" in docks["outliers"].source.text()
    assert docks["outliers"].project_edit.text().endswith("config.yaml")


def test_steer_docked_after_the_csv_was_opened_loads_it(make_napari_viewer, smoothed_csv, qtbot):
    from napari_lightning_pose.viewer.widgets.steer import SteerWidget

    viewer = make_napari_viewer(show=True)
    viewer.open(str(smoothed_csv), plugin=PLUGIN)
    steer = SteerWidget(viewer)
    viewer.window.add_dock_widget(steer, name="Steer", area="right")
    qtbot.waitUntil(lambda: steer.track is not None and not steer.busy, timeout=20_000)
    assert steer.steer.ens.n_members == 3


def test_open_button_loads_a_csv_and_says_what_is_missing(
    qc_window, smoothed_csv, tmp_path, qtbot, monkeypatch
):
    from qtpy.QtWidgets import QFileDialog

    _, docks = qc_window
    steer = docks["steer"]
    lone, _ = write_predictions(tmp_path / "lone", "lone", n_members=2)
    for member in lone.parent.glob("member*.csv"):
        member.unlink()
    picked = [str(lone)]
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (picked[0], ""))
    )
    qtbot.mouseClick(steer.open_button, Qt.MouseButton.LeftButton)
    assert "member" in steer.source.text() and steer.steer is None
    picked[0] = str(smoothed_csv)
    qtbot.mouseClick(steer.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: steer.track is not None and not steer.busy, timeout=20_000)
    assert "3 members" in steer.source.text()


def test_dragging_the_slider_smooths_off_the_gui_thread_newest_value_wins(
    qc_window, smoothed_csv, qtbot, monkeypatch
):
    from napari_lightning_pose.ensemble.steer import SteerableSmoother

    viewer, docks = qc_window
    steer = docks["steer"]
    threads: list[bool] = []
    original = SteerableSmoother.smooth

    def smooth(self, *args, **kwargs):
        threads.append(threading.current_thread() is threading.main_thread())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SteerableSmoother, "smooth", smooth)
    viewer.open(str(smoothed_csv), plugin=PLUGIN)
    qtbot.waitUntil(lambda: steer.track is not None and not steer.busy, timeout=20_000)
    threads.clear()
    steer.slider.setFocus()
    for _ in range(12):  # the user drags / holds the key: many values in a row
        qtbot.keyClick(steer.slider, Qt.Key.Key_Right)
        qtbot.wait(1)
    qtbot.waitUntil(lambda: not steer.busy, timeout=20_000)
    assert threads and not any(threads), "a re-smooth ran on the GUI thread"
    assert len(threads) < 12  # stale requests were dropped, not queued
    expected = original(steer.steer, {k: steer.smoothing for k in steer.steer.keypoints})
    shown = steer.result.frame.to_numpy()
    assert np.allclose(shown, expected.frame.to_numpy(), equal_nan=True)


def test_a_csv_opened_by_itself_docks_the_legend_and_draws_the_demo_skeleton(
    make_napari_viewer, blob_tools, tmp_path, qtbot
):
    """The demo's layout: ``<out>/project/config.yaml`` beside ``<out>/predictions/``."""
    from napari_lightning_pose.viewer.widgets.legend import UncertaintyLegend

    out = tmp_path / "demo-output"
    config = blob_tools.make_project(out / "project", **{"data.skeleton": [["red", "green"]]})
    smoothed, _ = write_predictions(out / "predictions" / "blobs", "blobs")
    viewer = make_napari_viewer(show=True)
    viewer.open(str(config.parent / "videos" / "blobs.mp4"), plugin=PLUGIN)
    viewer.open(str(smoothed), plugin=PLUGIN)
    qtbot.wait(50)
    assert viewer.window._qt_window.findChildren(UncertaintyLegend)
    assert "blobs.eks skeleton" in [layer.name for layer in viewer.layers]


def test_predictions_of_other_keypoints_warn_naming_them(
    make_napari_viewer, blob_tools, tmp_path, qtbot
):
    import warnings

    config = blob_tools.make_project(tmp_path / "blobs")
    folder = config.parent / "predictions" / "blobs"
    smoothed, _ = write_predictions(folder, "blobs", keypoints=("red", "nose"))
    viewer = make_napari_viewer(show=True)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        viewer.open(str(smoothed), plugin=PLUGIN)
    texts = [str(w.message) for w in seen]
    assert any("nose" in t and "green" in t and "blobs.eks.csv" in t for t in texts), texts


def test_a_video_opened_by_napari_reader_is_the_video_of_the_csv(
    make_napari_viewer, smoothed_csv, qtbot
):
    import warnings

    viewer = make_napari_viewer(show=True)
    video = smoothed_csv.parents[2] / "videos" / "blobs.mp4"
    try:
        viewer.open(str(video), plugin="napari")  # napari's own reader (the whole video)
    except Exception:  # napari's reader needs imageio's ffmpeg plugin
        import pytest

        pytest.skip("napari's own reader cannot read mp4 here")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        viewer.open(str(smoothed_csv), plugin=PLUGIN)
    assert not any("opened without its video" in str(w.message) for w in seen)
