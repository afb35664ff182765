"""The Project dock's "Add video" job, run in a worker: copy the video into the project,
then read what its layer needs (unless it is shown already), off the GUI thread."""

from __future__ import annotations

from pathlib import Path

from napari_lightning_pose.labeling.project import Project
from napari_lightning_pose.labeling.project_setup import add_video
from napari_lightning_pose.viewer.layers import LayerData, video_layer_data
from napari_lightning_pose.viewer.widgets.warmup import (
    decode_shown_frame,
    warm_first_image_layer,
)


def copy_and_open_video(
    project: Project, path: Path, shown: set[str], first_frame: int | None = None
) -> tuple[Path, LayerData | None]:
    """Put ``path`` into the project (worker side) and open it, unless it is ``shown`` already.

    The frame napari will draw first (``first_frame``, see ``warmup.frame_shown_first``;
    None: the middle one) is decoded here, into the reader's cache: decoding it from the keyframe
    before it took 50-100 ms of the GUI thread when the layer was added.

    Returns the video's path in the project and its layer data (None when a layer of it is
    shown). Raises ``LightningPoseInputError`` naming the file when it is not a video.
    """
    dest = add_video(project, path)
    if str(dest.resolve()) in shown:
        return dest, None
    warm_first_image_layer()
    reader, kwargs, kind = video_layer_data(dest)
    decode_shown_frame(reader, first_frame)
    return dest, (reader, kwargs, kind)
