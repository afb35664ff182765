"""The labels lock: one writer at a time, across threads and processes; a holder that dies
lets go at once, and a live holder's lock is never broken."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
import threading

import pytest

from napari_lightning_pose.io.lock import (
    LockBusyError,
    hold_lock,
    lock_owner,
    wait_until_free,
)

# Takes the lock, says so, then waits to be killed (or for stdin to close).
_HOLDER = """
import sys
from napari_lightning_pose.io.lock import hold_lock
with hold_lock(sys.argv[1], "select-frames"):
    print("holding", flush=True)
    sys.stdin.read()
"""


def _owner_seen_from_another_thread(csv) -> str | None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lock_owner, csv).result()


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
        assert not wait_until_free(csv, None, stop=lambda: True)  # a waiter can be stopped
    finally:
        release.set()
        thread.join()
    assert wait_until_free(csv, 1.0)
    with hold_lock(csv, "me", timeout=0):
        assert _owner_seen_from_another_thread(csv) == f"me (pid {__import__('os').getpid()})"
    assert lock_owner(csv) is None


def test_the_same_thread_may_take_it_again(tmp_path) -> None:
    csv = tmp_path / "labels.csv"
    with hold_lock(csv, "outer"), hold_lock(csv, "inner", timeout=0):
        assert lock_owner(csv) is None  # free for its holder
        assert _owner_seen_from_another_thread(csv).startswith("outer (pid ")
    assert _owner_seen_from_another_thread(csv) is None


def _start_holder(csv) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(csv)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "holding"
    return holder


def test_a_live_holder_is_waited_for_and_never_broken(tmp_path) -> None:
    csv = tmp_path / "labels.csv"
    holder = _start_holder(csv)
    try:
        assert lock_owner(csv) == f"select-frames (pid {holder.pid})"
        with pytest.raises(LockBusyError, match=f"select-frames \\(pid {holder.pid}\\)"):
            with hold_lock(csv, "me", timeout=0.3):
                pass
    finally:
        holder.stdin.close()  # the holder lets go normally
        holder.wait(10)
    with hold_lock(csv, "me", timeout=0):
        pass


def test_a_killed_holder_lets_go_at_once(tmp_path) -> None:
    """The OS drops the lock of a process that dies, however it dies: no stale lock."""
    csv = tmp_path / "labels.csv"
    holder = _start_holder(csv)
    assert lock_owner(csv) is not None
    holder.kill()  # SIGKILL: no finally block runs
    holder.wait(10)
    holder.stdin.close()
    holder.stdout.close()
    assert lock_owner(csv) is None  # its owner file may be left; it is not believed
    with hold_lock(csv, "me", timeout=0):
        assert _owner_seen_from_another_thread(csv).startswith("me (pid ")
