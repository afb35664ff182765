"""Numpy-style indices of a lazy frame array, split into the frames to read and the rest.

``VideoReader.__getitem__`` decodes only the frames an index selects along axis 0; these
pure functions say which ones (ints, slices, integer or boolean arrays, ``...``) and what is
left to apply to each frame afterwards.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def normalise_index(i: int, n: int) -> int:
    """A frame index in 0..n-1 from a possibly negative one; ``IndexError`` if out of range."""
    if not -n <= i < n:
        raise IndexError(f"frame {i} is out of range for a video of {n} frames")
    return i + n if i < 0 else i


def split_key(key: Any, ndim: int) -> tuple[Any, tuple]:
    """Split a numpy index into the frame part and the rest, expanding ``...``."""
    key = key if isinstance(key, tuple) else (key,)
    if any(k is None for k in key):
        raise IndexError("np.newaxis is not supported when indexing a VideoReader")
    n_ellipsis = sum(k is Ellipsis for k in key)
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_ellipsis:
        pos = next(j for j, k in enumerate(key) if k is Ellipsis)
        fill = (slice(None),) * (ndim - len(key) + 1)
        key = key[:pos] + fill + key[pos + 1 :]
    if len(key) > ndim:
        raise IndexError(f"too many indices: a video has {ndim} dimensions")
    if not key:
        return slice(None), ()
    return key[0], tuple(key[1:])


def selected_frames(frame_key: Any, n: int) -> np.ndarray:
    """The frames (0..n-1, in the key's order) a slice, integer list or boolean mask picks."""
    if isinstance(frame_key, slice):
        return np.arange(*frame_key.indices(n), dtype=np.int64)
    wanted = np.asarray(frame_key)
    if wanted.dtype == bool:
        if wanted.shape != (n,):
            raise IndexError(f"boolean index has shape {wanted.shape}, expected ({n},)")
        wanted = np.flatnonzero(wanted)
    if wanted.ndim != 1 or wanted.dtype.kind not in "iu":
        raise IndexError("frames can be selected by int, slice or 1-D integer array")
    return np.array([normalise_index(int(i), n) for i in wanted], dtype=np.int64)
