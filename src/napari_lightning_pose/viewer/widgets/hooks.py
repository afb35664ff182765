"""What a dock hooks into the viewer (event callbacks, key bindings), undone in one call.

The viewer outlives its docks: napari's close button on a dock takes the widget out and
deletes the dock around it, and closing the window deletes the docks while the viewer's
layers and events still fire. Every callback a dock connected and every key it bound must be
undone then, or a later frame change, layer removal or key press reaches a deleted Qt object.
:class:`ViewerHooks` records them as they are made and :meth:`ViewerHooks.release` undoes
them all; :func:`release_when_destroyed` does that when the dock's Qt object is deleted.
Nothing here holds the dock: the callbacks' owner is referenced weakly, and so are the hooks
from the ``destroyed`` connection (a reference from Qt's side that Python's garbage
collector cannot see through).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any


class ViewerHooks:
    """Event connections and key bindings of one owner, released together."""

    def __init__(self) -> None:
        self._events: list[tuple[Any, weakref.WeakMethod]] = []
        self._keys: list[tuple[Any, str]] = []
        self._undo: list[Callable[[], Any]] = []

    def connect(self, emitter: Any, method: Callable[..., Any]) -> None:
        """``emitter.connect(method)`` for a bound ``method``, remembered for :meth:`release`."""
        emitter.connect(method)
        self._events.append((emitter, weakref.WeakMethod(method)))

    def bind_key(self, target: Any, key: str, func: Callable[[Any], Any]) -> None:
        """Bind ``key`` on ``target`` (the viewer or a layer), replacing what it did."""
        target.bind_key(key, func, overwrite=True)
        self._keys.append((target, key))

    def on_release(self, undo: Callable[[], Any]) -> None:
        """Call ``undo`` at :meth:`release` (e.g. removing an event filter)."""
        self._undo.append(undo)

    def release(self, *_args: Any) -> None:
        """Disconnect every callback and unbind every key (safe to call again)."""
        events, self._events = self._events, []
        for emitter, ref in events:
            method = ref()
            if method is not None:  # a dead owner's callbacks are dropped by the emitter
                emitter.disconnect(method)
        keys, self._keys = self._keys, []
        for target, key in keys:
            target.bind_key(key, None, overwrite=True)
        undo, self._undo = self._undo, []
        for func in undo:
            func()


def release_when_destroyed(qobject: Any, *hooks: ViewerHooks) -> None:
    """Release ``hooks`` when ``qobject`` (a dock widget) is deleted, holding them weakly."""
    refs = [weakref.ref(h) for h in hooks]

    def release(*_args: Any) -> None:
        for ref in refs:
            hook = ref()
            if hook is not None:
                hook.release()

    qobject.destroyed.connect(release)
