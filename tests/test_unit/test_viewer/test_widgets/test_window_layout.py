"""All QC docks opened from the Plugins menu fit a 1366 x 768 and a 1920 x 1080 screen:
the control docks become tabs, the trace panel lies under the canvas with its title whole,
and the window keeps its size. Screenshots of both go to docs/ (NLP_UPDATE_DOCS=1)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .test_qc_docks_from_window import write_predictions

PLUGIN = "napari-lightning-pose"
DOCS = Path(__file__).resolve().parents[4] / "docs"
#: What the issue's user had docked, in the order they opened them.
DOCKS = ("Predict + smooth", "Steer smoothing", "Outlier queue", "Uncertainty legend", "Traces")


@pytest.mark.slow
@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_qc_docks_fit_the_screen_as_tabs_with_traces_below(
    make_napari_viewer, blob_tools, tmp_path, qtbot, size
):
    from qtpy.QtWidgets import QDockWidget, QTabBar

    from napari_lightning_pose.viewer.widgets.steer import SteerWidget
    from napari_lightning_pose.viewer.widgets.traces import TracePanel

    config = blob_tools.make_project(tmp_path / "blobs", **{"data.skeleton": [["red", "green"]]})
    smoothed, _ = write_predictions(config.parent / "predictions" / "blobs", "blobs")
    viewer = make_napari_viewer(show=True)
    main = viewer.window._qt_window
    main.resize(*size)
    qtbot.wait(50)
    for name in DOCKS:  # as from the Plugins menu
        viewer.window.add_plugin_dock_widget(PLUGIN, name)
        qtbot.wait(20)
    viewer.open(str(config.parent / "videos" / "blobs.mp4"), plugin=PLUGIN)
    viewer.open(str(smoothed), plugin=PLUGIN)
    steer = main.findChildren(SteerWidget)[0]
    panel = main.findChildren(TracePanel)[0]
    qtbot.waitUntil(lambda: steer.track is not None and not steer.busy, timeout=20_000)
    qtbot.waitUntil(lambda: not panel.busy and panel.track is not None, timeout=20_000)
    qtbot.wait(100)

    # the window did not grow (it gets its size back once the docks have settled)
    qtbot.waitUntil(lambda: (main.width(), main.height()) == size, timeout=10_000)
    tabs = [bar for bar in main.findChildren(QTabBar) if bar.isVisible() and bar.count() >= 3]
    assert tabs, "the control docks are not tabbed"
    traces_dock = next(d for d in main.findChildren(QDockWidget) if panel.isAncestorOf(d) is False
                       and d.isAncestorOf(panel))  # fmt: skip
    assert main.dockWidgetArea(traces_dock).name == "BottomDockWidgetArea"
    title = panel.plots[0].titleLabel
    assert title.text == panel.keypoint
    assert title.item.boundingRect().width() < panel.plots[0].width()  # the title is whole
    lo, hi = panel.visible_frames()
    assert panel.graphics.width() > 500 and hi - lo > 20
    shot = viewer.screenshot(canvas_only=False, flash=False)
    assert shot.shape[:2] == (size[1], size[0])
    if os.environ.get("NLP_UPDATE_DOCS") == "1":
        from PIL import Image

        Image.fromarray(shot).save(DOCS / f"window_{size[0]}x{size[1]}.png")
