"""The plugin's npe2 entry points for opening files and the sample (``napari.yaml``).

Each hands over to the pure reader (``viewer.reader``) or sample (``viewer.sample_data``)
after registering the plugin's layer hook on the viewer that opens the file
(``widgets.layer_watch``): there, where napari adds the layers, prediction layers are lined up
with the open video. The readers themselves never look at the viewer.
"""

from __future__ import annotations

from napari_lightning_pose.viewer import reader, sample_data
from napari_lightning_pose.viewer.layers import LayerData
from napari_lightning_pose.viewer.reader import PathOrPaths, ReaderFunction


def _watch() -> None:
    from napari_lightning_pose.viewer.widgets.layer_watch import watch_current_viewer

    watch_current_viewer()


def get_labels_reader(path: PathOrPaths) -> ReaderFunction | None:
    """:func:`viewer.reader.get_labels_reader`, with the layer hook on the current viewer."""
    found = reader.get_labels_reader(path)
    if found is not None:
        _watch()
    return found


def get_predictions_reader(path: PathOrPaths) -> ReaderFunction | None:
    """:func:`viewer.reader.get_predictions_reader`, with the layer hook on the viewer."""
    found = reader.get_predictions_reader(path)
    if found is not None:
        _watch()
    return found


def get_camera_folder_reader(path: PathOrPaths) -> ReaderFunction | None:
    """:func:`viewer.reader.get_camera_folder_reader`, with the layer hook on the viewer."""
    found = reader.get_camera_folder_reader(path)
    if found is not None:
        _watch()
    return found


def get_video_reader(path: PathOrPaths) -> ReaderFunction | None:
    """:func:`viewer.reader.get_video_reader`, with the layer hook on the current viewer."""
    found = reader.get_video_reader(path)
    if found is not None:
        _watch()
    return found


def mirror_mouse_sample() -> list[LayerData]:
    """:func:`viewer.sample_data.mirror_mouse_sample`, with the layer hook on the viewer."""
    _watch()
    return sample_data.mirror_mouse_sample()
