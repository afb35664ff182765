"""Importing torch in a worker: its libraries load with the GIL released, and the collector
is left as it was."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import gc, sys, threading, time
    from napari_lightning_pose.inference.torch_import import load_torch_libraries
    from napari_lightning_pose.inference.jobs import preload_torch

    ticks = []
    done = threading.Event()
    loaded = []

    def load():
        loaded.append(load_torch_libraries())
        done.set()

    worker = threading.Thread(target=load)
    worker.start()
    while not done.is_set():  # this thread keeps running while the worker loads
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()
    maps = open("/proc/self/maps").read()
    print("loaded", loaded[0], "torch" in sys.modules, "libtorch_cpu" in maps, len(ticks) > 1)
    frozen = gc.get_freeze_count()
    preload_torch()
    import torch
    print("imported", torch.ones(2).sum().item(), gc.isenabled(), gc.get_freeze_count() == frozen)
    print("again", load_torch_libraries())
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="dlopen preload is Linux's")
def test_torch_libraries_load_before_the_import_and_torch_still_imports() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600, check=True
    ).stdout.split("\n")
    # loaded in the worker, before any `import torch`, while the main thread ran on
    assert out[0] == "loaded True False True True", out
    # the import that follows works; the collector is on again and froze nothing
    assert out[1] == "imported 2.0 True True", out
    # a second call does nothing (torch is imported)
    assert out[2] == "again False", out
