"""Add and remove napari layers in short freezes: a ready-made layer in steps, one per turn of
the event loop (:class:`Steps`); layers removed in one batch.

Inserting a layer did three things in one freeze: napari made it the active layer (its
layer controls rebuilt: ~60 ms), created its vispy visual (~45 ms), and the next paint drew
it for the first time (vispy compiling its shaders: ~145 ms on Mesa's llvmpipe). Here it is
inserted hidden and not activated, and shown in a later turn: the draw and the compile fall
in a freeze of their own; one layer is activated at the end. Layers are removed in one
batch: napari runs a full garbage collection after each removal, and once after a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from qtpy.QtCore import QObject, QTimer

#: Pause (ms) between two steps. A real timer, not a zero one: a chain of zero timers ran
#: back to back in one turn of the event loop (two layers in one freeze), while a pause
#: lets Qt draw and handle input between them.
STAGE_MS = 15


class Steps:
    """Callables run one per turn of the event loop, ``ms`` apart (:data:`STAGE_MS`), on a
    timer of ``parent`` (none runs once the parent widget is gone); :attr:`pending` until the
    last has run."""

    def __init__(self, parent: QObject, ms: int) -> None:
        self._todo: list[Callable[[], None]] = []
        self._timer = QTimer(parent)
        self._timer.setSingleShot(True)
        self._timer.setInterval(ms)
        self._timer.timeout.connect(self._next)

    @property
    def pending(self) -> bool:
        """True while steps are left to run."""
        return bool(self._todo)

    def start(self, steps: Iterable[Callable[[], None]], now: bool = False) -> None:
        """Replace what is left by ``steps``: the first now (``now``) or a turn later."""
        self._todo = list(steps)
        if now:
            self._next()
        elif self._todo:
            self._timer.start()

    def cancel(self) -> None:
        """Drop the steps not run yet."""
        self._todo = []
        self._timer.stop()

    def _next(self) -> None:
        if self._todo:
            self._todo.pop(0)()  # a step may start or cancel steps itself
        if self._todo:
            self._timer.start()


def insert_quietly(layers: Any, layer: Any) -> None:
    """Append ``layer`` to napari's layer list without making it the active layer."""
    activate = getattr(layers, "_activate_on_insert", None)
    if activate is not None:
        layers._activate_on_insert = False
    try:
        layers.append(layer)
    finally:
        if activate is not None:
            layers._activate_on_insert = activate


def layer_steps(viewer: Any, layer: Any) -> list[Callable[[], None]]:
    """Steps that add ``layer`` hidden, then show it if it was to be seen."""
    shown = bool(layer.visible)
    layer.visible = False

    def insert() -> None:
        insert_quietly(viewer.layers, layer)

    def show() -> None:
        if layer in viewer.layers:
            layer.visible = True

    return [insert, show] if shown else [insert]


def remove_layers(viewer: Any, layers: list[Any]) -> None:
    """Remove ``layers`` (last first; None or already gone ones skipped) in one batch:
    napari garbage-collects once per batch, not once per removed layer."""
    gone = [layer for layer in layers[::-1] if layer is not None and layer in viewer.layers]
    if not gone:  # napari's batch ends in a full garbage collection, even an empty one
        return
    with viewer.layers.batched_update():
        for layer in gone:
            viewer.layers.remove(layer)


def activate(viewer: Any, layer: Any) -> None:
    """Make ``layer`` the active layer (as inserting it would have), if it is still there."""
    if layer in viewer.layers:
        viewer.layers.selection.active = layer
