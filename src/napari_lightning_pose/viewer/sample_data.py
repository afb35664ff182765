"""Sample data: the bundled mirror-mouse project as layer data (pure; ``contributions``
hands it to napari)."""

from __future__ import annotations

from napari_lightning_pose import SAMPLE_DIR
from napari_lightning_pose.labeling.project import Project
from napari_lightning_pose.viewer.layers import LayerData, labels_layer_data, video_layer_data


def mirror_mouse_sample() -> list[LayerData]:
    """The mirror-mouse sample: its video (hidden), its labeled frames, keypoints, skeleton.

    The video is read lazily and starts hidden because its time axis differs from the
    labeled-frame stack's (frame 5 of the stack is not frame 5 of the video); show it and hide
    the frames to play the clip.
    """
    project = Project.open(SAMPLE_DIR)
    video = project.video_paths()[0]
    reader, video_kwargs, kind = video_layer_data(video)
    video_layer: LayerData = (reader, {**video_kwargs, "visible": False}, kind)
    labels = labels_layer_data(
        project.csv_path,
        keypoint_names=project.keypoint_names,
        skeleton=project.skeleton,
        root=project.data_dir,
    )
    # the labeled frames first: napari puts the slider in the middle of the first layer's
    # time axis (frame 10 of 20, labeled); added first, the hidden video put it at frame 496,
    # beyond the labeled frames, on a black canvas
    return [*labels, video_layer]
