"""pyqtgraph, imported without its CUDA probe (the docks' plots).

``import pyqtgraph`` imports ``pyqtgraph.widgets.RawImageWidget``, which imports
``cuda.bindings.runtime`` when CUDA Python is installed (torch's CUDA wheels install it):
30-45 ms of C-extension initialisation holding the GIL, a third of the Train dock's
opening freeze, for a widget (OpenGL images from GPU arrays) no dock uses. While this
thread imports pyqtgraph that module reads as missing to it, so RawImageWidget takes its
no-CUDA path; other threads (torch, importing it meanwhile) and later imports find it.
"""

from __future__ import annotations

import importlib
import sys
import threading
from importlib.machinery import ModuleSpec

_PROBE = "cuda.bindings.runtime"


class _HideProbe:
    """A meta path finder that refuses ``cuda.bindings.runtime`` to one thread."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec:
        """Refuse the probe to the importing thread; leave every other import to the rest."""
        if name == _PROBE and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"{name} is not needed by the plots", name=name)
        return None  # type: ignore[return-value]  # not ours: the next finder's


if "pyqtgraph" not in sys.modules:
    _finder = _HideProbe()
    sys.meta_path.insert(0, _finder)  # type: ignore[arg-type]
    try:
        importlib.import_module("pyqtgraph")
    finally:
        sys.meta_path.remove(_finder)  # type: ignore[arg-type]

import pyqtgraph as pg  # noqa: E402

__all__ = ["pg"]
