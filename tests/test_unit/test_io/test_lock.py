"""The labels lock: one writer at a time, across threads and processes; stale locks broken."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from napari_lightning_pose.io.lock import (
    LockBusyError,
    hold_lock,
    lock_owner,
    lock_path,
    wait_until_free,
)


def test_another_thread_waits_and_is_told_who_holds_it(tmp_path) -> None:
    csv = tmp_path / "CollectedData.csv"
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with hold_lock(csv, "select-frames"):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(5)
        assert lock_owner(csv).startswith("select-frames (pid ")
        with pytest.raises(LockBusyError, match="select-frames"), hold_lock(csv, "me", 0.1):
            pass
        assert not wait_until_free(csv, 0.1)
    finally:
        release.set()
        thread.join()
    assert wait_until_free(csv, 1.0)
    with hold_lock(csv, "me", timeout=0):
        assert lock_path(csv).exists()
    assert not lock_path(csv).exists()


def test_the_same_thread_may_take_it_again(tmp_path) -> None:
    csv = tmp_path / "labels.csv"
    with hold_lock(csv, "outer"), hold_lock(csv, "inner", timeout=0):
        assert lock_owner(csv) is None  # free for its holder
    assert not lock_path(csv).exists()


def test_a_lock_left_by_a_dead_process_is_broken(tmp_path) -> None:
    csv = tmp_path / "labels.csv"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    import socket

    lock_path(csv).write_text(f"{socket.gethostname()}\n{dead.stdout.strip()}\nselect-frames\n")
    assert lock_owner(csv) is None
    with hold_lock(csv, "me", timeout=0):
        assert str(os.getpid()) in lock_path(csv).read_text()
