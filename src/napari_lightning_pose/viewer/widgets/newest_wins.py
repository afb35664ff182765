"""A job run in napari's worker threads one at a time, the newest request winning.

Requests made while a run is in progress become one run after it, with the arguments of
that moment: the ones in between are never computed (the Steer dock's re-smooths while its
slider is dragged), and the GUI thread never waits for a run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class NewestWins:
    """Run ``job(*arguments())`` in a worker on :meth:`request`, one run at a time.

    ``arguments`` is called when a run starts; ``on_returned`` gets each run's result and
    ``on_errored`` its exception, on the GUI thread.
    """

    def __init__(
        self,
        job: Callable[..., Any],
        arguments: Callable[[], tuple],
        on_returned: Callable[[Any], None],
        on_errored: Callable[[Exception], None],
    ) -> None:
        self.job, self.arguments = job, arguments
        self.on_returned, self.on_errored = on_returned, on_errored
        self.worker: Any = None  # the run in progress
        self.wanted = False  # a run was asked for while one ran

    @property
    def busy(self) -> bool:
        """True while a run is in progress or waiting for it."""
        return self.worker is not None or self.wanted

    def request(self) -> None:
        """Ask for a run: now, or after the one in progress (requests meanwhile become one)."""
        self.wanted = True
        if self.worker is None:
            self._start()

    def _start(self) -> None:
        from napari.qt.threading import create_worker

        self.wanted = False
        self.worker = create_worker(
            self.job, *self.arguments(), _start_thread=False, _ignore_errors=True
        )
        self.worker.returned.connect(self.on_returned)
        self.worker.errored.connect(self.on_errored)
        self.worker.finished.connect(self._finished)
        self.worker.start()

    def _finished(self) -> None:
        self.worker = None
        if self.wanted:
            self._start()  # only the newest request: the ones between were dropped
