"""What a process must know before it imports torch's optional compilers.

Mesa's OpenGL drivers (llvmpipe under Xvfb, radeonsi) load a system ``libLLVM`` with global
symbols; triton's own LLVM then crashes while it loads (segmentation fault), so a process
that has one mapped must not import triton (``jobs.preload_torch`` hides it from torch).
The docks' jobs run in their own process (``inference.job_process``), where no OpenGL is
loaded; the test suite and the command line may have it.
"""

from __future__ import annotations

from pathlib import Path


def system_llvm_loaded(maps: str | None = None) -> bool:
    """Whether a system ``libLLVM`` is mapped into this process (Linux ``/proc/self/maps``).

    Mesa's OpenGL drivers (llvmpipe, radeonsi) load it with global symbols; triton's own LLVM
    then crashes while it loads (segmentation fault), so triton must not be imported after it.
    """
    if maps is None:
        try:
            maps = Path("/proc/self/maps").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    return any(
        Path(line.split()[-1]).name.startswith("libLLVM")
        for line in maps.splitlines()
        if "/" in line
    )
