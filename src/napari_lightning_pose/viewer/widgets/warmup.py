"""Load, in a worker thread, what napari loads on the GUI thread for its first Image layer.

The first Image layer of a session makes napari build pint's unit registry (~0.4 s) and
import scipy.ndimage for the thumbnail (~0.3 s), both on the GUI thread, where they froze
the window after Project > Add video. The dock workers call this before they return, so the
layer is added with both already loaded; later calls cost nothing.

A video's Image layer is drawn first at one frame, decoded on the GUI thread from the
keyframe before it (50-100 ms) unless a worker decoded it into the reader's cache already
(:func:`decode_shown_frame`, with :func:`frame_shown_first` saying which frame that is).

The plots' pyqtgraph (0.1-0.3 s on the GUI thread when the first plot dock opened) is
imported the same way, in a thread of its own, as soon as any of the plugin's docks opens
or a prediction layer arrives in a window (:func:`preload_plots`): a plot dock opened
afterwards finds it imported.
"""

from __future__ import annotations

import importlib
import sys
import threading
from typing import Any

#: The module that imports pyqtgraph (without its CUDA probe).
PLOTTING = "napari_lightning_pose.viewer.widgets.plotting"
_preload_lock = threading.Lock()
_preload: list[threading.Thread] = []


def warm_first_image_layer() -> None:
    """Build pint's application registry and import scipy.ndimage (idempotent)."""
    import pint
    import scipy.ndimage  # noqa: F401

    pint.get_application_registry().pixel  # noqa: B018 (the first attribute builds it)


def frame_shown_first(viewer: Any) -> int | None:
    """The frame napari shows of a video layer added to ``viewer`` now: the slider's frame
    when a layer has a time axis, 0 when only flat layers are open, None (the middle frame)
    in an empty viewer."""
    if not len(viewer.layers):
        return None
    if any(layer.ndim >= 3 for layer in viewer.layers):
        return int(viewer.dims.current_step[0])
    return 0


def decode_shown_frame(reader: Any, first_frame: int | None = None) -> None:
    """Decode the frame napari will draw first of ``reader``'s layer (``first_frame``, None:
    the middle one, where napari puts the slider of an empty viewer) into its cache."""
    last = reader.n_frames - 1
    reader[last // 2 if first_frame is None else min(first_frame, last)]


def preload_plots() -> None:
    """Import pyqtgraph in a background thread, once per process (returns at once)."""
    with _preload_lock:
        if _preload or PLOTTING in sys.modules:
            return
        thread = threading.Thread(
            target=importlib.import_module, args=(PLOTTING,), name="preload plots", daemon=True
        )
        _preload.append(thread)
    thread.start()
