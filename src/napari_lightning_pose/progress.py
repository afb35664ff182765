"""Drive a progress-event generator with a tqdm bar, the command line's view of a long job.

The core's long jobs (training, prediction) are generators of small event dataclasses. The
napari widgets consume them in a worker thread; the command line hands them to
:func:`run_with_tqdm`. An event tells the bar how far along it is with ``progress()``
(``(done, total)``) and what to show beside it with ``summary()``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

if TYPE_CHECKING:  # tqdm is imported where a bar is drawn: run_to_end needs none
    from tqdm.auto import tqdm


class ProgressEvent(Protocol):
    """What :func:`run_with_tqdm` needs from an event."""

    def progress(self) -> tuple[int, int | None]:
        """``(done, total)`` units of work; total may be None when unknown."""
        ...

    def summary(self) -> dict[str, str]:
        """Short name -> value pairs shown after the bar (losses, error, ...)."""
        ...


E = TypeVar("E", bound=ProgressEvent)
R = TypeVar("R")
P = ParamSpec("P")


def run_with_tqdm(
    events: Iterator[E], desc: str, *, unit: str = "step", disable: bool = False
) -> list[E]:
    """Run ``events`` to the end, updating one tqdm bar; return the events that were not steps.

    Events whose ``kind`` is not ``"step"``/``"batch"`` (start, validation, checkpoint,
    done, stopped, ...) are collected and returned so the caller can report them. On Ctrl-C
    the generator is closed first (so a training run saves its checkpoint), then the
    ``KeyboardInterrupt`` propagates.
    """
    from tqdm.auto import tqdm

    notable: list[E] = []
    bar = tqdm(desc=desc, unit=unit, disable=disable, dynamic_ncols=True)
    try:
        with cleared_on_error(bar):
            for event in events:
                done, total = event.progress()
                if total is not None and bar.total != total:
                    bar.total = total
                bar.n = done
                info = event.summary()
                if info:
                    bar.set_postfix(info, refresh=False)
                bar.refresh()
                if getattr(event, "kind", "step") not in ("step", "batch"):
                    notable.append(event)
    except KeyboardInterrupt:
        close = getattr(events, "close", None)
        if close is not None:
            close()
        raise
    finally:
        bar.close()
    return notable


def run_to_end(job: Generator[Any, Any, R]) -> R:
    """Run a progress generator to the end, showing nothing, and return its result.

    The result is the generator's ``return`` value.
    """
    while True:
        try:
            next(job)
        except StopIteration as stop:
            return stop.value


def blocking(job: Callable[P, Generator[Any, Any, R]]) -> Callable[P, R]:
    """The plain-function form of a long job: same arguments, run to the end, its result.

    The one way to write a long job: the generator ``iter_x`` holds the work and the
    documentation, and ``x = blocking(iter_x)`` is the call for scripts and tests, while the
    widgets and the command line drive ``iter_x`` to show its progress.
    """

    @functools.wraps(job)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return run_to_end(job(*args, **kwargs))

    run.__name__ = job.__name__.removeprefix("iter_")
    run.__qualname__ = job.__qualname__.removeprefix("iter_")
    run.__doc__ = (
        f"Run :func:`{job.__name__}` to the end, showing no progress; return its result.\n\n"
        + (job.__doc__ or "")
    )
    return run


@contextlib.contextmanager
def cleared_on_error(bar: tqdm) -> Iterator[tqdm]:
    """Clear ``bar`` when the block raises, so the error message is not printed after it."""
    try:
        yield bar
    except BaseException:
        bar.leave = False
        raise
