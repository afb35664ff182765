"""A slider over a log10 range: the Steer dock's smoothing and per-keypoint factors.

Its ``TICKS`` steps are spread evenly over ``log10`` of the value, so a drag moves a value
that spans several orders of magnitude by the same ratio everywhere.
"""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QSlider

TICKS = 100


def to_log(tick: int, lo_hi: tuple[float, float]) -> float:
    """log10 of the value at slider position ``tick``."""
    lo, hi = lo_hi
    return lo + (hi - lo) * tick / TICKS


def to_tick(log_value: float, lo_hi: tuple[float, float]) -> int:
    """The slider position nearest ``log_value`` (log10), clipped to the range."""
    lo, hi = lo_hi
    return round(TICKS * (min(max(log_value, lo), hi) - lo) / (hi - lo))


class LogSlider(QSlider):
    """A horizontal slider whose value is ``10 ** to_log(tick, lo_hi)``."""

    def __init__(self, lo_hi: tuple[float, float], log_value: float) -> None:
        super().__init__(Qt.Orientation.Horizontal)
        self.lo_hi = lo_hi
        self.setRange(0, TICKS)
        self.setValue(to_tick(log_value, lo_hi))

    def log_value(self, tick: int | None = None) -> float:
        """log10 of the value shown (or at position ``tick``)."""
        return to_log(self.value() if tick is None else tick, self.lo_hi)

    def set_log_value(self, log_value: float, quietly: bool = False) -> None:
        """Move to ``log_value`` (log10); ``quietly``: without emitting ``valueChanged``."""
        was_blocked = self.blockSignals(quietly or self.signalsBlocked())
        try:
            self.setValue(to_tick(log_value, self.lo_hi))
        finally:
            self.blockSignals(was_blocked)
