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
