"""Colours and sizes of the keypoint layers, kept in one place.

Each style is a small dataclass whose ``as_kwargs()`` gives the keyword arguments of the napari
layer. Plain Python: nothing here imports Qt, and napari only inside
``UncertaintyTracksStyle.as_kwargs`` (its ``Colormap``, from ``napari.utils``), so the styles
are usable (and testable) in the headless core and in layer-data tuples returned by readers.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

RGBA = tuple[float, float, float, float]


def keypoint_colors(names: Sequence[str]) -> dict[str, RGBA]:
    """One distinct, fixed colour per keypoint: hues evenly spaced in the keypoint order.

    The same names in the same order always get the same colours, so the labeling layer, the
    prediction layer and the legend agree.
    """
    n = max(len(names), 1)
    colors: dict[str, RGBA] = {}
    for i, name in enumerate(names):
        # alternate brightness so neighbours in the order stay apart when there are many
        value = 1.0 if i % 2 == 0 else 0.8
        r, g, b = colorsys.hsv_to_rgb(i / n, 0.85, value)
        colors[name] = (round(r, 4), round(g, 4), round(b, 4), 1.0)
    return colors


@dataclass
class _PlainStyle:
    """A style whose fields are the layer's keyword arguments as they are, plus ``FIXED``."""

    #: Keyword arguments every layer of this style gets (not fields: not meant to change).
    FIXED: ClassVar[dict[str, Any]] = {}

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the napari layer: the fields, then ``FIXED``."""
        return {**asdict(self), **self.FIXED}


#: napari text of a keypoints layer: each point's ``keypoint`` feature beside it.
KEYPOINT_NAME_TEXT: dict[str, Any] = {
    "string": "{keypoint}",
    "size": 8,
    "color": "white",
    "anchor": "upper_left",
    "translation": [-4, 4],
}


@dataclass
class KeypointsStyle:
    """Style of a Points layer of keypoints, coloured by the ``keypoint`` feature."""

    name: str = "keypoints"
    keypoint_names: Sequence[str] = ()
    size: float = 8.0
    symbol: str = "disc"
    border_width: float = 0.1
    border_color: str = "black"
    opacity: float = 0.9
    show_names: bool = False
    text: dict[str, Any] = field(default_factory=dict)

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``napari.layers.Points`` (or a reader's layer-data tuple)."""
        kwargs = asdict(self)
        names = list(kwargs.pop("keypoint_names"))
        show = kwargs.pop("show_names")
        kwargs["face_color"] = "keypoint"
        kwargs["face_color_cycle"] = keypoint_colors(names)
        kwargs["border_width_is_relative"] = True
        kwargs["text"] = {**KEYPOINT_NAME_TEXT, "visible": show, **self.text}
        return kwargs


@dataclass
class SkeletonStyle(_PlainStyle):
    """Style of a Shapes layer of skeleton lines between keypoints (``napari.layers.Shapes``)."""

    FIXED: ClassVar[dict[str, Any]] = {"shape_type": "line"}

    name: str = "skeleton"
    edge_width: float = 1.5
    edge_color: str = "white"
    opacity: float = 0.6


# ------------------------------------------------------------------ uncertainty colouring
#: The heat colormap of uncertainty (posterior SD in px, or 1 - likelihood): pale yellow for
#: certain, through orange, to red for uncertain. Every colour is bright enough to read on a
#: dark video; the hottest is red, never black.
HEAT_CONTROLS: tuple[float, ...] = (0.0, 0.35, 0.7, 1.0)
HEAT_COLORS: tuple[RGBA, ...] = (
    (1.0, 1.0, 0.70, 1.0),  # pale yellow: well below the limit
    (1.0, 0.80, 0.20, 1.0),  # amber
    (1.0, 0.45, 0.05, 1.0),  # orange
    (0.92, 0.05, 0.10, 1.0),  # red: at or above the upper limit
)
HEAT_NAME = "lightning-pose-uncertainty"
#: Fixed contrast limits of the posterior SD colouring, in px: 0 px is pale yellow, 10 px
#: and more is red. Fixed (not the data's min/max) so the same colour means the same
#: uncertainty in every video and every session.
POSTERIOR_SD_LIMITS_PX: tuple[float, float] = (0.0, 10.0)
#: Contrast limits of the likelihood colouring of plain predictions (1 = certain).
LIKELIHOOD_LIMITS: tuple[float, float] = (0.0, 1.0)


