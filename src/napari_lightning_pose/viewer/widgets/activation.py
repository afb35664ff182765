"""What our plugin does when a napari session first uses it (npe2's ``on_activate``)."""

from __future__ import annotations

from typing import Any


def activate(_context: Any = None) -> None:
    """Make our readers napari's choice (``reader_preference``) and keep full garbage
    collections off the window's objects (``collector``)."""
    import napari

    from napari_lightning_pose.viewer.widgets.collector import freeze_window_heap
    from napari_lightning_pose.viewer.widgets.reader_preference import prefer_our_readers

    try:
        prefer_our_readers()
    except OSError:  # a read-only settings folder: napari keeps asking, nothing breaks
        pass
    freeze_window_heap(napari.current_viewer())
