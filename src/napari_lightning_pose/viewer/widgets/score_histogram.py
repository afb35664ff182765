"""The outlier queue's histogram of per-frame scores, with a draggable threshold line.

A pyqtgraph plot the dock fills with the chosen score's values; dragging the line reports
the new threshold, and the dock moving the threshold moves the line without an echo.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from napari_lightning_pose.viewer.widgets.plotting import pg

THRESHOLD_PEN = pg.mkPen((235, 40, 40), width=2)
BAR_BRUSH = (120, 170, 255, 180)
BINS = 60


class ScoreHistogram(pg.PlotWidget):
    """Frames per score bin, and the threshold as a vertical line ``on_threshold`` follows."""

    def __init__(self, on_threshold: Callable[[float], None]) -> None:
        super().__init__()
        self.setMinimumHeight(100)
        self.setLabel("bottom", "score")
        self.setLabel("left", "frames")
        self.line = pg.InfiniteLine(0.0, angle=90, movable=True, pen=THRESHOLD_PEN)
        self.line.sigPositionChanged.connect(lambda line: on_threshold(line.value()))

    def show_values(self, values: np.ndarray) -> None:
        """Draw the histogram of ``values`` (finite ones) under the threshold line."""
        self.clear()
        if len(values):
            counts, edges = np.histogram(values, bins=BINS)
            bars = pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], height=counts, brush=BAR_BRUSH)
            self.addItem(bars)
        self.addItem(self.line)

    def move_line(self, threshold: float) -> None:
        """Put the line at ``threshold`` without reporting it back."""
        if abs(self.line.value() - threshold) > 1e-9:
            self.line.blockSignals(True)
            self.line.setValue(threshold)
            self.line.blockSignals(False)
