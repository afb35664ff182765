"""Which processes must not import triton (a system libLLVM is loaded)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def test_a_system_llvm_is_recognised_in_the_process_maps() -> None:
    """Mesa's libLLVM (any version) counts; llvmlite's and triton's own do not."""
    from napari_lightning_pose.inference.torch_import import system_llvm_loaded

    mesa = "7f12-7f13 r-xp 00000000 fe:01 123 /usr/lib/x86_64-linux-gnu/libLLVM-15.so.1\n"
    numba = "7f14-7f15 r-xp 00000000 fe:01 124 /venv/llvmlite/binding/libllvmlite.so\n"
    anon = "7f16-7f17 rw-p 00000000 00:00 0 \n"
    assert system_llvm_loaded(numba + mesa + anon)
    assert system_llvm_loaded("x r-xp 0 0:0 1 /usr/lib64/libLLVM.so.18.1\n")
    assert not system_llvm_loaded(numba + anon)
    assert isinstance(system_llvm_loaded(), bool)  # this process's own maps


WINDOW_FIRST = textwrap.dedent(
    """
    import numpy as np, napari
    from napari_lightning_pose.inference.jobs import preload_torch
    from napari_lightning_pose.inference.torch_import import system_llvm_loaded

    viewer = napari.Viewer(show=True)
    viewer.add_image(np.zeros((8, 8)))
    viewer.screenshot()  # the OpenGL canvas draws: Mesa and its libLLVM are loaded
    print("llvm", system_llvm_loaded(), flush=True)
    preload_torch()  # what a job in the window does first
    import torch

    w = torch.zeros(3, requires_grad=True)
    opt = torch.optim.Adam([w])  # imports torch._dynamo, which would import triton
    (w - 1).square().sum().backward()
    opt.step()
    print("trained", flush=True)
    viewer.close()
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Mesa's libLLVM is Linux's")
def test_a_job_after_the_window_drew_does_not_crash_in_triton() -> None:
    """Training started after napari's canvas drew (the user's order) runs: with Mesa's
    libLLVM loaded, importing triton crashed the process with a segmentation fault."""
    run = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", WINDOW_FIRST],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "trained" in run.stdout, run.stdout
