"""Decode a video in a producer thread and hand batches of frames through a bounded queue.

Prediction reads a video front to back (``io.video.VideoReader.iter_frames``: one forward
decode, no seeks) in a thread that batches the frames and, on the CPU path, preprocesses
them (``data.transforms.to_model_input``, the same code the training dataset uses), so
decoding the next batch overlaps the network's work on the current one. The queue holds
``(indices, images)`` pairs, then :class:`End`, or :class:`Failure` after the frames decoded
before a decoding error.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from napari_lightning_pose.data.transforms import to_model_input
from napari_lightning_pose.io.video import VideoReader


class End:
    """Queue marker: the producer read the last frame."""


@dataclass
class Failure:
    """Queue marker: decoding failed; ``error`` is what the reader raised."""

    error: BaseException


@contextlib.contextmanager
def decoded_batches(
    reader: VideoReader,
    batch_size: int,
    resize_hw: tuple[int, int],
    preprocess: bool,
    rows: range,
    queue_batches: int,
    name: str,
) -> Iterator[queue.Queue]:
    """A queue filled by a decoding thread; the thread is stopped and joined on exit.

    Items: ``(indices (B,), images)`` with images (B, 3, h, w) float32 model input when
    ``preprocess``, else the raw frames (B, H, W, 3) uint8 as a tensor; then ``End()`` or
    ``Failure(error)``.
    """
    stop = threading.Event()
    batches: queue.Queue = queue.Queue(maxsize=max(1, queue_batches))
    producer = threading.Thread(
        target=produce_batches,
        args=(reader, batch_size, resize_hw, preprocess, batches, stop, rows),
        name=name,
        daemon=True,
    )
    producer.start()
    try:
        yield batches
    finally:
        stop.set()
        _drain(batches)
        producer.join(timeout=10)


def produce_batches(
    reader: VideoReader,
    batch_size: int,
    resize_hw: tuple[int, int],
    preprocess: bool,
    out: queue.Queue,
    stop: threading.Event,
    rows: range | None = None,
) -> None:
    """Decode frames in order, batch them (preprocessed on the CPU path) and queue them.

    Frames decoded before a failure are queued first, then a :class:`Failure`.
    """
    frames: list[np.ndarray] = []
    indices: list[int] = []

    def flush() -> bool:
        if not frames:
            return True
        batch: Any = np.stack(frames)
        batch = to_model_input(batch, resize_hw) if preprocess else torch.from_numpy(batch)
        ok = _put(out, (np.asarray(indices), batch), stop)
        frames.clear()
        indices.clear()
        return ok

    try:
        span = () if rows is None else (rows.start, rows.stop)
        for i, frame in reader.iter_frames(*span):
            frames.append(frame)
            indices.append(i)
            if len(frames) == batch_size and not flush():
                return
        if flush():
            _put(out, End(), stop)
    except Exception as err:  # a decode error: pass on what we have, then the error
        if flush():
            _put(out, Failure(err), stop)


def _put(out: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Put ``item`` unless the consumer stopped; False when it did."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _drain(q: queue.Queue) -> None:
    with contextlib.suppress(queue.Empty):
        while True:
            q.get_nowait()
