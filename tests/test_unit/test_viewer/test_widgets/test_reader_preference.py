"""Our readers become napari's choice for videos and pose CSVs on first use, and a
preference the user removes stays removed."""

from __future__ import annotations

import pytest

PLUGIN = "napari-lightning-pose"


@pytest.fixture
def fresh_settings(make_napari_viewer, tmp_path, monkeypatch):
    """A shown viewer, napari settings saved under tmp_path, our plugin not used yet."""
    import napari.settings
    from napari.settings import NapariSettings
    from npe2 import PluginManager

    viewer = make_napari_viewer(show=True)
    settings = NapariSettings(config_path=tmp_path / "settings.yaml")
    settings.plugins.extension2reader = {}
    monkeypatch.setattr(napari.settings, "_SETTINGS", settings)
    PluginManager.instance().deactivate(PLUGIN)  # as in a new session
    yield viewer, settings
    PluginManager.instance().deactivate(PLUGIN)


def test_after_first_use_videos_and_csvs_open_with_our_readers_unasked(
    fresh_settings, blob_project, tmp_path
):
    from napari.errors import MultipleReaderError
    from npe2 import PluginManager

    viewer, settings = fresh_settings
    video = str(blob_project.parent / "videos" / "blobs.mp4")
    # plugin=None: pick a reader as File > Open and drag-and-drop do
    with pytest.raises(MultipleReaderError):
        viewer.open(video, plugin=None)  # several plugins can: the window would ask
    viewer.window.add_plugin_dock_widget(PLUGIN, "Uncertainty legend")  # first use
    layers = viewer.open(video, plugin=None)  # nobody is asked
    assert layers[0].metadata["video_path"].endswith("blobs.mp4")  # our lazy reader
    labels = viewer.open(str(blob_project.parent / "CollectedData.csv"), plugin=None)
    assert any(layer.metadata.get("kind") != "prediction" for layer in labels)
    assert settings.plugins.extension2reader["*.mp4"] == PLUGIN
    # the user removes the preference: a later session does not put it back
    settings.plugins.extension2reader = {}
    PluginManager.instance().deactivate(PLUGIN)
    viewer.window.add_plugin_dock_widget(PLUGIN, "Traces")
    assert settings.plugins.extension2reader == {}


def test_first_use_keeps_full_collections_off_the_windows_objects(
    fresh_settings, blob_project, qtbot
):
    """Our plugin's first use freezes the window's objects (``collector``): a full collection
    then walks only what was made since, a video opened and closed afterwards is freed, and
    closing the window hands the frozen objects back, so a closed viewer is freed too."""
    import gc
    import weakref

    viewer, _settings = fresh_settings
    gc.unfreeze()  # as in a new session: nothing frozen yet
    viewer.window.add_plugin_dock_widget(PLUGIN, "Uncertainty legend")  # first use
    assert gc.get_freeze_count() > 100_000  # napari's window: its modules, widgets, visuals
    assert len(gc.get_objects()) < gc.get_freeze_count() / 4  # what a collection walks
    video = str(blob_project.parent / "videos" / "blobs.mp4")
    [layer] = viewer.open(video, plugin=PLUGIN)
    reader = weakref.ref(layer.data)
    viewer.layers.remove(layer)
    del layer
    qtbot.wait(50)
    gc.collect()
    assert reader() is None  # its reader and frame cache are gone with the window open
    canvas = weakref.ref(viewer.window._qt_viewer.canvas)
    viewer.close()
    qtbot.waitUntil(lambda: gc.get_freeze_count() == 0, timeout=5000)
    gc.collect()
    assert canvas() is None  # the closed window was freed
