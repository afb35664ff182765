"""Issue 24, 9: "A run started from a script without a ``__main__`` guard hung at 0 % for
600 s with no message, while data-loader workers re-ran the script."

A user's script, written as users write them (no ``if __name__ == "__main__":``), opens a
napari window with the plugin's Train dock on a tiny project whose training uses data-loader
workers, presses Train, waits for the run and closes the window. It runs as its own process
on the test's X display, as a user runs it. What the user sees is checked, not how the dock
runs its job: the script's top-level line printed once (no worker ran the script again),
the checkpoint written, and a clean exit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

#: Printed by the script's top level: once per run of the script.
MARKER = "USER-SCRIPT-TOP-LEVEL"

SCRIPT = f"""\
import sys

import napari
from qtpy.QtCore import Qt, QTimer
from qtpy.QtTest import QTest

print("{MARKER}", flush=True)

viewer = napari.Viewer()
_, dock = viewer.window.add_plugin_dock_widget("napari-lightning-pose", "Train")
dock.project_edit.setText(sys.argv[1])
dock.model_combo.setCurrentText("semi-supervised")  # unlabeled clips: spawned loader workers
for name, check in dock.loss_checks.items():
    check.setChecked(name == "temporal")
dock.members_spin.setValue(1)
dock.steps_spin.setValue(2)
dock.device_combo.setCurrentText("cpu")


def press_train():
    QTest.mouseClick(dock.train_button, Qt.MouseButton.LeftButton)


def close_when_done():
    if not dock.running:
        print("status:", dock.status.text(), flush=True)
        viewer.close()


QTimer.singleShot(500, press_train)
poll = QTimer()
poll.setInterval(200)
poll.timeout.connect(close_when_done)
QTimer.singleShot(1000, poll.start)
napari.run()
print("closed", flush=True)
print("torch in the window's process:", "torch" in sys.modules, flush=True)
"""


@pytest.mark.slow
def test_unguarded_script_trains_from_the_train_dock_once_and_exits(
    tmp_path: Path, blob_tools
) -> None:
    config = blob_tools.make_project(tmp_path / "blobs", **{"training.num_workers": 1})
    script = tmp_path / "train_in_window.py"
    script.write_text(SCRIPT)
    src = str(Path(__file__).resolve().parents[4] / "src")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
        "NAPARI_CONFIG": str(tmp_path / "napari_settings.yaml"),  # not the user's settings
        "PYTHONUNBUFFERED": "1",
    }
    assert env.get("DISPLAY") or env.get("QT_QPA_PLATFORM"), "run under xvfb-run"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
        start_new_session=True,  # its loader workers too are stopped on a hang
    )
    try:
        # a deadline against the hang only: a healthy run takes well under a minute
        output, _ = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"the script hung (killed after 300 s); its output:\n{output[-4000:]}")
    assert output.count(MARKER) == 1, output[-4000:]  # no worker ran the script again
    assert proc.returncode == 0, output[-4000:]
    assert "closed" in output
    # the run trained in its own process: torch never entered the window's (its imports and
    # its garbage froze the window for up to a second)
    assert "torch in the window's process: False" in output, output[-4000:]
    last = config.parent / "models" / "blobs" / "member0" / "last.ckpt"
    assert last.is_file(), output[-4000:]
    from napari_lightning_pose.training import read_checkpoint

    ckpt, _ = read_checkpoint(last)
    assert ckpt["step"] == 2
    assert ckpt["config"]["model"]["losses_to_use"] == ["temporal"]
    assert ckpt["config"]["training"]["num_workers"] == 1
