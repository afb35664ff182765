"""The Train dock's live plot: losses per member on a log axis, validation error below.

A module of its own because it imports pyqtgraph (~0.1 s holding the GIL): the dock
imports it in a worker and shows the plot when it is there (``training.TrainingWidget``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from qtpy import QtCore
from qtpy.QtWidgets import QVBoxLayout, QWidget

from napari_lightning_pose.viewer.widgets.plotting import pg

LOSS_COLOURS = [(255, 190, 60), (90, 200, 255), (130, 230, 120), (240, 120, 220), (250, 90, 90)]


class LossPlot(QWidget):
    """Loss curves (one per member and loss, one colour per loss), member start lines, the
    legend in a row of its own above the plots (it never covers a curve)."""

    def __init__(self) -> None:
        super().__init__()
        self.plot_widget = pg.GraphicsLayoutWidget()
        self.legend = pg.LegendItem(colCount=4)
        self.plot_widget.addItem(self.legend, row=0, col=0)
        self.loss_plot = self.plot_widget.addPlot(row=1, col=0, title="losses (weighted)")
        self.loss_plot.setLogMode(y=True)
        self.val_plot = self.plot_widget.addPlot(row=2, col=0, title="validation error (px)")
        self.val_plot.setLabel("bottom", "step (members one after another)")
        self.val_plot.setXLink(self.loss_plot)
        self.boundaries: list[pg.InfiniteLine] = []
        self.val_curve = self.val_plot.plot([], [], pen=None, symbol="o", symbolSize=6)
        self.curves: dict[tuple[int, str], pg.PlotDataItem] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)

    def clear(self) -> None:
        """Remove every curve, start line, legend entry and validation point (a new run)."""
        for item in [*self.curves.values(), *self.boundaries]:
            self.loss_plot.removeItem(item)
        self.curves, self.boundaries = {}, []
        self.legend.clear()
        self.val_curve.setData([], [])

    def show_history(
        self,
        history: Mapping[tuple[int, str], Sequence[tuple[float, float]]],
        member_starts: Mapping[int, float],
        val_points: Sequence[tuple[float, float]],
    ) -> None:
        """Draw everything recorded so far: curves, member start lines, validation points."""
        names = list(dict.fromkeys(name for _m, name in history))
        for (member, name), points in history.items():
            if (member, name) not in self.curves:
                colour = LOSS_COLOURS[names.index(name) % len(LOSS_COLOURS)]
                pen = pg.mkPen(colour, width=2 if name == "total" else 1)
                curve = self.loss_plot.plot([], [], pen=pen, connect="finite")
                self.curves[(member, name)] = curve
                if name not in {item[1].text for item in self.legend.items}:
                    self.legend.addItem(curve, name)
            xs, ys = zip(*points, strict=True)
            self.curves[(member, name)].setData(np.asarray(xs), np.asarray(ys))
        for member in sorted(member_starts):
            self._mark_member(member, member_starts[member])
        if val_points:
            xs, ys = zip(*val_points, strict=True)
            self.val_curve.setData(list(xs), list(ys))

    def _mark_member(self, member: int, x: float) -> None:
        """A dashed line where member ``member`` (> 0) starts, labelled with its number."""
        if member == 0 or member <= len(self.boundaries):
            return
        line = pg.InfiniteLine(
            x,
            angle=90,
            pen=pg.mkPen((200, 200, 200), style=QtCore.Qt.PenStyle.DashLine),
            label=f"member {member + 1}",
            labelOpts={"position": 0.9, "color": (200, 200, 200)},
        )
        self.loss_plot.addItem(line, ignoreBounds=True)
        self.boundaries.append(line)
