"""Load, in a worker thread, what napari loads on the GUI thread for its first Image layer.

The first Image layer of a session makes napari build pint's unit registry (~0.4 s) and
import scipy.ndimage for the thumbnail (~0.3 s), both on the GUI thread, where they froze
the window after Project > Add video. The dock workers call this before they return, so the
layer is added with both already loaded; later calls cost nothing.
"""

from __future__ import annotations


def warm_first_image_layer() -> None:
    """Build pint's application registry and import scipy.ndimage (idempotent)."""
    import pint
    import scipy.ndimage  # noqa: F401

    pint.get_application_registry().pixel  # noqa: B018 (the first attribute builds it)
