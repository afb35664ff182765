"""Keep napari's dims slider labels wide enough to read ("frame", not "fran").

napari sizes the box of each slider's axis label when a slider is created or resized, but
not when ``viewer.dims.axis_labels`` is changed from code: its label update blocks the
signal that would resize the box. A layer that names its time axis "frame" therefore shows
it in a box sized for the default label "0", cut to "fran". ``fit_slider_labels`` asks
napari to size the boxes again after every change of the axis labels.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QTimer

_WATCHED: weakref.WeakSet[Any] = weakref.WeakSet()  # viewers whose labels are kept fitted


def _resizer(viewer: Any) -> Callable[[], None] | None:
    """napari's own re-sizing of the slider labels of ``viewer``, or None without a window."""
    with warnings.catch_warnings():  # private on purpose: the fix napari itself misses
        warnings.simplefilter("ignore", FutureWarning)
        qt_viewer = getattr(getattr(viewer, "window", None), "_qt_viewer", None)
        qt_dims = getattr(qt_viewer, "dims", None)
        resize = getattr(qt_dims, "_resize_axis_labels", None)
    if resize is None:
        return None

    def fit() -> None:
        try:
            resize()
        except RuntimeError:  # the window was closed meanwhile (Qt object deleted)
            pass

    return fit


def fit_slider_labels(viewer: Any) -> None:
    """Fit the slider labels of ``viewer`` to their text now and after every label change.

    Safe to call many times for the same viewer, and a no-op for a viewer without a window
    (e.g. a ``ViewerModel``) or a napari whose dims widget works differently.
    """
    fit = _resizer(viewer)
    if fit is None:
        return
    if viewer not in _WATCHED:
        _WATCHED.add(viewer)
        # after napari's own handler has put the new text in (it may be connected later)
        viewer.dims.events.axis_labels.connect(lambda _event: QTimer.singleShot(0, fit))
    QTimer.singleShot(0, fit)
