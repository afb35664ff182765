"""Make our readers the ones napari uses for videos and pose CSVs, without asking the user.

napari 0.9 asks which plugin should read a file when several can (its own reader, other
video plugins, ours), and a user who picks napari's reads a whole video into memory. napari
remembers an answer in its settings (``plugins.extension2reader``: file pattern -> plugin).
When our plugin is first used (npe2 activates it on its first command: a dock, the sample,
a reader), :func:`prefer_our_readers` writes that answer for our patterns, the way the
dialog's "remember" box would, so later File > Open and drag-and-drop use our readers.

A pattern the user already mapped is left alone, and each pattern is written only once
ever (a note beside napari's settings file records which), so a mapping the user removes
(Preferences > Plugins > File extension readers) stays removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

PLUGIN = "napari-lightning-pose"
VIDEO_PATTERNS = ("*.mp4", "*.avi", "*.mov", "*.mkv", "*.MP4", "*.AVI", "*.MOV", "*.MKV")
#: Our readers return nothing for a CSV that is not a pose CSV, and napari then offers
#: the other readers, so every CSV can come to us first.
PATTERNS = (*VIDEO_PATTERNS, "*.csv", "*.CSV")
NOTE_NAME = "napari-lightning-pose-readers.txt"


def note_path(settings: Any) -> Path | None:
    """The note of patterns already written, beside napari's settings file (None: unsaved
    settings, e.g. in tests that give no path)."""
    config = getattr(settings, "config_path", None)
    return Path(config).parent / NOTE_NAME if config else None


def prefer_our_readers(settings: Any = None, patterns: Sequence[str] = PATTERNS) -> list[str]:
    """Map each of ``patterns`` to our plugin in napari's settings, once; the ones mapped now.

    Parameters
    ----------
    settings
        napari's settings (default ``napari.settings.get_settings()``).
    patterns
        File-name patterns (fnmatch, as napari's settings use).
    """
    if settings is None:
        from napari.settings import get_settings

        settings = get_settings()
    note = note_path(settings)
    written: set[str] = set()
    if note is not None and note.is_file():
        written = set(note.read_text(encoding="utf-8").split())
    current = dict(settings.plugins.extension2reader)
    new = [p for p in patterns if p not in current and p not in written]
    if new:
        settings.plugins.extension2reader = {**current, **dict.fromkeys(new, PLUGIN)}
    if note is not None and not set(patterns) <= written:
        from napari_lightning_pose.io.atomic import atomic_write_text

        note.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(note, "\n".join(sorted(written | set(patterns))) + "\n")
    return new
