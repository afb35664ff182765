"""The CLI's tqdm driver for progress-event generators."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import pytest

from napari_lightning_pose.labeling import frames
from napari_lightning_pose.progress import blocking, run_with_tqdm


@dataclass
class _Event:
    kind: str
    done: int
    interrupt: bool = False

    def progress(self) -> tuple[int, int | None]:
        if self.interrupt:
            raise KeyboardInterrupt  # as if Ctrl-C arrived while the bar was updating
        return self.done, 3

    def summary(self) -> dict[str, str]:
        return {"done": str(self.done)}


def test_returns_the_events_that_are_not_steps() -> None:
    events = [_Event("start", 0), _Event("step", 1), _Event("step", 2), _Event("done", 2)]
    notable = run_with_tqdm(iter(events), "test", disable=True)
    assert [e.kind for e in notable] == ["start", "done"]


def test_ctrl_c_closes_the_generator_so_it_can_clean_up() -> None:
    closed = []

    def job():
        try:
            yield _Event("start", 0)
            yield _Event("step", 1, interrupt=True)
            yield _Event("step", 2)
        finally:
            closed.append(True)  # a training run saves its checkpoint here

    with pytest.raises(KeyboardInterrupt):
        run_with_tqdm(job(), "test", disable=True)
    assert closed == [True]


def test_the_blocking_form_of_a_job_takes_its_arguments_and_returns_its_result() -> None:
    def iter_count(n: int, start: int = 0):
        """Count from ``start`` to ``n``, one event a number."""
        for i in range(start, n):
            yield _Event("step", i)
        return n - start

    count = blocking(iter_count)
    assert count(5, start=2) == 3
    assert count.__name__ == "count"
    assert "iter_count" in count.__doc__ and "Count from" in count.__doc__
    # the project's jobs: same parameters as their generators
    for plain, job in [(frames.pick_frames, frames.iter_pick_frames)]:
        assert inspect.signature(plain).parameters == inspect.signature(job).parameters
