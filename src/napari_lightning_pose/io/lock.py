"""An OS lock on a labels file, so that two writers never interleave read and write.

Frame selection (in a terminal or in the Project dock), Label these, the napari writer and
the labeling dock each hold the lock of ``CollectedData.csv`` around their read-merge-write.
The lock is ``filelock.FileLock`` on ``<name>.lock`` beside the labels: an OS lock
(``flock`` on Unix, ``LockFileEx`` on Windows) that the operating system releases when its
holder's process ends, however it ends. So there is no stale lock to guess about and none is
ever broken: a lock is either held by a live process or free. The lock file itself may stay
behind; it is empty and harmless.

Who holds the lock (``select-frames (pid 123)``) is written to ``<name>.lock.owner`` while
it is held, so that a waiting dock can say whom it waits for; that file is only read while
the lock is really held, so one left by a killed holder says nothing.

Within a process the lock is re-entrant per thread: a function that holds it may call
another that takes it again. Two threads of one process exclude each other like two
processes do.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

_POLL_SECONDS = 0.05


@dataclass
class _Hold:
    thread: int
    depth: int
    lock: FileLock


_held: dict[Path, _Hold] = {}  # lock file -> the hold of one thread of this process
_guard = threading.Lock()


class LockBusyError(TimeoutError):
    """The lock is held by another writer; ``owner`` says who."""

    def __init__(self, path: Path, owner: str) -> None:
        self.path = path
        self.owner = owner
        super().__init__(f"{path} is being written by {owner or 'another program'}")


def lock_path(path: str | Path) -> Path:
    """The lock file of ``path``: ``<path>.lock`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


def _owner_path(lock: Path) -> Path:
    return lock.with_name(lock.name + ".owner")


def _held_by_me(lock: Path) -> bool:
    with _guard:
        hold = _held.get(lock)
        return hold is not None and hold.thread == threading.get_ident()


def _is_free(lock: Path) -> bool:
    """True when nobody holds ``lock`` (tried without waiting, and let go at once)."""
    if not lock.parent.is_dir():
        return True
    probe = FileLock(str(lock))
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return False
    probe.release()
    return True


def lock_owner(path: str | Path) -> str | None:
    """Who holds the lock of ``path`` (e.g. ``select-frames (pid 123)``), or None if free.

    A lock held by the calling thread counts as free. A holder that has not written its
    name yet (or cannot) is ``"another program"``.
    """
    lock = lock_path(path).resolve()
    if _held_by_me(lock) or _is_free(lock):
        return None
    try:
        text = _owner_path(lock).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    return text or "another program"


def wait_until_free(
    path: str | Path, timeout: float | None, stop: Callable[[], bool] | None = None
) -> bool:
    """Wait until nobody else holds the lock of ``path``; the lock is not taken.

    ``timeout`` None waits for as long as it takes; ``stop`` (called between polls) ends the
    wait early. Returns True when the lock is free, False on timeout or stop.
    """
    lock = lock_path(path).resolve()
    deadline = None if timeout is None else time.monotonic() + timeout
    while not (_held_by_me(lock) or _is_free(lock)):
        if (deadline is not None and time.monotonic() >= deadline) or (stop and stop()):
            return False
        time.sleep(_POLL_SECONDS)
    return True


@contextlib.contextmanager
def hold_lock(path: str | Path, what: str, timeout: float = 10.0) -> Iterator[None]:
    """Hold the lock of ``path`` for the ``with`` block, waiting up to ``timeout`` seconds.

    Parameters
    ----------
    path
        The file to protect (the lock is ``<path>.lock``).
    what
        Who holds it, shown to the other writers (e.g. ``"select-frames"``).
    timeout
        Seconds to wait for another writer; 0 tries once.

    Raises
    ------
    LockBusyError
        Still held by another writer after ``timeout``; nothing was written then.
    """
    lock = lock_path(path).resolve()
    me = threading.get_ident()
    with _guard:
        hold = _held.get(lock)
        reentered = hold is not None and hold.thread == me
        if reentered:
            hold.depth += 1
    if not reentered:
        lock.parent.mkdir(parents=True, exist_ok=True)
        file_lock = FileLock(str(lock))
        try:
            file_lock.acquire(timeout=max(timeout, 0.0), poll_interval=_POLL_SECONDS)
        except Timeout:
            raise LockBusyError(lock, lock_owner(path) or "another program") from None
        with _guard:
            _held[lock] = _Hold(me, 1, file_lock)
        _write_owner(lock, what)
    try:
        yield
    finally:
        with _guard:
            hold = _held[lock]
            hold.depth -= 1
            last = hold.depth == 0
            if last:
                del _held[lock]
        if last:
            with contextlib.suppress(OSError):
                _owner_path(lock).unlink()
            hold.lock.release()


def _write_owner(lock: Path, what: str) -> None:
    """Write who holds ``lock`` beside it (atomically; only ever read while it is held)."""
    owner = _owner_path(lock)
    tmp = owner.with_name(f"{owner.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with contextlib.suppress(OSError):
        tmp.write_text(f"{what} (pid {os.getpid()})\n", encoding="utf-8")
        os.replace(tmp, owner)
