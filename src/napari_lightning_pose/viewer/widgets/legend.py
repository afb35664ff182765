"""A colour bar explaining the uncertainty colours of the prediction layers (ticks in px).

The bar is drawn with the same heat colormap and fixed contrast limits as the layers
(``layer_styles``), so it is in every window screenshot and always tells the truth: the
limits are read from the metadata of the prediction layer in the viewer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtCore import QRectF, Qt
from qtpy.QtGui import QColor, QFont, QLinearGradient, QPainter, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget

from napari_lightning_pose.viewer.layer_styles import (
    HEAT_COLORS,
    HEAT_CONTROLS,
    POSTERIOR_SD_LIMITS_PX,
)
from napari_lightning_pose.viewer.widgets.docking import settle_when_shown

TITLES = {
    "posterior_sd": "uncertainty: posterior SD (px)",
    "likelihood": "confidence: likelihood (1 = sure)",
    "posterior_sd_3d": "uncertainty: 3-D posterior SD (world units)",
}

#: Layer kinds (``metadata["kind"]``) whose colour scale the legend shows.
KINDS = ("smoothed", "prediction", "smoothed_3d")


def nice_ticks(limits: tuple[float, float], n: int = 6) -> list[float]:
    """About ``n`` round tick values from the lower to the upper limit, both included."""
    lo, hi = float(limits[0]), float(limits[1])
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** np.floor(np.log10(raw)) if raw > 0 else 1.0
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    ticks = list(np.arange(lo, hi + step / 2, step))
    return [round(float(t), 6) for t in ticks]


class UncertaintyLegend(QWidget):
    """Horizontal colour bar with tick labels, for the posterior SD (px) or the likelihood.

    Parameters
    ----------
    napari_viewer
        The viewer; the legend follows the prediction layers added to it (their metadata
        ``color_by`` and ``contrast_limits``). None for a stand-alone legend.
    """

    def __init__(self, napari_viewer: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.color_by = "posterior_sd"
        self.limits: tuple[float, float] = POSTERIOR_SD_LIMITS_PX
        self.setMinimumHeight(74)
        self.setMinimumWidth(260)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        settle_when_shown(self, napari_viewer, tabbed=False)  # a short bar under the tabs
        if napari_viewer is not None:
            napari_viewer.layers.events.inserted.connect(self._on_layers)
            napari_viewer.layers.selection.events.active.connect(self._on_layers)
            self._on_layers()

    # ------------------------------------------------------------------ public
    def set_scale(self, color_by: str, limits: tuple[float, float]) -> None:
        """Show the scale of ``color_by`` (``posterior_sd`` or ``likelihood``) over ``limits``."""
        self.color_by = color_by
        self.limits = (float(limits[0]), float(limits[1]))
        self.update()

    @property
    def reverse(self) -> bool:
        """True when high values are certain (likelihood): the map runs backwards."""
        return self.color_by == "likelihood"

    def tick_labels(self) -> list[tuple[float, str]]:
        """(value, text) of each tick; the top one reads ``>= hi`` for clipped SDs."""
        ticks = nice_ticks(self.limits)
        labels = [(t, f"{t:g}") for t in ticks]
        if not self.reverse and labels:
            labels[-1] = (ticks[-1], f"\u2265{ticks[-1]:g}")
        return labels

    def title(self) -> str:
        """The caption over the bar."""
        return TITLES.get(self.color_by, self.color_by)

    # ---------------------------------------------------------------- internals
    def _on_layers(self, event: Any = None) -> None:
        layers = list(self.viewer.layers)
        active = self.viewer.layers.selection.active
        if active is not None:
            layers.insert(0, active)
        for layer in layers:
            meta = getattr(layer, "metadata", {}) or {}
            if meta.get("kind") in KINDS and meta.get("contrast_limits"):
                self.set_scale(meta["color_by"], tuple(meta["contrast_limits"]))
                return

    def paintEvent(self, event: Any) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, _h = self.width(), self.height()
        margin = 18.0
        bar = QRectF(margin, 24.0, max(w - 2 * margin, 10.0), 16.0)
        painter.fillRect(self.rect(), QColor(38, 41, 48))
        font = QFont(self.font())
        font.setPointSizeF(9.5)
        painter.setFont(font)
        painter.setPen(QPen(QColor(235, 235, 235)))
        painter.drawText(QRectF(4, 2, w - 8, 20), Qt.AlignmentFlag.AlignLeft, self.title())
        gradient = QLinearGradient(bar.left(), 0, bar.right(), 0)
        colors = HEAT_COLORS[::-1] if self.reverse else HEAT_COLORS
        for stop, (r, g, b, a) in zip(HEAT_CONTROLS, colors, strict=True):
            gradient.setColorAt(stop, QColor.fromRgbF(r, g, b, a))
        painter.fillRect(bar, gradient)
        painter.setPen(QPen(QColor(200, 200, 200), 1))
        painter.drawRect(bar)
        lo, hi = self.limits
        for value, text in self.tick_labels():
            x = bar.left() + (value - lo) / (hi - lo) * bar.width()
            painter.drawLine(int(x), int(bar.bottom()), int(x), int(bar.bottom() + 5))
            painter.drawText(
                QRectF(x - 30, bar.bottom() + 6, 60, 18), Qt.AlignmentFlag.AlignHCenter, text
            )
        painter.end()
