"""A video layer in a real window: its prefetch thread serves the slider and ends with it."""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest


def _prefetch_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("prefetch ")}


@pytest.mark.slow
def test_the_prefetch_thread_ends_when_the_layer_is_removed(
    make_napari_viewer, qtbot, bundled_sample
) -> None:
    before = _prefetch_threads()
    viewer = make_napari_viewer(show=True)
    [layer] = viewer.open(
        str(bundled_sample / "videos" / "test_vid.mp4"), plugin="napari-lightning-pose"
    )
    reader = layer.data
    for frame in (400, 399, 398):
        viewer.dims.set_current_step(0, frame)
    assert reader.prefetcher.wait_idle(60)
    assert {397, 396, 401} <= set(reader._cache)  # decoded around the slider
    thread = reader.prefetcher._thread
    assert thread.is_alive()
    del reader
    viewer.layers.remove(layer)
    del layer
    qtbot.wait(50)
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()
    assert _prefetch_threads() <= before


def test_a_frame_through_the_viewer_is_the_readers_frame(
    make_napari_viewer, bundled_sample
) -> None:
    from napari_lightning_pose.io.video import VideoReader

    viewer = make_napari_viewer(show=True)
    path = bundled_sample / "videos" / "test_vid.mp4"
    [layer] = viewer.open(str(path), plugin="napari-lightning-pose")
    with VideoReader(path) as plain:
        for frame in (700, 699, 698, 10):
            viewer.dims.set_current_step(0, frame)
            np.testing.assert_array_equal(np.asarray(layer._slice.image.view), plain[frame])