def heat_colormap_kwargs(reverse: bool = False) -> dict[str, Any]:
    """The heat colormap as napari's ``Colormap(**kwargs)`` takes it.

    ``reverse`` maps high values to the cool end (for likelihood: 1 = certain = pale).
    """
    colors = list(HEAT_COLORS[::-1] if reverse else HEAT_COLORS)
    name = f"{HEAT_NAME}_r" if reverse else HEAT_NAME
    return {"colors": colors, "controls": list(HEAT_CONTROLS), "name": name}


def heat_rgba(values: Any, limits: tuple[float, float], reverse: bool = False) -> Any:
    """Colours of ``values`` under the heat colormap with contrast ``limits`` (numpy only).

    The same mapping napari applies to the layers (linear between the controls, clipped at
    the limits; NaN gives transparent), so tests and the legend can compute colours without
    a viewer. Returns an array of shape ``values.shape + (4,)``.
    """
    import numpy as np

    v = np.asarray(values, dtype=float)
    lo, hi = limits
    t = np.clip((v - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    if reverse:
        t = 1.0 - t
    colors = np.asarray(HEAT_COLORS, dtype=float)
    out = np.stack([np.interp(t, HEAT_CONTROLS, colors[:, c]) for c in range(4)], axis=-1)
    out[~np.isfinite(v)] = 0.0
    return out


@dataclass
class UncertaintyPointsStyle:
    """Points layer of predicted keypoints, face colour = an uncertainty feature.

    ``color_by`` is ``"posterior_sd"`` (px, smoothed output) or ``"likelihood"`` (plain
    predictions, reversed map: 1 = certain = pale).
    """

    name: str = "smoothed"
    color_by: str = "posterior_sd"
    contrast_limits: tuple[float, float] = POSTERIOR_SD_LIMITS_PX
    size: float = 9.0
    symbol: str = "disc"
    border_width: float = 0.12
    border_color: str = "black"
    opacity: float = 1.0

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``napari.layers.Points`` (features set by the caller)."""
        reverse = self.color_by == "likelihood"
        return {
            "name": self.name,
            "size": self.size,
            "symbol": self.symbol,
            "border_width": self.border_width,
            "border_width_is_relative": True,
            "border_color": self.border_color,
            "opacity": self.opacity,
            "face_color": self.color_by,
            "face_colormap": heat_colormap_kwargs(reverse),
            "face_contrast_limits": tuple(self.contrast_limits),
            # names off by default; the layer's "display text" box shows them
            "text": {**KEYPOINT_NAME_TEXT, "visible": False},
        }


@dataclass
class MemberPointsStyle(_PlainStyle):
    """Faint Points layer of one raw ensemble member, off by default (``napari.layers.Points``)."""

    name: str = "member"
    size: float = 5.0
    face_color: str = "#8fd3ff"
    border_width: float = 0.0
    opacity: float = 0.45
    visible: bool = False


@dataclass
class UncertaintyTracksStyle:
    """Tracks layer (tails) coloured by the same uncertainty as the points.

    Wide and long enough to read over a bright animal at the default zoom: 6 screen px
    (2.5 px tails were hard to see: the pale, certain end of the colormap almost vanished
    on the white mouse) and 30 frames of history (0.12 s of the sample's 250 frames/s
    video, about one stride of a paw), fully opaque.
    """

    name: str = "tails"
    color_by: str = "posterior_sd_scaled"
    tail_length: int = 30
    head_length: int = 0
    tail_width: float = 6.0
    opacity: float = 1.0
    reverse: bool = False

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``napari.layers.Tracks``.

        Tracks normalise a feature by its min/max unless it has its own colormap, so the
        feature named by ``color_by`` is already scaled to 0..1 by the contrast limits
        (see ``prediction_layers.prediction_to_tracks``) and gets the heat map in
        ``colormaps_dict``: tails and points then share one colour scale.
        """
        from napari.utils.colormaps import Colormap  # napari.utils only, no Qt

        return {
            "name": self.name,
            "color_by": self.color_by,
            "colormaps_dict": {self.color_by: Colormap(**heat_colormap_kwargs(self.reverse))},
            "tail_length": self.tail_length,
            "head_length": self.head_length,
            "tail_width": self.tail_width,
            "opacity": self.opacity,
            "blending": "translucent",
        }


@dataclass
class PredictionSkeletonStyle(_PlainStyle):
    """Vectors layer of skeleton edges between predicted keypoints, one per frame and edge
    (``napari.layers.Vectors``)."""

    FIXED: ClassVar[dict[str, Any]] = {"length": 1.0}

    name: str = "skeleton"
    edge_width: float = 1.5
    edge_color: str = "white"
    opacity: float = 0.55
    vector_style: str = "line"
