"""Steer dock in a real napari window: the slider changes the overlay; dragging corrects."""

from __future__ import annotations

import numpy as np
import pytest

from napari_lightning_pose.io.image_paths import image_path
from napari_lightning_pose.io.labels import frame_labels
from napari_lightning_pose.io.pose_csv import make_pose_frame, write_pose_csv
from napari_lightning_pose.labeling.project import Project

# window tests of a few seconds each: the fast lane leaves them to CI
pytestmark = pytest.mark.slow


@pytest.fixture
def steer_dock(make_napari_viewer, blob_project, qtbot):
    from napari_lightning_pose.viewer.widgets.steer import SteerWidget
    from napari_lightning_pose.viewer.widgets.traces import TracePanel

    root = blob_project.parent
    rng = np.random.default_rng(0)
    truth = np.array([[30.0, 20.0], [60.0, 55.0]]) + np.cumsum(rng.normal(0, 1.0, (30, 2, 2)), 0)
    members = []
    for m in range(3):
        xy = truth + rng.normal(0, 1.5, truth.shape)
        values = np.concatenate([xy, np.full((*xy.shape[:2], 1), 0.9)], axis=-1)
        df = make_pose_frame(values, ["red", "green"], ("x", "y", "likelihood"), scorer="m")
        members.append(write_pose_csv(df, root / f"m{m}.csv"))
    viewer = make_napari_viewer(show=True)
    panel = TracePanel(viewer)
    viewer.window.add_dock_widget(panel, name="Traces", area="bottom")
    widget = SteerWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Steer", area="right")
    widget.load(
        members, image_size=(96, 80), video=root / "videos" / "blobs.mp4", project=blob_project
    )
    qtbot.waitUntil(lambda: "points" in widget.layers and not widget.busy, timeout=10_000)
    return viewer, widget, panel


def _red_x(widget) -> np.ndarray:
    layer = widget.layers["points"]
    red = (layer.features["keypoint"] == "red").to_numpy()
    return layer.data[red][:, 2].copy()


def test_slider_changes_overlay_and_traces(steer_dock, qtbot):
    _, widget, panel = steer_dock
    widget.set_smoothing(1.0)
    qtbot.waitUntil(lambda: abs(widget.smoothing - 1) < 0.01, timeout=2000)
    qtbot.waitUntil(lambda: not widget.busy, timeout=5000)
    rough = _red_x(widget)
    n = widget.n_smooths
    widget.set_smoothing(0.01)
    qtbot.waitUntil(lambda: widget.n_smooths > n and not widget.busy, timeout=5000)
    smooth = _red_x(widget)
    assert np.abs(np.diff(smooth)).mean() < 0.5 * np.abs(np.diff(rough)).mean()
    assert panel.track is widget.track  # the trace panel shows the re-smoothed track
    green = widget.layers["points"].data[widget.layers["points"].features["keypoint"] == "green"]
    widget.set_factor("red", 100.0)  # red alone back to s = 0.01 x 100 = 1
    qtbot.waitUntil(lambda: widget.factors.get("red", 1) > 50, timeout=2000)
    qtbot.waitUntil(lambda: not widget.busy, timeout=5000)
    assert np.allclose(_red_x(widget), rough, atol=1e-6)
    layer = widget.layers["points"]
    assert np.allclose(layer.data[layer.features["keypoint"] == "green"], green)


