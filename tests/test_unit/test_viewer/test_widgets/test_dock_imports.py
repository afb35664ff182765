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


PLOT_SCRIPT = """\
import sys
import threading
import time

import napari
from qtpy.QtWidgets import QApplication

importers, probes = [], []


class Watch:  # records which thread imports pyqtgraph and CUDA's probe; finds nothing itself
    def find_spec(self, name, path=None, target=None):
        main = threading.current_thread() is threading.main_thread()
        if name == "pyqtgraph":
            importers.append(main)
        if name == "cuda.bindings.runtime":  # torch imports it (here on the main thread)
            probes.append(main)


sys.meta_path.insert(0, Watch())
assert "pyqtgraph" not in sys.modules
viewer = napari.Viewer(show=True)
_, widget = viewer.window.add_plugin_dock_widget("napari-lightning-pose", "Train")
from napari_lightning_pose.inference.jobs import EnsembleTrainEvent
from napari_lightning_pose.training.events import TrainEvent

for step in (1, 2):  # a run's first steps, before the plot is there
    losses = {"total": 1.0 / step}
    widget._on_event(EnsembleTrainEvent(0, 1, TrainEvent("step", step, 0, 2, losses=losses)))
deadline = time.monotonic() + 120
while widget.plot is None and time.monotonic() < deadline:
    QApplication.processEvents()
    time.sleep(0.01)
QApplication.processEvents()  # a widget added to a shown dock shows on the next turn
print("imported on the GUI thread", importers)
print("shown", widget.plot is not None and widget.plot.isVisible())
print("curve", len(widget.curves[(0, "total")].getData()[0]))
print("cuda probe in the worker", not all(probes))
viewer.close()
"""


@pytest.mark.slow
def test_the_train_dock_imports_its_plot_in_a_worker_and_shows_it(tmp_path: Path) -> None:
    """pyqtgraph (and its CUDA probe) took 0.1-0.15 s of the GUI thread when the Train dock
    opened; it is imported in a worker, and the plot then shows what the run reported."""
    src = str(Path(__file__).resolve().parents[4] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", PLOT_SCRIPT], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "imported on the GUI thread [False]",
        "shown True",
        "curve 2",
        "cuda probe in the worker False",
    ], done.stdout + done.stderr[-2000:]


PRELOAD_SCRIPT = """\
import sys
import threading
import time

import napari
from qtpy.QtWidgets import QApplication

importers = []


class Watch:  # records which thread imports pyqtgraph; finds nothing itself
    def find_spec(self, name, path=None, target=None):
        if name == "pyqtgraph":
            importers.append(threading.current_thread().name)


sys.meta_path.insert(0, Watch())
viewer = napari.Viewer(show=True)
viewer.window.add_plugin_dock_widget("napari-lightning-pose", sys.argv[1])
deadline = time.monotonic() + 120
while "pyqtgraph" not in sys.modules and time.monotonic() < deadline:
    QApplication.processEvents()
    time.sleep(0.01)
viewer.window.add_plugin_dock_widget("napari-lightning-pose", "Traces")
print("importers", importers)
viewer.close()
"""


@pytest.mark.slow
def test_a_dock_without_plots_imports_pyqtgraph_in_the_background_for_the_plot_docks() -> None:
    """The first plot dock of a session (Traces, the Outlier queue) imported pyqtgraph on
    the GUI thread (~0.3 s at load 6): any dock of the plugin (here the legend) starts that
    import in a thread, so Traces opened afterwards finds it done."""
    src = str(Path(__file__).resolve().parents[4] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", PRELOAD_SCRIPT, "Uncertainty legend"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "importers ['preload plots']",  # imported once, in the background thread
    ], done.stdout + done.stderr[-2000:]
