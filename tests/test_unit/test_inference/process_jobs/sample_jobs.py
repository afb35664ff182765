"""Small generator jobs the job-process tests run in a child process (importable there)."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from napari_lightning_pose.errors import LabelsError


def count(n: int, stop: threading.Event) -> Iterator[tuple[int, int]]:
    """Yields (i, pid) n times; prints as a chatty library would (to stdout)."""
    for i in range(n):
        print(f"step {i}")  # must not break the events' channel
        yield i, os.getpid()


def fails(path: str, stop: threading.Event) -> Iterator[int]:
    """One event, then one of our input errors."""
    yield 1
    raise LabelsError(path, "has keypoints the project does not.", "Pick the project's CSV.")


def dies(stop: threading.Event) -> Iterator[int]:
    """One event, then the process ends without a word to the parent (a crash)."""
    yield 1
    print("about to crash: out of cheese", file=sys.stderr, flush=True)
    os._exit(3)


def until_stopped(done_file: str, stop: threading.Event) -> Iterator[int]:
    """Yields ticks until asked to stop, then writes ``done_file`` (a job saving its work)."""
    i = 0
    while not stop.is_set():
        yield i
        i += 1
        time.sleep(0.02)
    Path(done_file).write_text(f"stopped after {i}", encoding="utf-8")
    yield -1


def _child_work() -> None:
    """What a forked data-loader worker does first: multiprocessing closes its stdin."""


def forks(stop: threading.Event) -> Iterator[int]:
    """Starts a forked worker process (as a DataLoader does) and waits for it."""
    import multiprocessing

    worker = multiprocessing.get_context("fork").Process(target=_child_work)
    worker.start()
    worker.join(timeout=60)
    yield worker.exitcode
