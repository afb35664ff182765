"""Time what a user feels in a shown napari viewer: a frame change until it is drawn, and the
longest stall of the event loop while something runs (shared by the viewer benchmarks).

Needs a display; on a server run the benchmark under ``xvfb-run -a -s "-screen 0
1920x1080x24"`` (software OpenGL, so drawing a frame costs tens of ms of CPU).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


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
        """
        from qtpy.QtCore import QTimer

        ticks = [time.perf_counter()]
        gaps: list[float] = []

        def tick() -> None:
            now = time.perf_counter()
            gaps.append(now - ticks[-1])
            ticks.append(now)

        timer = QTimer()
        timer.timeout.connect(tick)
        timer.start(5)
        t0 = time.perf_counter()
        ticks[-1] = t0
        start()
        tick()  # the time start() blocked counts as a stall
        while not done() and time.perf_counter() - t0 < 300:
            self.app.processEvents()
            time.sleep(0.001)
        tick()
        timer.stop()
        return (time.perf_counter() - t0) * 1e3, max(gaps) * 1e3

    def close(self) -> None:
        """Close the viewer."""
        self.viewer.close()
