"""The labeling dock's layers: a project's frames, labels and skeleton, added to the viewer one
per turn of the event loop, and other time-axis layers set aside while it is open."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from napari.layers import Image, Points, Vectors

from napari_lightning_pose.labeling.session import LabelSession, OpenedProject
from napari_lightning_pose.viewer.layer_styles import KeypointsStyle, PredictionSkeletonStyle
from napari_lightning_pose.viewer.layers import points_from_state
from napari_lightning_pose.viewer.widgets.staging import insert_quietly, layer_steps, remove_layers


class ProjectLayers(NamedTuple):
    """The labeling dock's layers of one project."""

    frames: Image
    points: Points
    skeleton: Vectors


def make_project_layers(session: LabelSession, opened: OpenedProject) -> ProjectLayers:
    """The frames, labels and skeleton layers of ``session``'s project, not yet in a viewer."""
    state, stack = session.state, opened.stack
    name = opened.config_path.parent.name
    frames = Image(
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
    points = Points(data, ndim=3, features=features, **style.as_kwargs())
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
    skeleton = Vectors(np.empty((0, 2, 3)), ndim=3, **skel.as_kwargs())
    skeleton.editable = False
    return ProjectLayers(frames, points, skeleton)


def project_layer_steps(viewer: Any, layers: ProjectLayers) -> list[Callable[[], None]]:
    """Steps that add ``layers`` to ``viewer``, one per turn of the event loop
    (``staging``): the frames inserted hidden, then shown, the labels, the skeleton, none
    of them made the active layer (the dock activates the labels once it edits them)."""
    return [
        *layer_steps(viewer, layers.frames),
        lambda: insert_quietly(viewer.layers, layers.points),
        lambda: insert_quietly(viewer.layers, layers.skeleton),
    ]


def put_aside_other_stacks(viewer: Any) -> list[tuple[int, Any]]:
    """Take the layers with a time axis (a video, its predictions) out of the viewer before
    a project's come in: they would share the one frame slider, where "frame 21" is image 21
    of the project and frame 21 of the video at once, and stretch it past the project's
    frames. Returns (place, layer) of each, for :func:`put_back`."""
    layers = viewer.layers
    aside = [(i, layer) for i, layer in enumerate(layers) if layer.ndim >= 3]
    remove_layers(viewer, [layer for _, layer in aside])  # one batch, none when empty
    return aside


def put_back(viewer: Any, aside: list[tuple[int, Any]]) -> None:
    """Return the layers :func:`put_aside_other_stacks` took out, in their places."""
    layers = viewer.layers
    for i, layer in aside:
        if layer not in layers:
            layers.insert(min(i, len(layers)), layer)
