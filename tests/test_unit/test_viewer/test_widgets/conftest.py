"""Fixtures for the widget tests: a writable copy of the bundled sample project and helpers
that drive the napari canvas the way a user does (real Qt mouse and key events).

The canvas needs OpenGL, so these tests run under a virtual X server: pytest-xvfb starts one
(or run ``xvfb-run -a python -m pytest ...``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import QEvent, QPoint, QPointF, Qt
from qtpy.QtGui import QMouseEvent
from qtpy.QtWidgets import QApplication


@pytest.fixture
def sample_project(sample_copy: Path) -> Path:
    """``config.yaml`` of a writable copy of the bundled sample with two frames to label.

    The sample's 50 labeled frames (img01..img50) plus img00 and img51 added as picked but
    unlabeled (all-empty CSV rows, as frame selection adds them), so the stack has 52 frames:
    index 0 (img00) and 51 (img51) are still to label.
    """
    from napari_lightning_pose.labeling.project import Project

    Project.open(sample_copy).add_frames(["labeled-data/img00.png", "labeled-data/img51.png"])
    return sample_copy / "config.yaml"


@pytest.fixture
def errors():
    """Messages of the napari notifications (errors, infos) shown while the test runs."""
    from napari.utils.notifications import notification_manager

    seen: list[str] = []

    def record(notification) -> None:
        seen.append(str(notification.message))

    notification_manager.notification_ready.connect(record)
    yield seen
    notification_manager.notification_ready.disconnect(record)


@pytest.fixture
def labeling(make_napari_viewer, sample_project: Path, qtbot):
    """A shown viewer with the labeling widget docked and the sample project open."""
    from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget

    viewer = make_napari_viewer(show=True)
    widget = LabelingWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Label keypoints", area="right")
    assert widget.load_project(sample_project)
    qtbot.wait(10)
    return viewer, widget


def _canvas(viewer):
    return viewer.window._qt_viewer.canvas


def _canvas_pos(viewer, y: float, x: float) -> QPoint:
    """Widget position of the world point (y, x) on the 2-D canvas."""
    pos = _canvas(viewer).view.scene.transform.map([x, y])[:2]  # vispy order: x, y
    return QPoint(round(float(pos[0])), round(float(pos[1])))


@pytest.fixture
def click(qtbot) -> Callable[..., None]:
    """``click(viewer, y, x)``: a left click on the canvas at world point (y, x)."""

    def _click(viewer, y: float, x: float) -> None:
        native = _canvas(viewer).native
        qtbot.mouseClick(native, Qt.MouseButton.LeftButton, pos=_canvas_pos(viewer, y, x))

    return _click


@pytest.fixture
def drag(qtbot) -> Callable[..., None]:
    """``drag(viewer, (y0, x0), (y1, x1))``: press, move in steps and release on the canvas."""

    def _drag(viewer, start: tuple[float, float], end: tuple[float, float]) -> None:
        native = _canvas(viewer).native
        left = Qt.MouseButton.LeftButton
        qtbot.mousePress(native, left, pos=_canvas_pos(viewer, *start))
        for t in np.linspace(0.2, 1.0, 5):
            y, x = np.asarray(start) + t * (np.asarray(end) - np.asarray(start))
            # QTest's mouseMove carries no pressed buttons under Qt 6; send a real drag move
            pos = QPointF(_canvas_pos(viewer, y, x))
            move = QMouseEvent(
                QEvent.Type.MouseMove,
                pos,
                QPointF(native.mapToGlobal(pos.toPoint())),
                Qt.MouseButton.NoButton,
                left,
                Qt.KeyboardModifier.NoModifier,
            )
            QApplication.sendEvent(native, move)
            qtbot.wait(50)  # napari throttles mouse moves; let each one be handled
        qtbot.mouseRelease(native, left, pos=_canvas_pos(viewer, *end))

    return _drag


@pytest.fixture
def press(qtbot) -> Callable[..., None]:
    """``press(viewer, Qt.Key_X, modifier)``: a key press and release on the canvas."""

    def _press(viewer, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
        qtbot.keyClick(_canvas(viewer).native, key, modifier)

    return _press


class LayerTurns:
    """Records, by turn of the event loop, when each layer was inserted (and whether it was
    visible then), when it was first shown, and which layers were activated, in order."""

    def __init__(self, viewer) -> None:
        from qtpy.QtCore import QTimer

        self.viewer = viewer
        self.turn = 0
        self.inserted: dict[str, tuple[int, bool]] = {}  # name -> (turn, visible when inserted)
        self.shown: dict[str, int] = {}  # name -> turn it became visible
        self.active: list[str] = []
        self._ticker = QTimer()
        self._ticker.setInterval(0)  # counts the turns of the event loop
        self._ticker.timeout.connect(self._tick)
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.selection.events.active.connect(self._on_active)
        self._ticker.start()

    def _tick(self) -> None:
        self.turn += 1

    def _on_inserted(self, event) -> None:
        layer = event.value
        self.inserted[layer.name] = (self.turn, bool(layer.visible))
        layer.events.visible.connect(
            lambda _e, layer=layer: layer.visible and self.shown.setdefault(layer.name, self.turn)
        )

    def _on_active(self, event) -> None:
        if event.value is not None:
            self.active.append(event.value.name)

    def stop(self) -> None:
        """Stop counting and recording (idempotent)."""
        if self._ticker.isActive():
            self._ticker.stop()
            self.viewer.layers.events.inserted.disconnect(self._on_inserted)
            self.viewer.layers.selection.events.active.disconnect(self._on_active)


@pytest.fixture
def layer_turns():
    """``layer_turns(viewer)``: a started ``LayerTurns`` recorder; ``.stop()`` it before
    checking (stopped at teardown too)."""
    recorders: list[LayerTurns] = []

    def _start(viewer) -> LayerTurns:
        recorders.append(LayerTurns(viewer))
        return recorders[-1]

    yield _start
    for recorder in recorders:
        recorder.stop()