def test_dragging_a_point_corrects_and_saves_as_label(steer_dock, qtbot):
    viewer, widget, _ = steer_dock
    layer = widget.layers["points"]
    i = int(
        np.flatnonzero((layer.features["keypoint"] == "red") & (layer.features["frame"] == 15))[0]
    )
    before = _red_x(widget)
    target = (15.0, layer.data[i, 1] + 6.0, layer.data[i, 2] + 12.0)
    viewer.dims.set_current_step(0, 15)
    layer.mode = "select"
    layer.selected_data = {i}
    # what napari's select-mode drag does: press on the point, move (events on every move)
    layer._set_drag_start({i}, tuple(layer.data[i]))
    layer._move({i}, (15.0, layer.data[i, 1] + 3.0, layer.data[i, 2] + 6.0))
    layer._move({i}, target)
    layer._drag_start = None
    qtbot.waitUntil(lambda: len(widget.steer.corrections) == 1, timeout=3000)
    qtbot.waitUntil(lambda: not widget.busy, timeout=5000)
    after = _red_x(widget)
    assert abs(after[15] - target[2]) < 0.05
    change = np.abs(after - before)
    assert change[14] < change[15] and change[12] < change[14] and change[16] < change[15]
    assert "1 correction" in widget.status.text()
    # outside the image: refused, with a message
    j = int(
        np.flatnonzero((layer.features["keypoint"] == "green") & (layer.features["frame"] == 3))[0]
    )
    layer._set_drag_start({j}, tuple(layer.data[j]))
    layer._move({j}, (3.0, 40.0, 500.0))
    layer._drag_start = None
    qtbot.waitUntil(lambda: "outside" in widget.status.text(), timeout=3000)
    assert len(widget.steer.corrections) == 1
    assert widget.save_corrections()
    project = Project.open(widget.project)
    row = frame_labels(project.read_labels(), image_path("blobs", 15))
    assert np.allclose(row[0], (target[2], target[1]), atol=1e-6)


def test_export_from_the_dock_runs_in_a_worker(steer_dock, qtbot, tmp_path):
    _, widget, _ = steer_dock
    out = tmp_path / "steered.mp4"
    assert widget.export_video(out)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert out.is_file() and "Wrote" in widget.status.text()
    assert widget.progress.value() == widget.progress.maximum() == 30


def test_steered_layers_are_built_in_the_worker_then_only_updated(steer_dock, qtbot, monkeypatch):
    """The first re-smooth's layers come built from the smoothing worker (the GUI thread
    only inserts them); later re-smooths update the same layer objects."""
    import threading

    from napari_lightning_pose.viewer import prediction_layers

    viewer, widget, _ = steer_dock
    threads: list[str] = []
    build = prediction_layers.build_layers

    def recording(items):
        threads.append(threading.current_thread().name)
        return build(items)

    monkeypatch.setattr(prediction_layers, "build_layers", recording)
    for layer in list(widget.layers.values()):
        viewer.layers.remove(layer)  # as if the user deleted them: shown anew, built anew
    widget.set_smoothing(0.5)
    qtbot.waitUntil(lambda: "points" in widget.layers and not widget.busy, timeout=10_000)
    qtbot.waitUntil(lambda: widget.layers["points"] in viewer.layers, timeout=10_000)
    assert threads and threading.main_thread().name not in threads
    points = widget.layers["points"]
    n, built = widget.n_smooths, len(threads)
    widget.set_smoothing(5.0)
    qtbot.waitUntil(lambda: widget.n_smooths > n and not widget.busy, timeout=10_000)
    assert widget.layers["points"] is points and len(threads) == built


def test_steered_layers_are_inserted_hidden_and_shown_a_turn_later(steer_dock, qtbot, layer_turns):
    """As Predict + smooth's: each steered layer is inserted hidden and not activated and
    drawn in a later turn of the event loop (insert, activate and first draw had been one
    freeze); the last one is activated at the end, and none stays hidden."""
    viewer, widget, _ = steer_dock
    for layer in list(widget.layers.values()):
        viewer.layers.remove(layer)  # shown anew by the next re-smooth
    turns = layer_turns(viewer)
    widget.set_smoothing(0.5)
    qtbot.waitUntil(lambda: "points" in widget.layers and not widget.busy, timeout=10_000)
    turns.stop()
    inserted, shown, active = turns.inserted, turns.shown, turns.active
    names = {layer.name for layer in widget.layers.values()}
    assert names and names <= set(inserted)
    assert not any(inserted[name][1] for name in names)
    assert all(viewer.layers[name].visible for name in names)
    assert all(shown[name] > inserted[name][0] for name in names), (inserted, shown)
    assert active == [viewer.layers[-1].name]
