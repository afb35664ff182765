"""The Steer dock's layers in the viewer: made once, shown in steps, then only their data swapped.

A re-smooth (``steer_jobs.Smoothed``) brings each layer's data, and the first time the
layers themselves, built in the worker. :class:`SteeredLayers` inserts them hidden and not
activated, one per turn of the event loop (``staging``), reveals them a turn later and
activates the last; afterwards it swaps their data in place: the keypoints at once, the
tails, skeleton and whatever ``then`` does (the traces) each in a later turn, and only when no
newer smooth is on its way. Points the user drags on the keypoints layer are reported once
the drag is over (the mouse button released).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QObject, Qt, QTimer

from napari_lightning_pose.viewer.widgets.staging import (
    Steps,
    activate,
    insert_quietly,
    remove_layers,
)

#: A moved point: (frame, keypoint) -> (x, y).
Moves = dict[tuple[int, str], tuple[float, float]]


def swap_points(layer: Any, data: Any, features: Any) -> None:
    """New positions and uncertainty of the same points (same frames and keypoints): the
    feature values are replaced in place, which spares napari re-formatting every point's
    text (~0.1 s for 16,000 points); other points: data and features replaced."""
    import numpy as np

    old = layer.features
    same = (
        len(old) == len(features)
        and np.array_equal(old["frame"].to_numpy(), features["frame"].to_numpy())
        and np.array_equal(old["keypoint"].to_numpy(), features["keypoint"].to_numpy())
    )
    layer.data = data
    if same:
        for column in features.columns:
            old[column] = features[column].to_numpy()
    else:
        layer.features = features
    layer.refresh_colors(update_color_mapping=False)


class SteeredLayers:
    """The steered layers (tracks, skeleton, points by kind) of one dock in ``viewer``.

    ``stage_ms`` is the pause between steps (Qt draws and handles input in between);
    ``on_dragged`` is called with the points the user moved on the keypoints layer, once
    the drag is over.
    """

    def __init__(
        self, viewer: Any, parent: QObject, stage_ms: int, on_dragged: Callable[[Moves], None]
    ) -> None:
        self.viewer = viewer
        self.layers: dict[str, Any] = {}
        self.on_dragged = on_dragged
        self._moved: Moves = {}
        self._drag_timer = QTimer(parent)
        self._drag_timer.setSingleShot(True)
        self._drag_timer.setInterval(150)  # a drag emits a change per mouse move
        self._drag_timer.timeout.connect(self._drag_over)
        self._updating = False  # the data is swapped here: not a user's drag
        self._to_reveal: dict[str, bool] = {}  # kind -> show once inserted hidden
        self._stages = Steps(parent, stage_ms)  # what is left to show of the last smooth

    @property
    def staging(self) -> bool:
        """True while steps of the last re-smooth are still to be shown."""
        return self._stages.pending

    def shown(self, kind: str) -> bool:
        """True when the ``kind`` layer is made and still in the viewer."""
        layer = self.layers.get(kind)
        return layer is not None and layer in self.viewer.layers

    def remove_all(self) -> None:
        """Take the layers out of the viewer (another ensemble is loaded)."""
        if self.viewer is not None:
            remove_layers(self.viewer, list(self.layers.values()))
        self.layers = {}

    def present(
        self,
        prepared: list[Any],
        built: dict[str, Any],
        then: Callable[[], None],
        newer_coming: bool,
    ) -> None:
        """Show a re-smooth's layer data ``prepared`` (``built``: the layers, when made in
        the worker) in steps, then call ``then``; with ``newer_coming`` only the keypoints
        move (the first showing goes through whatever comes)."""
        self._stages.cancel()
        for kind in list(self._to_reveal):  # a first showing cut short: nothing stays hidden
            self.reveal(kind)
        if not self.shown("points"):
            # first time: one step per turn of the event loop, in drawing order: insert a
            # layer hidden and not activated, show it, ...; activate the last (staging.py)
            stages: list[Callable[[], None]] = []
            for item in prepared:
                stages.append(lambda item=item: self.show([item], built, staged=True))
                stages.append(lambda kind=item[2]: self.reveal(kind))
            last = prepared[-1][2] if prepared else None
            stages += [lambda: self.reveal(last, activate_it=True), then]
            self._stages.start(stages)
            return
        self.show([item for item in prepared if item[2] == "points"])
        if newer_coming:
            return
        rest = [item for item in prepared if item[2] != "points"]
        self._stages.start([*(lambda item=item: self.show([item]) for item in rest), then])

    def reveal(self, kind: str | None, activate_it: bool = False) -> None:
        """Show the ``kind`` layer inserted hidden (or make it the active one)."""
        layer = self.layers.get(kind) if kind else None
        if layer is None or layer not in self.viewer.layers:
            return
        if activate_it:
            activate(self.viewer, layer)
        elif self._to_reveal.pop(kind, False):
            layer.visible = True

    def show(
        self, prepared: list[Any], built: dict[str, Any] | None = None, staged: bool = False
    ) -> None:
        """Create the layers of ``prepared`` once (``built`` in the worker, when given; with
        ``staged`` inserted hidden and not activated, see :meth:`reveal`), then only swap
        their data (made in the worker)."""
        self._updating = True
        try:
            for data, kwargs, kind in prepared:
                layer = self.layers.get(kind)
                if layer is None or layer not in self.viewer.layers:
                    self._add(data, kwargs, kind, built, staged)
                elif kind == "points":
                    layer.selected_data = set()
                    swap_points(layer, data, kwargs["features"])
                elif kind == "tracks":
                    color_by = kwargs.get("color_by", layer.color_by)
                    layer.color_by = "track_id"  # new data drops the old features first
                    layer.data = data
                    layer.features = kwargs["features"]
                    layer.color_by = color_by
                else:
                    layer.data = data
        finally:
            self._updating = False

    def _add(
        self, data: Any, kwargs: dict, kind: str, built: dict[str, Any] | None, staged: bool
    ) -> None:
        layer = (built or {}).get(kind)
        if layer is not None and staged:
            self._to_reveal[kind] = bool(layer.visible)
            layer.visible = False
            insert_quietly(self.viewer.layers, layer)
        elif layer is not None:
            self.viewer.layers.append(layer)
        else:
            kwargs["metadata"] = {**kwargs.get("metadata", {}), "kind": "steered"}
            layer = getattr(self.viewer, f"add_{kind}")(data, **kwargs)
        self.layers[kind] = layer
        if kind == "points":
            layer.events.data.connect(self._on_points_data)

    def _on_points_data(self, event: Any) -> None:
        """Points of the keypoints layer moved: note them; reported once the drag is over."""
        from napari.layers.base import ActionType

        if self._updating or getattr(event, "action", None) != ActionType.CHANGED:
            return
        layer = self.layers["points"]
        for i in getattr(event, "data_indices", ()) or ():
            frame, y, x = (float(v) for v in layer.data[int(i)])
            keypoint = str(layer.features["keypoint"].iloc[int(i)])
            # kept now: a re-smooth finishing before the drag ends replaces the layer's data
            self._moved[(round(frame), keypoint)] = (x, y)
        self._drag_timer.start()

    def _drag_over(self) -> None:
        """Report every point moved since the last report, once no mouse button is down."""
        from qtpy.QtWidgets import QApplication

        if QApplication.mouseButtons() != Qt.MouseButton.NoButton:
            self._drag_timer.start()  # still dragging
            return
        moved, self._moved = self._moved, {}
        if moved:
            self.on_dragged(moved)
