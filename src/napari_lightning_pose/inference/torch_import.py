"""Import torch from a worker thread without freezing the GUI thread for long.

``import torch`` loads a gigabyte of shared libraries (libtorch_cpu, libtorch_cuda, ...) and
runs their static initialisers while Python's import machinery holds the GIL: 0.4-0.7 s in
which no other Python thread runs, so a window whose dock started a job froze that long
(``benchmarks/bench_gui_stalls.py``, a training run). :func:`load_torch_libraries` loads the
same libraries first through ``dlopen`` called as a foreign function (ctypes releases the
GIL around such calls), so the GUI thread keeps running meanwhile and the import that
follows finds them loaded. The imports make half a million objects, and the collector ran a
full collection every ~100,000 of them, each walking the whole heap (0.25-0.45 s holding the
GIL, on whichever thread it fell): :func:`without_gc` rests it during the imports.

The imported objects are not frozen out of later collections (``gc.freeze``): that would
also freeze everything alive at that moment, such as an open video layer, whose reference
cycles would then never be collected after the user closes it (a leak of its frame cache).
"""

from __future__ import annotations

import ctypes
import gc
import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _torch_files() -> tuple[Path, Path] | None:
    """torch's ``lib/libtorch_global_deps.so`` and its ``_C`` extension, without importing."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations)))
    deps = package / "lib" / "libtorch_global_deps.so"
    extension = sorted(package.glob("_C.*.so"))
    if not deps.is_file() or not extension:
        return None
    return deps, extension[0]


def load_torch_libraries() -> bool:
    """``dlopen`` torch's shared libraries with the GIL released (Linux; idempotent).

    The libraries are loaded the way ``import torch`` loads them: the global dependencies
    with ``RTLD_GLOBAL``, then the ``_C`` extension with everything it links, whose module is
    still created by the import. Returns True when they were loaded here; False when torch
    is imported already, the platform has no such files, or a library failed to load (the
    import then loads them itself, as it would have without this).
    """
    if "torch" in sys.modules or not sys.platform.startswith("linux"):
        return False
    files = _torch_files()
    if files is None:
        return False
    try:
        dlopen = ctypes.CDLL(None).dlopen  # a CDLL function: called without the GIL
    except (AttributeError, OSError):
        return False
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    deps, extension = files
    for path, mode in ((deps, os.RTLD_GLOBAL), (extension, os.RTLD_LOCAL)):
        if not dlopen(os.fsencode(path), os.RTLD_NOW | mode):
            return False
    return True


@contextmanager
def without_gc() -> Iterator[None]:
    """Automatic garbage collection off inside the block (back as it was afterwards).

    For a block that makes many objects and no garbage worth collecting (imports).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
