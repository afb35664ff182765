"""Time `napari-lightning-pose demo` stage by stage, optionally as on a CPU without AVX-512.

    python benchmarks/bench_demo.py --out /tmp/demo-bench [--no-avx512] [--threads 2]

``--no-avx512`` limits PyTorch's kernels to AVX2 (``ATEN_CPU_CAPABILITY=avx2``, oneDNN to
``ONEDNN_MAX_CPU_ISA=AVX2``) and turns off the bf16 autocast that prediction uses on CPUs
with native bf16, which is how the demo runs on a 2-core laptop/CI CPU without AVX-512.
Prints one row per stage (wall seconds and this process's CPU seconds) and the accuracy.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--no-avx512", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--members", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--resize", type=int, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.no_avx512:
        os.environ["ATEN_CPU_CAPABILITY"] = "avx2"
        os.environ["ONEDNN_MAX_CPU_ISA"] = "AVX2"
    import torch

    torch.set_num_threads(args.threads)
    from napari_lightning_pose import demo, predict

    if args.no_avx512:
        predict.cpu_has_bf16 = lambda: False
    kwargs = {
        k: v
        for k, v in (("members", args.members), ("steps", args.steps), ("resize", args.resize))
        if v is not None
    }
    wall, cpu = time.perf_counter(), time.process_time()
    result = demo.run_demo(args.out, device="cpu", progress=False, **kwargs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"\nCPU capability: {torch.backends.cpu.get_cpu_capability()}, "
        f"threads {torch.get_num_threads()}"
    )
    print("| stage | wall s |\n|---|---|")
    for stage, seconds in result.seconds.items():
        print(f"| {stage} | {seconds:.0f} |")
    print(f"| total | {wall:.0f} (process CPU {cpu:.0f} s) |")
    errs = ", ".join(f"{e:.1f}" for e in result.test_errors)
    print(f"test error per member (px): {errs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
