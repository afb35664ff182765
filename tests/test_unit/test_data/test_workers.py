"""Data-loader workers started from a script without a ``__main__`` guard do not re-run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """\
import sys
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from napari_lightning_pose.data.workers import WorkerSafeLoader

with Path(sys.argv[1]).open("a") as log:  # one line per run of this script
    log.write("ran\\n")
data = TensorDataset(torch.arange(4.0))
loader = WorkerSafeLoader(data, batch_size=2, num_workers=2, multiprocessing_context="spawn")
print("sum", sum(float(batch[0].sum()) for batch in loader))
"""


@pytest.mark.slow
def test_spawned_workers_of_an_unguarded_script_do_not_run_it_again(tmp_path: Path) -> None:
    script = tmp_path / "train_me.py"
    script.write_text(SCRIPT)
    log = tmp_path / "runs.txt"
    src = str(Path(__file__).resolve().parents[3] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, str(script), str(log)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sum 6.0" in done.stdout
    assert log.read_text().splitlines() == ["ran"]  # the workers did not run the script
