"""Data-loader worker processes that never re-run the user's script.

Clip workers start with ``spawn`` (``data.unlabeled.WORKER_START``: a forked child's FFmpeg
decoder crashed). A spawned child normally re-imports the parent's ``__main__`` first, to
find what it must unpickle. For a script without an ``if __name__ == "__main__":`` guard
that re-runs the whole script in every worker: it starts training again, which in a child
that is still starting up cannot start workers of its own, and the run hung at 0 % with no
message. Our workers unpickle only our own classes, so they do not need ``__main__`` at
all: while :class:`WorkerSafeLoader` starts its workers, ``sys.modules["__main__"]`` is a
bare stand-in (no file, no module name), and the children skip that import. The same holds
from the napari window, whose ``__main__`` is napari's.
"""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch.utils.data import DataLoader

_LOCK = threading.Lock()


@contextmanager
def main_module_hidden() -> Iterator[None]:
    """Hide the parent's ``__main__`` from processes started inside the block."""
    with _LOCK:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main


class WorkerSafeLoader(DataLoader):
    """A ``DataLoader`` whose worker processes do not import the user's ``__main__``.

    Workers start when iteration starts (``persistent_workers`` off), so only that is
    wrapped; with ``num_workers=0`` it is a plain ``DataLoader``.
    """

    def __iter__(self) -> Any:
        if self.num_workers == 0:
            return super().__iter__()
        with main_module_hidden():
            return super().__iter__()
