"""Line up the layers a reader made with what is open, where napari adds them.

Readers are pure functions of their file (``viewer.reader``): what a file opens as never
depends on what else is open. What does depend on it is checked here, when a layer is
inserted into a viewer's layer list:

- the layers of a prediction or smoothed CSV must cover exactly the frames of the video open
  in the viewer, or their keypoints would land on the wrong frames: the first of them is taken
  out again and the ``LabelsError`` raised names the file, so napari shows it and adds none of
  the file's other layers;
- opened without a video they stay, with a warning saying to open the video too;
- the dims slider labels are kept wide enough for our "frame" axis (``dims``);
- the layers of a multi-camera result (``camera_layers.GRID_STRIDE`` in their metadata) turn
  napari's grid on, one view box per camera, all on the one time slider.

:func:`watch_layers` connects this once per viewer. The plugin's npe2 entry points
(``viewer.contributions``) call it for the viewer that opens a file, and the docks for theirs.
"""

from __future__ import annotations

import warnings
import weakref
from pathlib import Path
from typing import Any

from napari_lightning_pose.viewer.camera_layers import GRID_STRIDE
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
    ref = weakref.ref(viewer)  # the hook must not keep the viewer alive
    viewer.layers.events.inserted.connect(lambda event: _dock_legend(ref(), event.value))
    fit_slider_labels(viewer)


def show_camera_grid(viewer: Any, stride: int) -> None:
    """Turn the viewer's grid on, ``stride`` layers per view box (one camera each)."""
    grid = viewer_grid(viewer)
    grid.stride = stride
    boxes = -(-len(viewer.layers) // stride)
    grid.shape = (1, boxes) if boxes <= 3 else (-1, -1)  # up to 3 cameras in a row
    grid.spacing = 4
    grid.enabled = True


def viewer_grid(viewer: Any) -> Any:
    """The viewer's grid settings: ``viewer.canvas.grid`` (napari 0.9+) or ``viewer.grid``."""
    canvas = getattr(viewer, "canvas", None)
    return canvas.grid if hasattr(canvas, "grid") else viewer.grid


def watch_current_viewer() -> None:
    """:func:`watch_layers` for napari's current viewer; nothing without one."""
    import napari

    watch_layers(napari.current_viewer())


def video_frames(layer: Any) -> int | None:
    """Frames of a video layer: ours (``n_frames`` metadata) or another reader's (an Image
    layer read from a video file: its first axis); None for any other layer."""
    from napari_lightning_pose.io.video import VIDEO_SUFFIXES

    if layer.metadata.get("n_frames"):
        return int(layer.metadata["n_frames"])
    path = getattr(getattr(layer, "source", None), "path", None)
    if type(layer).__name__ == "Image" and path and Path(path).suffix.lower() in VIDEO_SUFFIXES:
        return int(layer.data.shape[0])
    return None


def open_video(layers: Any, but: Any = None) -> Any | None:
    """The first layer of ``layers`` (other than ``but``) holding a video (any reader's)."""
    for layer in layers:
        if layer is not but and video_frames(layer):
            return layer
    return None


def keypoint_warning(layer: Any) -> str | None:
    """A message naming the keypoints in which a prediction layer's file and its project
    (``ensemble.files.find_project_config``) differ, or None."""
    from napari_lightning_pose.ensemble.files import find_project_config, keypoint_mismatch
    from napari_lightning_pose.errors import ConfigError
    from napari_lightning_pose.labeling.project import Project

    meta = layer.metadata or {}
    csv, names = meta.get("csv_path"), meta.get("keypoint_names")
    config = find_project_config(csv) if csv and names else None
    if config is None:
        return None
    try:
        project = Project.open(config)
    except ConfigError:
        return None
    return keypoint_mismatch(project.keypoint_names, names, csv, config)


def _dock_legend(viewer: Any, layer: Any) -> None:
    """Dock the uncertainty legend when the first prediction layer arrives in a window (and
    start importing the plots' pyqtgraph in the background: readers stay free of Qt)."""
    meta = getattr(layer, "metadata", None) or {}
    window = getattr(viewer, "window", None)
    if window is None or meta.get("kind") not in CHECKED_KINDS or type(layer).__name__ != "Points":
        return
    from napari_lightning_pose.viewer.widgets.legend import UncertaintyLegend
    from napari_lightning_pose.viewer.widgets.warmup import preload_plots

    preload_plots()  # the Traces dock the user opens next finds pyqtgraph imported

    with warnings.catch_warnings():  # napari's main window: private, the only way to it
        warnings.simplefilter("ignore", FutureWarning)
        main = getattr(window, "_qt_window", None)
    if main is not None and not main.findChildren(UncertaintyLegend):
        window.add_plugin_dock_widget("napari-lightning-pose", "Uncertainty legend")


def _on_inserted(event: Any) -> None:
    """Refuse a prediction layer of another length than the open video; warn without one."""
    layer, layers = event.value, event.source
    meta = getattr(layer, "metadata", None) or {}
    if meta.get(GRID_STRIDE):
        import napari

        for viewer in [*_WATCHED, napari.current_viewer()]:
            if viewer is not None and viewer.layers is layers:
                show_camera_grid(viewer, int(meta[GRID_STRIDE]))
                break
    if meta.get("kind") not in CHECKED_KINDS or "track_frames" not in meta:
        return
    if type(layer).__name__ == "Points":  # once per file: each file has one Points layer
        mismatch = keypoint_warning(layer)
        if mismatch:
            warnings.warn(mismatch, UserWarning, stacklevel=2)
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
            int(video_frames(video) or 0),
            video.metadata.get("video_path", ""),
        )
    except Exception:
        layers.remove(layer)
        raise
