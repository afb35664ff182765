"""The predict + smooth dock in the real window on a tiny blob project and a 2-member ensemble."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_lightning_pose.inference.jobs import train_ensemble
from napari_lightning_pose.io.pose_csv import read_pose_csv
from napari_lightning_pose.viewer.layer_styles import POSTERIOR_SD_LIMITS_PX, heat_rgba
from napari_lightning_pose.viewer.widgets.legend import UncertaintyLegend
from napari_lightning_pose.viewer.widgets.predict import PredictWidget
from napari_lightning_pose.viewer.widgets.traces import TracePanel

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(module_tmp, blob_tools) -> Path:
    """A blob project (30-frame video) with two members trained 4 steps each (seeds 0, 1)."""
    from napari_lightning_pose.labeling.project import Project

    config = blob_tools.make_project(module_tmp / "blobs")
    cfg = Project.open(config).config
    for _ in train_ensemble(cfg, config.parent / "models" / "blobs", 2, steps=4, device="cpu"):
        pass
    return config


@pytest.fixture
def project(trained: Path, tmp_path: Path) -> Path:
    """A writable copy of the trained project (config.yaml)."""
    return Path(shutil.copytree(trained.parent, tmp_path / "blobs")) / "config.yaml"


@pytest.fixture
def dock(make_napari_viewer, project: Path):
    viewer = make_napari_viewer(show=True)
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Predict + smooth", area="right")
    widget.project_edit.setText(str(project))
    widget._fill_defaults()
    widget.device_combo.setCurrentText("cpu")
    return viewer, widget


def _wait(qtbot, widget, timeout: int = 120_000) -> None:
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)


def test_predict_smooth_saves_csvs_and_shows_coloured_layers(dock, qtbot, project) -> None:
    viewer, widget = dock
    assert widget.video_edit.text().endswith("blobs.mp4")
    assert widget.start()
    _wait(qtbot, widget)
    out = project.parent / "predictions" / "blobs"
    written = {p.name for p in out.iterdir()}
    # member CSVs and the smoothed CSV; predict also writes its video metrics beside each member
    assert {"blobs.eks.csv", "member0.csv", "member1.csv"} <= written
    assert "member0_temporal_norm.csv" in written
    smoothed = read_pose_csv(out / "blobs.eks.csv", ("x", "y", "likelihood", "x_posterior_var"))
    assert len(smoothed) == 30
    assert widget.progress.value() == widget.progress.maximum() == 60
    names = [layer.name for layer in viewer.layers]
    assert names[0] == "blobs"  # the video, opened for the result
    assert {"member0 raw", "member1 raw", "blobs.eks tails", "blobs.eks"} <= set(names)
    points = viewer.layers["blobs.eks"]
    assert not viewer.layers["member0 raw"].visible  # raw members optional, off
    np.testing.assert_allclose(
        points.face_color,
        heat_rgba(points.features["posterior_sd"], POSTERIOR_SD_LIMITS_PX),
        atol=0.02,
    )
    worst = points.features["posterior_sd"].idxmax()
    assert np.argmin(points.face_color[:, 1]) == worst or np.isclose(
        points.face_color[worst, 1], points.face_color[:, 1].min()
    )
    # the trace panel and the legend were docked and show this result
    panels = viewer.window._qt_window.findChildren(TracePanel)
    legends = viewer.window._qt_window.findChildren(UncertaintyLegend)
    assert len(panels) == 1 and len(legends) == 1
    qtbot.waitUntil(lambda: panels[0].track is not None and not panels[0].busy, timeout=20_000)
    assert len(panels[0].members) == 2
    assert legends[0].limits == POSTERIOR_SD_LIMITS_PX
    viewer.dims.set_current_step(0, 12)
    assert panels[0].cursor_frame() == 12


def test_members_trained_on_other_keypoints_are_refused(dock, qtbot, project) -> None:
    _viewer, widget = dock
    models = project.parent / "models" / "blobs"
    ckpt_path = models / "member1" / "best.ckpt"
    ckpt = torch.load(ckpt_path, weights_only=True)
    ckpt["keypoint_names"] = ["nose", "tail"]
    torch.save(ckpt, ckpt_path)
    assert widget.start()
    _wait(qtbot, widget)
    assert "trained on keypoints ['nose', 'tail']" in widget.status.text()
    assert not (project.parent / "predictions").exists()  # nothing written


def test_video_of_another_size_is_refused(dock, qtbot, project, blob_tools) -> None:
    _viewer, widget = dock
    frames = blob_tools.frames(blob_tools.positions(8, 120, 160), 120, 160)
    other = blob_tools.write_video(project.parent / "videos" / "big.mp4", frames)
    widget.video_edit.setText(str(other))
    assert widget.start()
    _wait(qtbot, widget)
    assert "160 x 120 px" in widget.status.text() and "96 x 80 px" in widget.status.text()
    assert not (project.parent / "predictions").exists()


def test_bad_paths_and_pressing_twice(dock, qtbot, project, tmp_path) -> None:
    _viewer, widget = dock
    widget.models_edit.setText(str(tmp_path))
    assert widget.start() is False and "no trained model" in widget.status.text()
    widget.models_edit.setText(str(project.parent / "models" / "blobs"))
    assert widget.start()
    assert widget.start() is False and "already running" in widget.status.text()
    _wait(qtbot, widget)


def test_closing_the_viewer_during_prediction_leaves_valid_files(dock, qtbot, project) -> None:
    viewer, widget = dock
    assert widget.start()
    qtbot.waitUntil(lambda: widget.progress.value() >= 1, timeout=60_000)
    viewer.close()
    assert widget.worker is None or widget.stop_event.is_set()
    out = project.parent / "predictions" / "blobs"
    # the predictions (member<m>.csv, <video>.eks.csv), not a member's video metrics beside them
    poses = [p for p in out.glob("*.csv") if "_" not in p.name] if out.exists() else []
    for csv in poses:
        assert len(read_pose_csv(csv, ("x", "y", "likelihood"))) == 30  # complete or absent


def test_result_layers_are_built_in_the_worker(dock, qtbot, monkeypatch) -> None:
    """The GUI thread only inserts the result's layers: the worker built every one of them
    (the video's too), so formatting 17,000 points' colours and texts never froze it."""
    import threading

    from napari_lightning_pose.viewer import prediction_layers

    built: list[tuple[str, object]] = []
    build = prediction_layers.build_layers

    def recording(items):
        layers = build(items)
        built.extend((threading.current_thread().name, layer) for layer in layers)
        return layers

    monkeypatch.setattr(prediction_layers, "build_layers", recording)
    viewer, widget = dock
    assert widget.start()
    _wait(qtbot, widget)
    shown = [layer for layer in viewer.layers if layer.name in {"blobs", "blobs.eks"}]
    assert len(shown) == 2
    by_id = {id(layer): thread for thread, layer in built}
    main = threading.main_thread().name
    for layer in shown:
        assert id(layer) in by_id, f"{layer.name} was not built by build_layers"
        assert by_id[id(layer)] != main, f"{layer.name} was built on the GUI thread"
    # as viewer.add_image would have made it (File > Open of the video gives the same)
    assert viewer.layers["blobs"].blending == "translucent_no_depth"


def test_result_layers_are_inserted_hidden_shown_a_turn_later_and_activated_once(
    dock, qtbot, layer_turns
) -> None:
    """Inserting a layer made it active (its controls rebuilt), created its visual and drew
    it (vispy compiling its shaders) in one freeze: now each is inserted hidden and not
    activated, shown in a later turn of the event loop, and one layer is activated at the end."""
    viewer, widget = dock
    turns = layer_turns(viewer)
    assert widget.start()
    _wait(qtbot, widget)
    turns.stop()
    inserted, shown, active = turns.inserted, turns.shown, turns.active
    assert {"blobs", "member0 raw", "blobs.eks tails", "blobs.eks"} <= set(inserted)
    assert not any(visible for _turn, visible in inserted.values())  # inserted hidden
    visible = {layer.name for layer in viewer.layers if layer.visible}
    assert {"blobs", "blobs.eks", "blobs.eks tails"} <= visible
    assert "member0 raw" not in visible and "member0 raw" not in shown
    for name in visible:
        assert shown[name] > inserted[name][0], f"{name} drawn in the turn it was inserted"
    assert active == [viewer.layers[-1].name]  # activated once, the last one, at the end
