"""Atomic file writes: a temp file in the same folder, fsync, then ``os.replace``.

A crash or a full disk mid-write leaves the previous file intact, never a half-written one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp(path)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if path.exists():
            shutil.copymode(path, tmp)  # an overwrite keeps the file's permissions
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _create_temp(path: Path) -> Path:
    """Create an empty, uniquely named file beside ``path``, with permissions from the umask.

    (``tempfile.mkstemp`` would make it readable by its owner only, and the final file too.)
    """
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"could not create a temporary file beside {path}")


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def rotate_backups(path: str | Path, keep: int = 3) -> None:
    """Shift ``path`` to ``path.bak1`` (``bak1`` to ``bak2`` ...), keeping ``keep`` backups.

    Call before overwriting ``path`` so the previous version survives a bad save.
    """
    path = Path(path)
    if keep < 1 or not path.exists():
        return
    for i in range(keep, 1, -1):
        older = path.with_name(f"{path.name}.bak{i - 1}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.bak{i}"))
    # copy (not move) so that ``path`` stays in place until the new file replaces it
    backup = path.with_name(f"{path.name}.bak1")
    atomic_write(backup, lambda tmp: tmp.write_bytes(path.read_bytes()))
