"""Line up the layers a reader made with what is open, where napari adds them.

Readers are pure functions of their file (``viewer.reader``): what a file opens as never
depends on what else is open. What does depend on it is checked here, when a layer is
inserted into a viewer's layer list:

- the layers of a prediction or smoothed CSV must cover exactly the frames of the video open
  in the viewer, or their keypoints would land on the wrong frames: the first of them is taken
  out again and the ``LabelsError`` raised names the file, so napari shows it and adds none of
  the file's other layers;
- opened without a video they stay, with a warning saying to open the video too;
- the dims slider labels are kept wide enough for our "frame" axis (``dims``).

:func:`watch_layers` connects this once per viewer. The plugin's npe2 entry points
(``viewer.contributions``) call it for the viewer that opens a file, and the docks for theirs.
"""

from __future__ import annotations

import warnings
import weakref
from pathlib import Path
from typing import Any

from napari_lightning_pose.viewer.prediction_layers import check_frames_cover_video
from napari_lightning_pose.viewer.widgets.dims import fit_slider_labels

#: Layer kinds (``metadata["kind"]``) of files opened by the predictions reader.
CHECKED_KINDS = ("prediction", "smoothed")

_WATCHED: weakref.WeakSet[Any] = weakref.WeakSet()  # viewers whose layer list is watched


def watch_layers(viewer: Any) -> None:
    """Check every prediction layer added to ``viewer`` against its open video (once each).

    Safe to call many times for the same viewer. Nothing happens for ``None``.
    """
    if viewer is None or viewer in _WATCHED:
        return
    _WATCHED.add(viewer)
    viewer.layers.events.inserted.connect(_on_inserted)
    fit_slider_labels(viewer)


def watch_current_viewer() -> None:
    """:func:`watch_layers` for napari's current viewer; nothing without one."""
    import napari

    watch_layers(napari.current_viewer())


def open_video(layers: Any, but: Any = None) -> Any | None:
    """The first layer of ``layers`` (other than ``but``) holding a video (``n_frames``)."""
    for layer in layers:
        if layer is not but and layer.metadata.get("n_frames"):
            return layer
    return None


def _on_inserted(event: Any) -> None:
    """Refuse a prediction layer of another length than the open video; warn without one."""
    layer, layers = event.value, event.source
    meta = getattr(layer, "metadata", None) or {}
    if meta.get("kind") not in CHECKED_KINDS or "track_frames" not in meta:
        return
    video = open_video(layers, but=layer)
    if video is None:
        if type(layer).__name__ == "Points":  # once per file: each file has one Points layer
            name = Path(meta.get("csv_path") or layer.name).name
            warnings.warn(
                f"{name} opened without its video: the keypoints are drawn on an empty "
                "canvas. Open the video too (drag it in) to see them over the frames.",
                UserWarning,
                stacklevel=2,
            )
        return
    try:
        check_frames_cover_video(
            meta.get("csv_path"),
            int(meta["track_frames"]),
            int(meta["last_frame"]),
            int(video.metadata["n_frames"]),
            video.metadata.get("video_path", ""),
        )
    except Exception:
        layers.remove(layer)
        raise
