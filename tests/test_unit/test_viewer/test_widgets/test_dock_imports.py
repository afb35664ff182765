"""Opening a dock imports only what the dock shows: torch waits for the first job.

Importing torch took 6-19 s on the GUI thread when the Train or Predict dock opened. Run in
a fresh process (this one has torch already), through the manifest as the Plugins menu does.
Choosing a project in the Train dock imported torch too (2.4 s), to count the labeled poses.
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
    _, widget = viewer.window.add_plugin_dock_widget("napari-lightning-pose", name)
    print(name, "torch" in sys.modules, flush=True)
    if name == "Train":  # choosing a project counts its poses for the losses it can fit
        widget.project_edit.setText(sys.argv[1])
        notes = [note.text() for note in widget.loss_notes.values()]
        assert all(text.startswith("log_weight") for text in notes), notes
        print("Train: project chosen", "torch" in sys.modules, flush=True)
viewer.close()
"""


@pytest.mark.slow
def test_opening_the_job_docks_imports_no_torch(bundled_sample: Path) -> None:
    src = str(Path(__file__).resolve().parents[4] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(bundled_sample / "config.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = dict(line.rsplit(" ", 1) for line in done.stdout.splitlines() if line)
    assert lines == {
        "Train": "False",
        "Train: project chosen": "False",
        "Predict + smooth": "False",
        "Steer smoothing": "False",
        "Outlier queue": "False",
        "Traces": "False",
    }
