"""The labeling dock's layers: adding a project's frames, labels and skeleton to the viewer,
and setting other time-axis layers aside while it is open."""

from __future__ import annotations

from typing import Any

import numpy as np
from napari.layers import Image, Points, Vectors

from napari_lightning_pose.labeling.session import LabelSession, OpenedProject
from napari_lightning_pose.viewer.layer_styles import KeypointsStyle, PredictionSkeletonStyle
from napari_lightning_pose.viewer.layers import points_from_state
from napari_lightning_pose.viewer.widgets.staging import remove_layers


def add_project_layers(
    viewer: Any, session: LabelSession, opened: OpenedProject
) -> tuple[Image, Points, Vectors]:
    """Add the frames, labels and skeleton layers of ``session``'s project; the labels
    layer is made active, in add mode."""
    state, stack = session.state, opened.stack
    name = opened.config_path.parent.name
    frames = viewer.add_image(
        stack,
        name=f"{name} frames",
        rgb=stack.rgb,
        contrast_limits=(0, 255),
        multiscale=False,
    )
    frames.metadata["images"] = list(state.images)
    size = max(4.0, max(stack.shape[1:3], default=400) / 60)
    style = KeypointsStyle(name=f"{name} labels", keypoint_names=state.keypoints)
    style.size = size
    data, features = points_from_state(state)
    points = viewer.add_points(data, ndim=3, features=features, **style.as_kwargs())
    # the same metadata as the labels reader's layer, so File > Save Layers works too
    points.metadata.update(
        {
            "csv_path": str(session.labels_path),
            "root": str(opened.data_dir),
            "images": list(state.images),
            "keypoint_names": list(state.keypoints),
            "scorer": state.scorer,
            "skeleton": [list(edge) for edge in session.edges],
        }
    )
    # Vectors of every frame, not one frame's Shapes: napari slices them at no cost when
    # the frame changes, where rebuilding a Shapes layer took most of a frame step
    skel = PredictionSkeletonStyle(name=f"{name} skeleton", opacity=0.6)
    skel.edge_width = max(1.0, size / 4)
    skeleton = viewer.add_vectors(np.empty((0, 2, 3)), ndim=3, **skel.as_kwargs())
    skeleton.editable = False
    viewer.layers.selection.active = points
    points.mode = "add"
    return frames, points, skeleton


def put_aside_other_stacks(viewer: Any, ours: list[Any]) -> list[tuple[int, Any]]:
    """Take the layers with a time axis that are not ``ours`` (a video, its predictions)
    out of the viewer: they would share the one frame slider, where "frame 21" is image 21
    of the project and frame 21 of the video at once, and stretch it past the project's
    frames. Returns (place, layer) of each, for :func:`put_back`."""
    layers = viewer.layers
    aside = [(i, layer) for i, layer in enumerate(layers) if layer not in ours and layer.ndim >= 3]
    remove_layers(viewer, [layer for _, layer in aside])  # one batch, none when empty
    return aside


def put_back(viewer: Any, aside: list[tuple[int, Any]]) -> None:
    """Return the layers :func:`put_aside_other_stacks` took out, in their places."""
    layers = viewer.layers
    for i, layer in aside:
        if layer not in layers:
            layers.insert(min(i, len(layers)), layer)
