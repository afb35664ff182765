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

While a job runs (:func:`heap_rests_during`), the heap that exists is kept out of the
collector's walks (``gc.freeze``), the imports' objects too (:func:`freeze_new_objects`):
otherwise the first full collection after the import walks every object of the window and
of torch (0.3-1.1 s holding the GIL, a frozen window during training). When the last job
ends everything is unfrozen, so an object that became cyclic garbage meanwhile (a video
layer the user closed) is collected by the next full collection, as it would have been;
freezing for good would leak it (and its frame cache) for the life of the process.
"""

from __future__ import annotations

import ctypes
import gc
import importlib.util
import os
import sys
import threading
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


def system_llvm_loaded(maps: str | None = None) -> bool:
    """Whether a system ``libLLVM`` is mapped into this process (Linux ``/proc/self/maps``).

    Mesa's OpenGL drivers (llvmpipe, radeonsi) load it with global symbols; triton's own LLVM
    then crashes while it loads (segmentation fault), so triton must not be imported after it.
    """
    if maps is None:
        try:
            maps = Path("/proc/self/maps").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    return any(
        Path(line.split()[-1]).name.startswith("libLLVM")
        for line in maps.splitlines()
        if "/" in line
    )


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


_rest_lock = threading.Lock()
_jobs_running = 0
_thresholds = gc.get_threshold()
#: Middle-generation collections between full ones while a job runs (Python's default: 10).
#: A full collection then walks only what the job made and kept, not the frozen window, but
#: it does run: an hours-long training run must not pile up its cyclic garbage to the end.
FULL_COLLECTION_EVERY = 100


@contextmanager
def heap_rests_during() -> Iterator[None]:
    """Inside the block (a job), the collector leaves the objects alive at its start alone.

    ``gc.freeze`` moves them out of the generations the collector walks (constant time);
    when the last of the overlapping blocks ends, ``gc.unfreeze`` gives them back to the
    oldest generation without a collection, so cyclic garbage among them is collected at
    the next full collection, never kept. Full collections inside are rarer
    (``FULL_COLLECTION_EVERY``) and walk only the unfrozen objects; after one, the
    collector counts few long-lived objects, so a full collection over the whole heap
    follows soon after the unfreeze (as it would follow the first job anyway).
    """
    global _jobs_running, _thresholds
    with _rest_lock:
        gc.freeze()
        if _jobs_running == 0:
            _thresholds = gc.get_threshold()
            gc.set_threshold(_thresholds[0], _thresholds[1], FULL_COLLECTION_EVERY)
        _jobs_running += 1
    try:
        yield
    finally:
        with _rest_lock:
            _jobs_running -= 1
            if _jobs_running == 0:
                gc.set_threshold(*_thresholds)
                gc.unfreeze()


def heap_resting() -> bool:
    """Whether a job's :func:`heap_rests_during` block is open (constant time, unlike
    ``gc.get_freeze_count``, which walks every frozen object)."""
    return _jobs_running > 0


def freeze_new_objects() -> bool:
    """Inside :func:`heap_rests_during`, freeze the objects made since (an import's).

    Returns True when they were frozen, False outside any such block (nothing changes).
    """
    with _rest_lock:
        if _jobs_running:
            gc.freeze()
        return _jobs_running > 0
