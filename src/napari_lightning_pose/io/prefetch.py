"""Background decoding of the frames around a ``VideoReader``'s cursor, so scrubbing is smooth.

A viewer reads frames on its GUI thread. Stepping forwards is cheap (the decoder goes on
where it stopped) but stepping backwards past the frames kept in the cache needs a seek to
the previous keyframe and a decode of the whole run up to the frame, on the GUI thread. A
``Prefetcher`` keeps the frames around the last frame read in the reader's cache instead:
after every read it wakes a thread with its own decoder (PyAV containers are not
thread-safe, so it never touches the reader's) which decodes the missing frames ahead of
the cursor and behind it, in the direction the user is moving first, and puts them in the
cache already converted to RGB.

It never holds the reader's lock while decoding: the lock is taken only to look at the cache
and to put a finished frame, so a read on the GUI thread waits at most for one frame to be
stored. When the cursor moves while it works it finishes the run if the run still lies near
the cursor (small steps), and drops it after the current frame when the user jumped away.
The thread ends when the reader is closed or garbage collected, and at interpreter exit.
On Linux the thread runs at a lower priority (nice + 5) than the
viewer, so the viewer gets the cores first; at +10 it starved on a busy machine and the
viewer ended up decoding the frames itself.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import weakref
from pathlib import Path
from typing import Protocol

import av

from napari_lightning_pose.io.video_decoder import Decoder
from napari_lightning_pose.io.video_index import FrameIndex

_LIVE: weakref.WeakSet[Prefetcher] = weakref.WeakSet()


class PrefetchTarget(Protocol):
    """What a :class:`Prefetcher` fills: a ``VideoReader`` (``io.video``)."""

    path: Path
    n_frames: int
    cache_size: int

    @property
    def frame_index(self) -> FrameIndex: ...

    def cached_frames(self) -> set[int]: ...

    def offer(self, k: int, frame: av.VideoFrame) -> bool: ...


class Prefetcher:
    """Keeps ``reader``'s frames ``cursor - behind .. cursor + ahead`` decoded in its cache.

    Parameters
    ----------
    reader : PrefetchTarget
        The reader (a ``VideoReader``) whose cache is filled; held weakly, so the thread
        ends once the reader is garbage collected.
    behind, ahead : int
        Frames kept before and after the cursor; ``behind + ahead`` must be smaller than
        the reader's cache.
    delay : float
        Seconds the cursor must rest before work starts, so that the viewer draws the frame
        it has just read without the prefetch competing for the CPU.
    """

    def __init__(
        self, reader: PrefetchTarget, behind: int, ahead: int, delay: float = 0.02
    ) -> None:
        if behind < 0 or ahead < 0 or behind + ahead + 1 > reader.cache_size:
            raise ValueError(
                f"need 0 <= behind, ahead and behind + ahead < cache_size ({reader.cache_size}), "
                f"got behind={behind}, ahead={ahead}"
            )
        self.behind, self.ahead, self.delay = behind, ahead, delay
        self._reader = weakref.ref(reader)
        self._path, self._index = reader.path, reader.frame_index
        self._n = reader.n_frames
        self._cond = threading.Condition()
        self._cursor: int | None = None  # a frame read since the thread last looked
        self._latest: int | None = None  # the frame read last
        self._forward = True
        self._generation = 0
        self._stopped = False
        self._idle = threading.Event()
        self._idle.set()
        self.frames_decoded = 0
        self._thread = threading.Thread(
            target=self._run, name=f"prefetch {reader.path.name}", daemon=True
        )
        weakref.finalize(reader, self.stop, False)
        _LIVE.add(self)
        self._thread.start()

    # ------------------------------------------------------------------ control (any thread)
    @property
    def alive(self) -> bool:
        """True while the decoding thread runs."""
        return self._thread.is_alive()

    def point_at(self, i: int) -> None:
        """The viewer shows frame ``i`` now: fill the frames around it (cheap, never blocks)."""
        with self._cond:
            if i == self._latest or self._stopped:
                return
            if self._latest is not None:
                self._forward = i >= self._latest
            self._latest = i
            self._cursor = i
            self._generation += 1
            self._idle.clear()
            self._cond.notify()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until the frames around the cursor are cached (for tests and benchmarks)."""
        return self._idle.wait(timeout)

    def stop(self, join: bool = True, timeout: float = 5.0) -> None:
        """End the thread after the frame it is decoding; ``join`` waits for it."""
        with self._cond:
            self._stopped = True
            self._generation += 1
            self._cond.notify()
        if join and self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        _lower_priority()
        decoder: Decoder | None = None
        try:
            while True:
                with self._cond:
                    while not self._stopped and self._cursor is None:
                        self._idle.set()
                        self._cond.wait()
                    # let the viewer draw the frame it just read before competing for the CPU
                    settled = -1
                    while not self._stopped and settled != self._generation:
                        settled = self._generation
                        self._cond.wait(self.delay)
                    if self._stopped:
                        return
                    cursor, forward = self._cursor, self._forward
                    self._cursor = None  # taken; a new point_at sets it again
                if decoder is None:
                    decoder = Decoder(self._path, self._index, threads=False)
                for start, stop in self._plan(cursor, forward):
                    if not self._fill(decoder, start, stop):
                        break
                with self._cond:
                    if self._cursor is None and not self._stopped:
                        self._idle.set()
        except (av.FFmpegError, OSError, ValueError):
            pass  # a damaged file: the GUI thread's own read reports it with the frame number
        finally:
            self._idle.set()
            if decoder is not None:
                decoder.close()

    def _plan(self, cursor: int, forward: bool) -> list[tuple[int, int]]:
        """Runs ``[start, stop)`` of frames to decode, the way the user moves first.

        A side is refilled only when fewer than half its frames are left in the cache next
        to the cursor, and then completely: stepping backwards costs one seek per
        ``behind // 2`` frames, not one per step.
        """
        reader = self._reader()
        if reader is None:
            return []
        cached = reader.cached_frames()
        plan = []
        end = min(cursor + 1 + self.ahead, self._n)
        first_ahead = next((k for k in range(cursor + 1, end) if k not in cached), None)
        if first_ahead is not None and first_ahead - cursor - 1 < self.ahead // 2:
            plan.append((first_ahead, end))
        start = max(cursor - self.behind, 0)
        last_behind = next((k for k in range(cursor - 1, start - 1, -1) if k not in cached), None)
        if last_behind is not None and cursor - 1 - last_behind < self.behind // 2:
            plan.insert(0 if not forward else len(plan), (start, last_behind + 1))
        return plan

    def _wanted(self, start: int, stop: int) -> bool:
        """True while frames ``start..stop-1`` overlap the window around the frame read last.

        Small steps keep a run going (restarting it at every step would seek to its keyframe
        again and never finish); a jump elsewhere ends it.
        """
        latest = self._latest
        if self._stopped or latest is None:
            return False
        return latest - self.behind < stop and start <= latest + self.ahead

    def _fill(self, decoder: Decoder, start: int, stop: int) -> bool:
        """Decode frames ``start..stop-1`` into the cache; False when they are not wanted."""
        last = decoder.last
        kf = self._index.keyframe_before(start)
        item = decoder.next() if last is not None and kf - 1 <= last < start else None
        if item is None:
            item = decoder.seek(start)
        while item is not None and item[0] < stop:
            if not self._wanted(start, stop):
                return False
            k, frame = item
            self.frames_decoded += 1
            if k >= start and self._wanted(k, k + 1) and not self._put(k, frame):
                return False
            item = decoder.next()
        return True

    def _put(self, k: int, frame: av.VideoFrame) -> bool:
        reader = self._reader()
        return reader is not None and reader.offer(k, frame)


def _lower_priority() -> None:
    """Run the calling thread at a lower CPU priority (nice + 5) than the viewer (Linux).

    On Linux a thread is a task with its own nice value, so the GUI thread and the OpenGL
    drawing threads get the cores first when they are scarce. Elsewhere nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + 5, 19))
    except OSError:
        pass


@atexit.register
def _stop_all() -> None:
    """Stop every prefetch thread before the interpreter (and FFmpeg) shut down."""
    for prefetcher in list(_LIVE):
        prefetcher.stop(join=True, timeout=2.0)
