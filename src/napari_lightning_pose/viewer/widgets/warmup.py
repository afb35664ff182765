"""Load, in a worker thread, what napari loads on the GUI thread for its first Image layer.

The first Image layer of a session makes napari build pint's unit registry (~0.4 s) and
import scipy.ndimage for the thumbnail (~0.3 s), both on the GUI thread, where they froze
the window after Project > Add video. The dock workers call this before they return, so the
layer is added with both already loaded; later calls cost nothing.

The plots' pyqtgraph (0.1-0.3 s on the GUI thread when the first plot dock opened) is
imported the same way, in a thread of its own, as soon as any of the plugin's docks opens
or a prediction layer arrives in a window (:func:`preload_plots`): a plot dock opened
afterwards finds it imported.
"""

from __future__ import annotations

import importlib
import sys
import threading

#: The module that imports pyqtgraph (without its CUDA probe).
PLOTTING = "napari_lightning_pose.viewer.widgets.plotting"
_preload_lock = threading.Lock()
_preload: list[threading.Thread] = []


def warm_first_image_layer() -> None:
    """Build pint's application registry and import scipy.ndimage (idempotent)."""
    import pint
    import scipy.ndimage  # noqa: F401

    pint.get_application_registry().pixel  # noqa: B018 (the first attribute builds it)


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
