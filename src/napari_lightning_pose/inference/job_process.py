"""Run a dock's job (a generator of progress events) in a child Python process.

Why: torch in the window's process froze the window. Importing it makes half a million
objects, and the first full garbage collection after the job walks them and the window's
own (0.5-1 s holding the GIL, in whichever thread it falls); while training, the training
thread and the GUI thread share one GIL. In a child process neither happens: the window's
process never imports torch, and only unpickles the job's small event dataclasses.

Protocol: the child is ``python -m napari_lightning_pose.inference.job_process``. It reads
the pickled call ``(job, args, kwargs)`` from its stdin and writes pickled messages to a
private copy of its stdout: ``("event", event)`` per event, then ``("error", exc, text)``
or ``("end",)``. Whatever the job prints goes to stderr (fd 1 is pointed at fd 2), which
the parent copies to its own stderr and keeps the end of, for the error message of a child
that dies (a crash, the out-of-memory killer). A line on the child's stdin sets the job's
stop event; so does end of file (the window's process is gone): the job stops as Cancel
stops it, so every file it writes is complete (training saves ``last.ckpt``).

The job is pickled by reference (a module-level generator function), so the child needs
no ``__main__`` of the user's: a script without an ``if __name__ == "__main__":`` guard is
never re-run.
"""

from __future__ import annotations

import collections
import os
import pickle
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

T = TypeVar("T")

#: How long a job that was asked to stop gets to finish its step and write its files.
STOP_GRACE_S = 120.0
#: Lines of the child's stderr kept for the message when it dies.
STDERR_TAIL = 30


class JobProcessError(RuntimeError):
    """The job's process ended without finishing the job (a crash, killed, out of memory)."""


def run_in_process(
    job: Callable[..., Iterator[T]], *args: Any, stop: Any = None, **kwargs: Any
) -> Iterator[T]:
    """Run the generator ``job(*args, stop=<event>, **kwargs)`` in a child process.

    Yields the child's events as they come and raises the job's own exception (the child's
    traceback added as a note). Setting ``stop`` (a ``threading.Event``) asks the child's
    job to stop, as closing this generator does; the child then ends the way the job ends
    on its stop signal.
    """
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", __name__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
    copier = threading.Thread(target=_copy_stderr, args=(proc.stderr, tail), daemon=True)
    copier.start()
    finished = threading.Event()
    ended = False
    try:
        pickle.dump((job, args, kwargs), proc.stdin)
        proc.stdin.flush()
        if stop is not None:
            threading.Thread(
                target=_forward_stop, args=(stop, finished, proc), name="job-stop", daemon=True
            ).start()
        while True:
            try:
                message = pickle.load(proc.stdout)
            except (EOFError, pickle.UnpicklingError):
                break
            if message[0] == "event":
                yield message[1]
            elif message[0] == "error":
                ended = True
                _, error, text = message
                error.add_note(f"In the job's process:\n{text}")
                raise error
            else:
                ended = True
                break
    finally:
        finished.set()
        _end(proc, asked_to_stop=not ended)
        copier.join(timeout=5)
    if not ended:
        said = "".join(tail).strip()
        raise JobProcessError(
            f"The job's process ended with exit code {proc.returncode} before the job did"
            + (f"; it said:\n{said}" if said else ".")
            + "\nIts files are as the job left them (checkpoints are written whole). If it "
            "ran out of memory, train with a smaller batch or image size."
        )


def _forward_stop(stop: Any, finished: threading.Event, proc: subprocess.Popen) -> None:
    """Tell the child to stop when ``stop`` is set, until the job has finished."""
    while not finished.is_set():
        if stop.wait(0.1):
            _send_stop(proc)
            return


def _send_stop(proc: subprocess.Popen) -> None:
    try:
        assert proc.stdin is not None
        proc.stdin.write(b"stop\n")
        proc.stdin.flush()
    except (OSError, ValueError):  # the child is gone, or its stdin is closed already
        pass


def _end(proc: subprocess.Popen, asked_to_stop: bool) -> None:
    """Let the child finish (asking it to stop when the job did not end), then reap it."""
    if asked_to_stop and proc.poll() is None:
        _send_stop(proc)
        # nobody reads its events any more: drain them, or a full pipe would block it
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # type: ignore[union-attr]
    try:
        proc.stdin.close()  # type: ignore[union-attr]  # end of file: the child stops too
    except OSError:
        pass
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _copy_stderr(stream: IO[bytes], tail: collections.deque[str]) -> None:
    """Copy the child's stderr to ours, keeping its last lines."""
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace")
        tail.append(line)
        try:
            sys.stderr.write(line)
        except (OSError, ValueError):  # no stderr (a windowed app): the tail is kept
            pass


# ----------------------------------------------------------------------------- the child
def _child() -> int:
    """Run the call read from stdin, writing its events to the private copy of stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in the terminal: the window decides
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # the job's prints and library output go to stderr, not the protocol
    sys.stdout = sys.stderr
    # the parent's pipe is read through a private file, and stdin becomes /dev/null: a
    # forked data-loader worker closes sys.stdin first thing, and would wait forever for
    # the lock of a sys.stdin that the watcher below is blocked reading
    control = os.fdopen(os.dup(0), "rb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdin = open(os.devnull, encoding="utf-8")  # for the life of the process
    job, args, kwargs = pickle.load(control)
    stop = threading.Event()

    def watch_stdin() -> None:
        control.readline()  # a line, or end of file: the window wants the job to stop
        stop.set()

    threading.Thread(target=watch_stdin, name="job-stdin", daemon=True).start()
    try:
        for event in job(*args, stop=stop, **kwargs):
            pickle.dump(("event", event), out)
            out.flush()
    except BaseException as err:  # every failure goes to the window
        pickle.dump(("error", _sendable(err), traceback.format_exc()), out)
        out.flush()
        return 1
    pickle.dump(("end",), out)
    out.flush()
    return 0


def _sendable(err: BaseException) -> BaseException:
    """``err`` when it survives pickling, else a RuntimeError that says what it was."""
    try:
        return pickle.loads(pickle.dumps(err))
    except Exception:  # an exception class that cannot be rebuilt
        return RuntimeError(f"{type(err).__name__}: {err}")


if __name__ == "__main__":
    sys.exit(_child())
