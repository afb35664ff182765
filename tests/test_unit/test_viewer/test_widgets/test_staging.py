"""Layers go in and out of the viewer without needless freezes: napari runs a full garbage
collection after every layer removal, so ours are removed in one batch (one collection),
and nothing to remove costs none."""

from __future__ import annotations

import gc

import numpy as np


def _full_collections(action) -> int:
    """How many full garbage collections ``action()`` asked for (``gc.collect``, as napari
    does after removing layers); the collector's own, set off by allocations whenever a
    generation fills, are held off meanwhile so that they cannot make the count flaky."""
    seen = []

    def count(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2:
            seen.append(1)

    was_enabled = gc.isenabled()
    gc.disable()  # gc.collect() still runs
    gc.callbacks.append(count)
    try:
        action()
    finally:
        gc.callbacks.remove(count)
        if was_enabled:
            gc.enable()
    return len(seen)


def test_layers_leave_in_one_batch(make_napari_viewer) -> None:
    from napari_lightning_pose.viewer.widgets.staging import remove_layers

    viewer = make_napari_viewer(show=True)
    keep = viewer.add_points(np.zeros((1, 3)), name="keep")
    ours = [viewer.add_points(np.zeros((1, 3)) + k, name=f"ours {k}") for k in range(3)]
    one_by_one = [viewer.add_points(np.zeros((1, 3)), name=f"single {k}") for k in range(2)]
    assert _full_collections(lambda: [viewer.layers.remove(la) for la in one_by_one]) == 2
    assert _full_collections(lambda: remove_layers(viewer, [*ours, None])) == 1
    assert [layer.name for layer in viewer.layers] == ["keep"]
    assert _full_collections(lambda: remove_layers(viewer, ours)) == 0  # already gone
    assert keep in viewer.layers


def test_opening_the_project_again_collects_once(make_napari_viewer, sample_project) -> None:
    """Reopening the labeling project removes its three layers in one batch and, with no
    other stack to set aside, runs no second collection."""
    from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget

    viewer = make_napari_viewer(show=True)
    widget = LabelingWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.load_project(sample_project)
    assert _full_collections(lambda: widget.load_project(sample_project)) == 1
    assert widget.state is not None and widget.frames_layer in viewer.layers


def test_label_frames_adds_the_project_layers_one_per_turn(
    make_napari_viewer, qtbot, sample_project, layer_turns
) -> None:
    """Opening a project in the labeling dock added its three layers in one freeze (napari
    activating each, making its visual, drawing the frames): now one per turn of the event
    loop, the frames inserted hidden and shown later, the labels activated once, last. A
    video already open is set aside before, so the slider never spans both."""
    from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget

    viewer = make_napari_viewer(show=True)
    widget = LabelingWidget(viewer)
    viewer.window.add_dock_widget(widget)
    viewer.add_image(np.zeros((300, 8, 8), np.uint8), name="a video")
    turns = layer_turns(viewer)
    assert widget.load_project_in_background(sample_project) is not None
    qtbot.waitUntil(lambda: not widget.loading, timeout=60_000)
    turns.stop()
    frames, labels, skeleton = (f"{sample_project.parent.name} {k}" for k in (
        "frames", "labels", "skeleton"))  # fmt: skip
    inserted = {name: turns.inserted[name][0] for name in (frames, labels, skeleton)}
    assert len(set(inserted.values())) == 3, f"two layers in one turn: {inserted}"
    assert turns.inserted[frames][1] is False  # inserted hidden ...
    assert turns.shown[frames] > inserted[frames]  # ... and drawn in a later turn
    assert turns.active == [labels]  # activated once, at the end
    assert widget.editor.points_layer.mode == "add"
    assert widget.state is not None and widget.open_button.isEnabled()
    assert "a video" not in viewer.layers and "a video set aside" in widget.status_label.text()
    assert widget.close_project()
    assert [layer.name for layer in viewer.layers] == ["a video"]  # back when it closes


def test_closing_while_the_layers_come_in_leaves_none_behind(
    make_napari_viewer, qtbot, sample_project
) -> None:
    """A project closed while its layers are still being added: those already in go, the
    rest never come, and the dock is free to open a project again."""
    from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget

    viewer = make_napari_viewer(show=True)
    widget = LabelingWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.load_project_in_background(sample_project) is not None
    qtbot.waitUntil(lambda: len(viewer.layers) > 0, timeout=60_000)
    assert widget.loading and widget.state is None  # the first layer is in, not the rest
    assert widget.close_project()
    qtbot.wait(200)  # the steps' timer would have run them by now
    assert len(viewer.layers) == 0
    assert not widget.loading and widget.open_button.isEnabled()
    assert widget.load_project(sample_project) and widget.state is not None


def test_steps_run_one_per_turn_and_stop_when_cancelled(qtbot) -> None:
    from qtpy.QtWidgets import QWidget

    from napari_lightning_pose.viewer.widgets.staging import Steps

    parent = QWidget()
    ran: list[str] = []
    steps = Steps(parent, 1)
    steps.start([lambda: ran.append("a"), lambda: ran.append("b")], now=True)
    assert ran == ["a"] and steps.pending  # the first now, the next a turn later
    qtbot.waitUntil(lambda: ran == ["a", "b"], timeout=2_000)
    assert not steps.pending
    slow = Steps(parent, 300)
    slow.start([lambda: ran.append("c"), lambda: ran.append("d")])
    assert ran == ["a", "b"]  # not now: a turn later
    qtbot.waitUntil(lambda: "c" in ran, timeout=2_000)
    slow.cancel()
    qtbot.wait(600)
    assert ran == ["a", "b", "c"] and not slow.pending
