"""Time what a user feels in a shown napari viewer: a frame change until it is drawn, and the
longest stall of the event loop while something runs (shared by the viewer benchmarks).

Needs a display; on a server run the benchmark under ``xvfb-run -a -s "-screen 0
1920x1080x24"`` (software OpenGL, so drawing a frame costs tens of ms of CPU).
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

PACKAGE = "napari_lightning_pose"


#: Where napari's own work lies (its layers, Qt widgets and vispy visuals)
NAPARI_PATHS = ("site-packages/napari/", "site-packages/vispy/")


def where(frame: Any) -> str:
    """Where the GUI thread is, from the deepest frame of our package on the stack:
    ``"ours: ..."`` where our code works (libraries it calls included: numpy, pandas, YAML),
    ``"napari for us: ..."`` where napari or vispy works below it (a layer we add, a setter we
    call); without our package, the deepest frame."""
    stack = []
    while frame is not None:
        stack.append(frame)
        frame = frame.f_back
    in_napari = False
    for f in stack:
        filename = f.f_code.co_filename
        if PACKAGE in filename:
            name = filename.split(PACKAGE, 1)[1].lstrip("/")
            who = "napari for us" if in_napari else "ours"
            return f"{who}: {name}:{f.f_lineno} {f.f_code.co_name}"
        in_napari = in_napari or any(p in filename for p in NAPARI_PATHS)
    if not stack:
        return "?"
    f = stack[0]
    parts = f.f_code.co_filename.split("site-packages/")
    return f"{parts[-1]}:{f.f_lineno} {f.f_code.co_name}"


class StackSampler:
    """Samples where the GUI thread is every 5 ms, in a thread (to explain a freeze), and
    where the other threads are in our package (workers holding the GIL freeze it too)."""

    def __init__(self) -> None:
        self.main = threading.main_thread().ident
        #: (time, the GUI thread's place, the places of other threads in our package)
        self.samples: list[tuple[float, str, tuple[str, ...]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.is_set():
            frames = sys._current_frames()
            gui = where(frames.get(self.main))
            others = tuple(
                place
                for ident, frame in frames.items()
                if ident not in (self.main, me)
                for place in [where(frame)]
                if place.startswith(("ours:", "napari for us:"))
            )
            self.samples.append((time.perf_counter(), gui, others))
            del frames
            time.sleep(0.005)

    def __enter__(self) -> StackSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def share(self, start: float, end: float, who: str) -> float:
        """The share of the samples in [start, end] that found the GUI thread in ``who``'s
        work (``"ours"``, ``"napari for us"``; see :func:`where`)."""
        flags = [p.startswith(f"{who}:") for t, p, _ in self.samples if start <= t <= end]
        return sum(flags) / len(flags) if flags else 0.0

    def during(self, start: float, end: float) -> str:
        """The most common place in [start, end], with its share of the samples."""
        places = Counter(p for t, p, _ in self.samples if start <= t <= end)
        if not places:
            return "?"
        place, n = places.most_common(1)[0]
        return f"{place} ({100 * n / sum(places.values()):.0f} %)"

    def places(self, start: float, end: float, top: int = 3) -> str:
        """The GUI thread's and our other threads' most common places in [start, end], with
        how many samples found them there."""
        window = [(p, others) for t, p, others in self.samples if start <= t <= end]
        gui = Counter(p for p, _ in window).most_common(top)
        workers = Counter(o for _, others in window for o in others).most_common(top)
        return (
            f"{len(window)} samples; GUI thread: "
            + "; ".join(f"{p} ({n})" for p, n in gui)
            + " | other threads: "
            + ("; ".join(f"{p} ({n})" for p, n in workers) or "-")
        )


class ViewerClock:
    """A shown napari viewer of a fixed size, with clocks for frame changes and stalls.

    Parameters
    ----------
    size : (int, int)
        Window size in pixels (software OpenGL draws a larger canvas more slowly).
    async_slicing : bool
        Turn on napari's experimental asynchronous slicing for this viewer.
    """

    def __init__(self, size: tuple[int, int] = (1400, 900), async_slicing: bool = False) -> None:
        import napari
        from napari.settings import get_settings
        from qtpy.QtWidgets import QApplication

        self.app = QApplication.instance() or QApplication([])
        get_settings().experimental.async_ = async_slicing
        self.viewer = napari.Viewer(show=True)
        self.viewer.window._qt_window.resize(*size)
        self.size = size
        self._draws = 0
        self.last_where = ""
        #: GUI-thread CPU (ms) in the longest stall of the last :meth:`stalls`, and the most
        #: in any one stall: what the GUI thread itself did, without the time it waited for
        #: a core or the GIL (a loaded machine inflates the wall-clock stall, not these)
        self.last_cpu = 0.0
        self.last_max_cpu = 0.0
        #: Our code's time (ms) in the longest stall of the last :meth:`stalls`, and the most
        #: in any one stall: the stall's share of samples (5 ms apart) that found the GUI
        #: thread in our code's own work (:func:`where`), plus full collections set off there
        #: (the sampler cannot run while one holds the GIL)
        self.last_ours = 0.0
        self.last_max_ours = 0.0
        #: Full garbage collections during the last :meth:`stalls`: how many, longest (ms).
        #: One holds the GIL however long it takes, on whichever thread it falls.
        self.last_full_gcs = (0, 0.0)
        #: The most napari's work for our code (a layer we add, a setter we call) took in any
        #: one stall of the last :meth:`stalls`
        self.last_max_napari = 0.0
        #: Every freeze over 100 ms in the last :meth:`stalls`: (ms, our code's ms, napari's
        #: work for our code's ms)
        self.last_freezes: list[tuple[float, float, float]] = []
        #: The same freezes explained: the full collections in each and where they were set
        #: off, the GUI thread's and our other threads' most common places
        self.last_freeze_places: list[str] = []
        #: ``last_freeze_places`` of every :meth:`stalls` so far, in order
        self.freeze_log: list[list[str]] = []
        self.viewer.window._qt_viewer.canvas._scene_canvas.events.draw.connect(self._drawn)

    def _drawn(self, _event: Any) -> None:
        self._draws += 1

    def idle(self, ms: float) -> None:
        """Run the event loop for ``ms`` milliseconds (what a user's pause allows)."""
        end = time.perf_counter() + ms / 1e3
        while time.perf_counter() < end:
            self.app.processEvents()
            time.sleep(0.002)

    def step_to(self, frame: int) -> tuple[float, float]:
        """Move the slider to ``frame``; (wall ms, process CPU ms) until the canvas drew it.

        The CPU time is the whole process's (all threads: OpenGL's, decoders', prefetch).
        """
        before = self._draws
        start, cpu = time.perf_counter(), time.process_time()
        self.viewer.dims.set_current_step(0, frame)
        while self._draws == before and time.perf_counter() - start < 10:
            self.app.processEvents()
        return (time.perf_counter() - start) * 1e3, (time.process_time() - cpu) * 1e3

    def stalls(self, start: Callable[[], Any], done: Callable[[], bool]) -> tuple[float, float]:
        """Run ``start()``, then the event loop until ``done()``; (total ms, longest stall ms).

        The longest stall is the longest time between two turns of the event loop (a 5 ms
        timer), including the time ``start()`` itself blocks: how long the window froze.
        Where the GUI thread spent it is in ``self.last_where`` (see :class:`StackSampler`),
        its CPU time in ``self.last_cpu`` and ``self.last_max_cpu``, the full garbage
        collections meanwhile in ``self.last_full_gcs``.
        """
        from qtpy.QtCore import QTimer

        ticks = [time.perf_counter()]
        cpu = [time.thread_time()]  # the GUI thread's own CPU time
        gaps: list[tuple[float, float, float, float]] = []

        def tick() -> None:
            now, now_cpu = time.perf_counter(), time.thread_time()
            gaps.append((now - ticks[-1], ticks[-1], now, now_cpu - cpu[-1]))
            ticks.append(now)
            cpu.append(now_cpu)

        gc_spans: list[tuple[float, float, str]] = []  # full GCs: start, end, where set off
        gc_start: list[Any] = [0.0, ""]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if info["generation"] == 2:
                if phase == "start":
                    gc_start[:] = [time.perf_counter(), where(sys._getframe(1))]
                else:
                    gc_spans.append((gc_start[0], time.perf_counter(), gc_start[1]))

        timer = QTimer()
        timer.timeout.connect(tick)
        gc.callbacks.append(on_gc)
        with StackSampler() as sampler:
            timer.start(5)
            t0 = time.perf_counter()
            ticks[-1], cpu[-1] = t0, time.thread_time()
            start()
            tick()  # the time start() blocked counts as a stall
            while not done() and time.perf_counter() - t0 < 600:
                self.app.processEvents()
                time.sleep(0.001)
            tick()
            timer.stop()
        gc.callbacks.remove(on_gc)
        self.last_full_gcs = (
            len(gc_spans),
            max((e - s for s, e, _ in gc_spans), default=0.0) * 1e3,
        )
        longest = max(gaps)
        self.last_where = sampler.during(longest[1], longest[2])
        self.last_cpu = longest[3] * 1e3
        self.last_max_cpu = max(g[3] for g in gaps) * 1e3

        def work_ms(gap: tuple[float, float, float, float], who: str) -> float:
            """``who``'s time in a freeze: its share of the samples outside full collections,
            plus the collections set off in its work (the sampler cannot run in them)."""
            _, a, b, _ = gap
            spans = [(max(s, a), min(e, b), w) for s, e, w in gc_spans if s < b and e > a]
            in_gc = sum(e - s for s, e, _ in spans)
            set_off = sum(e - s for s, e, w in spans if w.startswith(f"{who}:"))
            return ((b - a - in_gc) * sampler.share(a, b, who) + set_off) * 1e3

        self.last_ours = work_ms(longest, "ours")
        self.last_max_ours = max(work_ms(g, "ours") for g in gaps)
        self.last_max_napari = max(work_ms(g, "napari for us") for g in gaps)
        self.last_freezes = [
            (g[0] * 1e3, work_ms(g, "ours"), work_ms(g, "napari for us"))
            for g in gaps
            if g[0] > 0.1
        ]

        def explained(gap: tuple[float, float, float, float]) -> str:
            ms, a, b, _ = gap
            spans = [(e - s, w) for s, e, w in gc_spans if s < b and e > a]
            collections = "".join(f"full GC {d * 1e3:.0f} ms set off at {w}; " for d, w in spans)
            return f"{ms * 1e3:.0f} ms: {collections}{sampler.places(a, b)}"

        self.last_freeze_places = [explained(g) for g in gaps if g[0] > 0.1]
        self.freeze_log.append(self.last_freeze_places)
        return (time.perf_counter() - t0) * 1e3, longest[0] * 1e3

    def close(self) -> None:
        """Close the viewer."""
        self.viewer.close()
