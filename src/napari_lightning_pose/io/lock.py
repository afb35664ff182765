"""An advisory lock on a labels file, so that two writers never interleave read and write.

Frame selection (in a terminal or in the Project dock) holds the lock of ``CollectedData.csv``
while it writes PNGs and adds rows; the labeling dock takes it around each read-merge-write
and its autosave waits while someone else holds it. The lock is a file ``<name>.lock``
beside the labels, created exclusively (``O_EXCL``) and holding the owner's host and process
id, so it works across processes. A lock whose process is gone (same host), or older than
``STALE_SECONDS``, is broken. Within a process the lock is re-entrant per thread.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

STALE_SECONDS = 600.0
_held: dict[Path, tuple[int, int]] = {}  # lock file -> (thread id, depth)
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


def lock_owner(path: str | Path) -> str | None:
    """Who holds the lock of ``path`` (e.g. ``select-frames (pid 123)``), or None if free.

    A lock held by the calling thread counts as free; a stale lock is removed.
    """
    lock = lock_path(path).resolve()
    with _guard:
        if lock in _held and _held[lock][0] == threading.get_ident():
            return None
    info = _read(lock)
    if info is None:
        return None
    if _stale(lock, info):
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        return None
    return info.get("what", "") + f" (pid {info.get('pid', '?')})"


def wait_until_free(path: str | Path, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds until nobody else holds the lock of ``path``.

    Returns True when it is free (it is not taken), False on timeout.
    """
    deadline = time.monotonic() + timeout
    while lock_owner(path) is not None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
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
        Still held by another writer after ``timeout``.
    """
    lock = lock_path(path).resolve()
    me = threading.get_ident()
    with _guard:
        if lock in _held and _held[lock][0] == me:
            _held[lock] = (me, _held[lock][1] + 1)
            reentered = True
        else:
            reentered = False
    if not reentered:
        _acquire(lock, what, timeout)
        with _guard:
            _held[lock] = (me, 1)
    try:
        yield
    finally:
        with _guard:
            owner, depth = _held[lock]
            if depth > 1:
                _held[lock] = (owner, depth - 1)
                last = False
            else:
                del _held[lock]
                last = True
        if last:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()


def _acquire(lock: Path, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    text = f"{socket.gethostname()}\n{os.getpid()}\n{what}\n"
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            owner = lock_owner(lock.with_suffix(""))  # breaks a stale lock
            if owner is None:
                continue
            if time.monotonic() >= deadline:
                raise LockBusyError(lock, owner) from None
            time.sleep(0.05)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return


def _read(lock: Path) -> dict[str, str] | None:
    try:
        lines = lock.read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    keys = ("host", "pid", "what")
    return dict(zip(keys, lines, strict=False))


def _stale(lock: Path, info: dict[str, str]) -> bool:
    """True when the lock's owner is gone (same host) or the lock is very old."""
    try:
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return False
    if age > STALE_SECONDS:
        return True
    if info.get("host") != socket.gethostname():
        return False
    try:
        pid = int(info.get("pid", ""))
    except ValueError:
        return age > 1.0  # half-written by its owner, or garbage
    if pid == os.getpid():
        return False  # another thread of this process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
