"""Keep Python's full garbage collections short while a napari window is open.

A full collection walks every object the collector tracks, and a napari window alone makes
~270,000 of them (its modules, Qt wrappers, vispy visuals): one took 120-250 ms on a 2-core
machine, set off by whatever allocated next, often a layer we add, with the window frozen.
:func:`freeze_window_heap` moves the objects alive when our plugin is first used into the
collector's permanent generation (``gc.freeze``): later collections walk only what was made
since. They are released (``gc.unfreeze``) when that window is destroyed, so a closed viewer
is still freed; until then, cyclic garbage among them (a layer opened before our plugin was
used and closed later) waits for the window to close.
"""

from __future__ import annotations

import gc
from typing import Any


def freeze_window_heap(viewer: Any) -> bool:
    """Freeze the heap until ``viewer``'s window is destroyed; False (nothing done) without a
    viewer or while something is frozen already (one freeze per process at a time)."""
    menu = getattr(getattr(viewer, "window", None), "main_menu", None)
    if menu is None or gc.get_freeze_count():
        return False
    menu.destroyed.connect(_unfreeze)  # the menu bar goes with its main window
    gc.freeze()
    return True


def _unfreeze(*_args: Any) -> None:
    """Hand the frozen objects back to the collector (a closed window's can now be freed)."""
    gc.unfreeze()
