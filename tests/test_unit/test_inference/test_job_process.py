"""The docks' jobs run in a child process: events arrive, errors and stops cross over."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.inference.job_process import JobProcessError, run_in_process

JOBS_DIR = Path(__file__).parent / "process_jobs"


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch):
    """The sample jobs, importable here and in the child (through PYTHONPATH)."""
    monkeypatch.syspath_prepend(str(JOBS_DIR))
    path = os.pathsep.join(p for p in (str(JOBS_DIR), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    import sample_jobs

    return sample_jobs


def test_events_come_in_order_from_another_process(jobs) -> None:
    events = list(run_in_process(jobs.count, 5, stop=threading.Event()))
    assert [i for i, _ in events] == list(range(5))  # the job's prints did not get in
    assert {pid for _, pid in events} != {os.getpid()}
    assert len({pid for _, pid in events}) == 1


def test_the_jobs_error_arrives_with_its_file_and_fix(jobs, tmp_path: Path) -> None:
    bad = tmp_path / "other.csv"
    events = run_in_process(jobs.fails, str(bad))
    assert next(events) == 1
    with pytest.raises(LabelsError) as caught:
        next(events)
    assert caught.value.path == bad and caught.value.fix == "Pick the project's CSV."
    assert str(bad) in str(caught.value)
    assert any("In the job's process" in note for note in caught.value.__notes__)


def test_a_crashed_process_is_reported_with_what_it_said(jobs) -> None:
    events = run_in_process(jobs.dies)
    assert next(events) == 1
    with pytest.raises(JobProcessError, match=r"(?s)exit code 3.*out of cheese"):
        next(events)


def test_stop_lets_the_job_finish_its_files(jobs, tmp_path: Path) -> None:
    stop = threading.Event()
    done = tmp_path / "done.txt"
    seen = []
    for tick in run_in_process(jobs.until_stopped, str(done), stop=stop):
        seen.append(tick)
        if tick == 3:
            stop.set()
    assert seen[-1] == -1 and done.read_text().startswith("stopped after")


def test_closing_the_generator_stops_the_child(jobs, tmp_path: Path) -> None:
    """A worker that is quit (the window closing) leaves no job running on its own."""
    done = tmp_path / "done.txt"
    events = run_in_process(jobs.until_stopped, str(done))
    assert next(events) == 0
    events.close()  # asks the child to stop and waits for it
    assert done.read_text().startswith("stopped after")


@pytest.mark.slow
def test_training_in_a_process_keeps_torch_out_of_the_callers(blob_project: Path) -> None:
    """The window's process trains an ensemble without importing torch (a fresh
    interpreter, since this one has torch already)."""
    out = blob_project.parent / "models"
    script = textwrap.dedent(
        f"""
        import sys
        import yaml
        from napari_lightning_pose.inference.job_process import run_in_process
        from napari_lightning_pose.inference.jobs import train_ensemble

        cfg = yaml.safe_load(open({str(blob_project)!r}))
        cfg["data"]["data_dir"] = {str(blob_project.parent)!r}
        kinds = [e.kind for e in run_in_process(train_ensemble, cfg, {str(out)!r}, 2, steps=2)]
        print("kinds", kinds.count("done"), "torch", "torch" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "kinds 2 torch False" in result.stdout
    assert (out / "member1" / "last.ckpt").is_file()


def test_a_job_that_forks_workers_does_not_hang(jobs) -> None:
    """A forked data-loader worker closes sys.stdin first thing; the stop watcher reading the
    parent's pipe must not hold that file's lock (the run hung at its first batch)."""
    assert list(run_in_process(jobs.forks, stop=threading.Event())) == [0]
