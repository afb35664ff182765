"""Time `napari-lightning-pose demo` stage by stage, optionally as on a CPU without AVX-512.

    python benchmarks/bench_demo.py --out /tmp/demo-bench [--no-avx512] [--threads 2]

``--no-avx512`` limits PyTorch's kernels to AVX2 (``ATEN_CPU_CAPABILITY=avx2``, oneDNN to
``ONEDNN_MAX_CPU_ISA=AVX2``) and turns off the bf16 autocast that prediction uses on CPUs
with native bf16, which is how the demo runs on a 2-core laptop/CI CPU without AVX-512.
Prints one row per stage (wall seconds and CPU seconds of this process and the processes it
waited for: data-loader workers, Xvfb), the load average before and after, and the accuracy.

On a shared machine the wall time says little; the CPU time does. On an idle 2-core CPU the
demo's wall time is at most its CPU time (it computes all the time, on one or two threads;
the parallel speed-up of the second thread only lowers it), so a total CPU time under 300 s
bounds the idle wall time under 5 minutes.
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
    parser.add_argument("--clip-frames", type=int, default=None)
    parser.add_argument("--backbone", default=None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--supervised", dest="semi", action="store_false", default=None)
    mode.add_argument("--semi", dest="semi", action="store_true", default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.no_avx512:
        os.environ["ATEN_CPU_CAPABILITY"] = "avx2"
        os.environ["ONEDNN_MAX_CPU_ISA"] = "AVX2"
    import torch

    torch.set_num_threads(args.threads)
    from napari_lightning_pose.cli import demo
    from napari_lightning_pose.inference import predict_options

    if args.no_avx512:
        predict_options.cpu_has_bf16 = lambda: False
    kwargs = {
        k: v
        for k, v in (
            ("members", args.members),
            ("steps", args.steps),
            ("resize", args.resize),
            ("clip_frames", args.clip_frames),
            ("backbone", args.backbone),
        )
        if v is not None
    }
    load_before = os.getloadavg()
    wall, cpu = time.perf_counter(), demo.cpu_seconds()
    result = demo.run_demo(
        args.out,
        device="cpu",
        progress=False,
        semi=demo.DEMO_SEMI if args.semi is None else args.semi,
        **kwargs,
    )
    wall, cpu = time.perf_counter() - wall, demo.cpu_seconds() - cpu
    print(
        f"\nCPU capability: {torch.backends.cpu.get_cpu_capability()}, "
        f"threads {torch.get_num_threads()}"
    )
    load_after = os.getloadavg()
    print(f"load average (1, 5, 15 min) before {_load(load_before)}, after {_load(load_after)}")
    print("| stage | wall s | CPU s |\n|---|---|---|")
    for stage, seconds in result.seconds.items():
        print(f"| {stage} | {seconds:.0f} | {result.cpu_seconds[stage]:.0f} |")
    print(f"| total | {wall:.0f} | {cpu:.0f} |")
    print("(CPU: this process and the processes it waited for: data-loader workers, Xvfb)")
    errs = ", ".join(f"{e:.1f}" for e in result.test_errors)
    print(f"test error per member (px): {errs}; ensemble: {result.ensemble_test_error:.1f}")
    print(
        f"{'semi-supervised' if result.semi else 'supervised'}, "
        f"{result.steps} steps x {len(result.checkpoints)} members"
    )
    return 0


def _load(avg: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.1f}" for x in avg)


if __name__ == "__main__":
    sys.exit(main())
