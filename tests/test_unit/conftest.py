"""Fixtures shared by the unit tests of several folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_viewer.camera_rig import make_rig_session


@pytest.fixture(scope="module")
def rig(module_tmp: Path) -> dict:
    """The synthetic calibrated three-camera session (``test_viewer/camera_rig.py``), built
    once per test module: its paths and truth (``make_rig_session``)."""
    return make_rig_session(module_tmp / "rig")
