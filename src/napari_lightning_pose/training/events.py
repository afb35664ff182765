"""Progress events of a training run and the stop signal a caller can set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

EventKind = Literal["start", "step", "validation", "checkpoint", "done", "stopped"]


@dataclass
class TrainEvent:
    """One progress report from :func:`napari_lightning_pose.training.train`.

    Attributes
    ----------
    kind : str
        ``"start"``, ``"step"`` (after each optimiser step), ``"validation"``,
        ``"checkpoint"`` (a file was written), ``"done"`` or ``"stopped"``.
    step : int
        Optimiser steps completed so far (over all resumes).
    epoch : int
        Completed epochs (``step // steps_per_epoch``).
    total_steps : int
        Steps the run will take in all (``training.max_steps`` or ``steps``).
    losses : dict[str, float]
        Weighted value of each loss at this step, by name (supervised and unsupervised,
        the latter already multiplied by the anneal factor), their sum as ``"total"`` and,
        in semi-supervised runs, the anneal factor as ``"anneal"``.
    lr : float or None
        Learning rate used for this step.
    val_pixel_error : float or None
        Mean validation error in original image pixels (validation, done, stopped events).
    eta_s : float or None
        Estimated seconds until the run ends, from this run's mean step time.
    checkpoint : Path or None
        The checkpoint written (checkpoint, done, stopped events on rank 0).
    message : str
        A short human-readable note (device, why the run ended, ...).
    """

    kind: EventKind
    step: int
    epoch: int
    total_steps: int
    losses: dict[str, float] = field(default_factory=dict)
    lr: float | None = None
    val_pixel_error: float | None = None
    eta_s: float | None = None
    checkpoint: Path | None = None
    message: str = ""

    def progress(self) -> tuple[int, int | None]:
        """(steps done, total steps), for a progress bar."""
        return self.step, self.total_steps

    def summary(self) -> dict[str, str]:
        """Loss, learning rate and validation error as short strings, for a progress bar."""
        out = {}
        if "total" in self.losses:
            out["loss"] = f"{self.losses['total']:.4g}"
        if self.lr is not None:
            out["lr"] = f"{self.lr:.2g}"
        if self.val_pixel_error is not None:
            out["val_px"] = f"{self.val_pixel_error:.2f}"
        return out


class _HasIsSet(Protocol):
    def is_set(self) -> bool: ...


StopSignal = _HasIsSet | Callable[[], bool]
"""A ``threading.Event`` (anything with ``is_set()``) or a callable returning True to stop."""


def stop_checker(stop: StopSignal | None) -> Callable[[], bool]:
    """A no-argument callable that says whether ``stop`` asks the run to end."""
    if stop is None:
        return lambda: False
    if hasattr(stop, "is_set"):
        return stop.is_set
    if callable(stop):
        return lambda: bool(stop())
    raise TypeError("stop must be a threading.Event or a callable returning bool")
