"""Command line: the same pipeline as the napari widgets, headless.

``napari-lightning-pose <command> --help`` describes each command. ``main`` holds the parser
and ``demo``, ``init`` and ``select-frames``; ``models`` has ``train``, ``predict``,
``evaluate`` and ``smooth``; ``interop`` the imports and exports; ``qc`` ``outliers``,
``suggest-frames`` and ``export-video``; ``demo`` the headless end-to-end demo.
"""

from napari_lightning_pose.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
