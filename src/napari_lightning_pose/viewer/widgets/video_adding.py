"""The Project dock's "Add video" job, run in a worker: copy the video into the project,
then read what its layer needs (unless it is shown already), off the GUI thread."""

from __future__ import annotations

from pathlib import Path

from napari_lightning_pose.labeling.project import Project
from napari_lightning_pose.labeling.project_setup import add_video
from napari_lightning_pose.viewer.layers import LayerData, video_layer_data
from napari_lightning_pose.viewer.widgets.warmup import warm_first_image_layer


def copy_and_open_video(
    project: Project, path: Path, shown: set[str]
) -> tuple[Path, LayerData | None]:
    """Put ``path`` into the project (worker side) and open it, unless it is ``shown`` already.

    Returns the video's path in the project and its layer data (None when a layer of it is
    shown). Raises ``LightningPoseInputError`` naming the file when it is not a video.
    """
    dest = add_video(project, path)
    if str(dest.resolve()) in shown:
        return dest, None
    warm_first_image_layer()
    return dest, video_layer_data(dest)
