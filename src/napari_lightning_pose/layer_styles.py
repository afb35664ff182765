"""Colours and sizes of the keypoint layers, kept in one place.

Each style is a small dataclass whose ``as_kwargs()`` gives the keyword arguments of the napari
layer. Plain Python: nothing here imports napari, so the styles are usable (and testable) in
the headless core and in layer-data tuples returned by readers.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

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
        kwargs["text"] = {
            "string": "{keypoint}",
            "visible": show,
            "size": 8,
            "color": "white",
            "anchor": "upper_left",
            "translation": [-4, 4],
            **self.text,
        }
        return kwargs


@dataclass
class SkeletonStyle:
    """Style of a Shapes layer of skeleton lines between keypoints."""

    name: str = "skeleton"
    edge_width: float = 1.5
    edge_color: str = "white"
    opacity: float = 0.6

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``napari.layers.Shapes`` with line shapes."""
        return {**asdict(self), "shape_type": "line"}
