"""Opening a dock imports only what the dock shows: torch waits for the first job.

Importing torch took 6-19 s on the GUI thread when the Train or Predict dock opened. Run in
a fresh process (this one has torch already), through the manifest as the Plugins menu does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """\
import sys

import napari

viewer = napari.Viewer(show=True)
for name in ("Train", "Predict + smooth", "Steer smoothing", "Outlier queue", "Traces"):
    viewer.window.add_plugin_dock_widget("napari-lightning-pose", name)
    print(name, "torch" in sys.modules, flush=True)
viewer.close()
"""


@pytest.mark.slow
def test_opening_the_job_docks_imports_no_torch(tmp_path: Path) -> None:
    src = str(Path(__file__).resolve().parents[4] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = dict(line.rsplit(" ", 1) for line in done.stdout.splitlines() if line)
    assert lines == {
        "Train": "False",
        "Predict + smooth": "False",
        "Steer smoothing": "False",
        "Outlier queue": "False",
        "Traces": "False",
    }
