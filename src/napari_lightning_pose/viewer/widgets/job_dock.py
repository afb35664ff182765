"""What the Train and Predict + smooth docks share: one core job at a time in a worker.

A job is a core generator (``jobs.train_ensemble``, ``jobs.predict_and_smooth``) that takes
a ``stop`` event. :class:`JobDock` runs it in napari's ``thread_worker`` (the Train, Predict
and label QC docks pass ``job_process.run_in_process`` and the core job, so torch runs in a
child process and never in the window's), never twice at once; Cancel sets the event
(never ``worker.quit()``), and closing the window the dock sits in sets it and waits for
the job, so every file the job writes is complete.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QEvent, QObject, QThreadPool
from qtpy.QtWidgets import QLabel, QMainWindow, QWidget

from napari_lightning_pose.viewer.widgets.docking import settle_when_shown

#: How long closing the window waits for a job to stop (a training step, a batch).
CLOSE_WAIT_MS = 60_000


def device_choices() -> list[str]:
    """ "auto", "cpu" and "cuda" when an NVIDIA GPU is there.

    Asked without importing torch (seconds on the GUI thread, when a dock opens): torch's
    answer if it is imported already, else whether an NVIDIA driver is installed.
    """
    import shutil
    import sys
    from pathlib import Path

    torch = sys.modules.get("torch")
    if torch is not None:
        gpu = bool(torch.cuda.is_available())
    else:
        gpu = Path("/proc/driver/nvidia/version").exists() or bool(shutil.which("nvidia-smi"))
    return ["auto", "cpu"] + (["cuda"] if gpu else [])


class CloseWatcher(QObject):
    """Calls ``dock.stop_and_wait()`` when the window the dock sits in closes.

    The dock installs it on its top-level window when first shown (docked in napari, that
    is the viewer's main window), so closing the viewer stops the job before Qt tears the
    window down and every file the job writes is complete. A floating dock's own window is
    not watched: closing it only hides the dock.
    """

    def __init__(self, dock: Any) -> None:
        super().__init__(dock)
        self.dock = dock
        self._watched: int | None = None  # id only: a reference would keep the window alive

    def watch(self) -> None:
        """Watch the dock's current top-level window (again if it changed)."""
        window = self.dock.window()
        if isinstance(window, QMainWindow) and id(window) != self._watched:
            window.installEventFilter(self)
            self._watched = id(window)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # Qt's name
        if event.type() == QEvent.Type.Close:
            self.dock.stop_and_wait()
        return False


class JobDock(QWidget):
    """A dock that runs one core job at a time in a worker thread.

    Subclasses build their controls (``self.status`` is the message label), call
    :meth:`run_job`, and override ``_on_event`` (each yielded event, on the GUI thread),
    ``_on_finished`` (after the job, whatever its end) and ``_set_running`` (enable or
    disable their buttons).
    """

    #: Says what failed, in the status line: "<job_name> failed: <error>".
    job_name = "The job"

    def __init__(self, napari_viewer: Any = None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker: Any = None
        self.stop_event = threading.Event()
        self.status = QLabel()
        self.status.setWordWrap(True)
        # torch is imported by the job, in its own process (inference.job_process), not here
        self._watcher = CloseWatcher(self)
        settle_when_shown(self, napari_viewer)

    @property
    def running(self) -> bool:
        """True while a job runs."""
        return self.worker is not None

    def run_job(self, job: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Start ``job(*args, stop=<a new stop event>, **kwargs)`` in a worker thread."""
        from napari.qt.threading import create_worker

        self.stop_event = threading.Event()
        self.worker = create_worker(
            job,
            *args,
            stop=self.stop_event,
            _start_thread=False,
            _ignore_errors=True,  # shown in the dock by _on_error, not re-raised
            **kwargs,
        )
        self.worker.yielded.connect(self._on_event)
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._job_finished)
        self._set_running(True)
        self.worker.start()

    def cancel(self) -> bool:
        """Ask the job to stop at its next check (a step, a batch); False when none runs."""
        if not self.running:
            return False
        self.stop_event.set()
        return True

    def stop_and_wait(self, timeout_ms: int = CLOSE_WAIT_MS) -> None:
        """Stop the job and block until its thread is done (the window is closing)."""
        if self.worker is not None:
            self.stop_event.set()
            QThreadPool.globalInstance().waitForDone(timeout_ms)

    def showEvent(self, event: Any) -> None:  # Qt's name
        self._watcher.watch()
        super().showEvent(event)

    # ------------------------------------------------------------- for subclasses
    def _on_event(self, event: Any) -> None:
        """One event of the job (GUI thread)."""

    def _on_error(self, err: Exception) -> None:
        self._say(f"{self.job_name} failed: {err}", error=True)

    def _on_finished(self) -> None:
        """The job ended (done, stopped or failed); ``self.worker`` is None again."""

    def _set_running(self, running: bool) -> None:
        """Enable the buttons that start a job when ``running`` is False, Cancel otherwise."""

    def _job_finished(self) -> None:
        self.worker = None
        self._set_running(False)
        self._on_finished()

    def _say(self, text: str, error: bool = False) -> None:
        """Show ``text`` in the status line (red, and as a napari notification, on error)."""
        self.status.setText(text)
        self.status.setStyleSheet("color: #ff6b6b;" if error else "")
        if error:
            from napari.utils.notifications import show_error

            show_error(text)
