"""Labeled-frame images: their sizes from the file headers, and the lazy ``FrameStack``.

A project's labeled frames (``labeled-data/<video>/img*.png``) are read here: the sizes
that bound the labels (``image_sizes``, headers only), and the frames themselves as one lazy
array that decodes a frame when it is indexed (``FrameStack``), which the labels reader and
the labeling dock show as an Image layer. Plain files in, numpy out: no Qt, no napari.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from napari_lightning_pose.cache import LRUCache
from napari_lightning_pose.errors import LabelsError

_GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N"}


class FrameStack:
    """The labeled-frame PNGs as one lazy array of shape (frames, H, W) or (frames, H, W, 3).

    Only the image headers are read up front; a frame is decoded when indexed (the last few
    are cached). If every image is greyscale the stack is greyscale, otherwise every frame is
    RGB (greyscale frames are repeated over the three channels). Frames smaller than the
    largest one are padded with zeros at the bottom and right, so coordinates are unchanged.
    napari takes it as Image layer data like any array.

    Parameters
    ----------
    paths
        One image file per frame.
    cache_size
        Decoded frames kept in memory.
    """

    def __init__(self, paths: Sequence[str | Path], cache_size: int = 16) -> None:
        self.paths = [Path(p) for p in paths]
        self._cache: LRUCache[int, np.ndarray] = LRUCache(cache_size)
        self._lock = threading.Lock()
        sizes, modes = [], []
        for p in self.paths:
            try:
                with Image.open(p) as img:
                    sizes.append((img.height, img.width))
                    modes.append(img.mode)
            except FileNotFoundError as err:
                raise LabelsError(
                    p, "labeled frame not found.", "Keep labeled-data/ beside the labels CSV."
                ) from err
            except OSError as err:
                raise LabelsError(p, f"is not a readable image ({err}).") from err
        self.sizes: list[tuple[int, int]] = sizes
        self.rgb = any(m not in _GREY_MODES for m in modes)
        sixteen = not self.rgb and any(m.startswith("I") for m in modes)
        self.dtype = np.dtype(np.uint16 if sixteen else np.uint8)
        height = max((s[0] for s in sizes), default=0)
        width = max((s[1] for s in sizes), default=0)
        self.shape: tuple[int, ...] = (len(self.paths), height, width) + ((3,) if self.rgb else ())

    @property
    def ndim(self) -> int:
        """Number of axes (3 for greyscale, 4 for RGB)."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of values, as for a numpy array."""
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return len(self.paths)

    def frame(self, i: int) -> np.ndarray:
        """Decode frame ``i``: shape (H, W) or (H, W, 3), padded to the stack's size."""
        with self._lock:  # napari may slice from several threads
            cached = self._cache.get(i)
        if cached is not None:
            return cached
        arr = self._decode(i)
        with self._lock:
            self._cache.put(i, arr)
        return arr

    def _decode(self, i: int) -> np.ndarray:
        with Image.open(self.paths[i]) as img:
            if self.rgb:
                arr = np.asarray(img.convert("RGB"))
            elif img.mode.startswith("I"):
                arr = np.asarray(img).astype(self.dtype)
            else:
                arr = np.asarray(img.convert("L")).astype(self.dtype)
        if arr.shape[:2] != self.shape[1:3]:
            padded = np.zeros(self.shape[1:], dtype=self.dtype)
            padded[: arr.shape[0], : arr.shape[1]] = arr
            arr = padded
        arr.setflags(write=False)
        return arr

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            at = next(i for i, k in enumerate(key) if k is Ellipsis)
            fill = (slice(None),) * (self.ndim - len(key) + 1)
            key = key[:at] + fill + key[at + 1 :]
        first, rest = (key[0], key[1:]) if key else (slice(None), ())
        frames = np.arange(len(self))[first]
        if np.ndim(frames) == 0:
            return self.frame(int(frames))[rest]
        if len(frames):
            stack = np.stack([self.frame(int(i)) for i in frames])
        else:
            stack = np.empty((0, *self.shape[1:]), dtype=self.dtype)
        return stack[(slice(None), *rest)]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"FrameStack({len(self)} frames, shape={self.shape}, dtype={self.dtype})"


def load_frame_stack(images: Sequence[str], root: str | Path) -> FrameStack:
    """The labeled frames ``images`` (paths relative to ``root``, the CSV's folder) as a stack."""
    root = Path(root)
    return FrameStack([root / im for im in images])


def image_sizes(images: Sequence[str], root: str | Path) -> dict[str, tuple[int, int]]:
    """(height, width) of each image, read from the file headers; missing files are left out."""
    sizes: dict[str, tuple[int, int]] = {}
    for im in images:
        try:
            with Image.open(Path(root) / im) as img:
                sizes[im] = (img.height, img.width)
        except OSError:
            continue
    return sizes
