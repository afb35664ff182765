"""Training throughput of the real training loop: steps per second and peak memory.

Runs ``napari_lightning_pose.training.train`` (data loading, augmentation, forward, loss,
backward, Adam, learning-rate schedule: everything but checkpoint writing, which happens once
at the end and is left out of the timing) on the bundled mirror-mouse sample project at its
256 x 256 resize, batch 8, for each backbone, each in its own subprocess so its peak memory
is its own. Backbone weights are random (speed does not depend on them; nothing downloads).
Two phases are timed: "full" steps (backbone and head train) and "head" steps, the cheaper
ones of the first ``training.unfreezing_epoch`` epochs while the backbone is frozen.

Two modes: "supervised" (labeled batch only) and "semi": each step also takes one unlabeled
clip of ``--clip`` frames (16, Lightning Pose's ``dali.base.train.sequence_length``) from the
sample's video, with the temporal and multi-view PCA losses (issue 9's cost goal: a
semi-supervised step at most 2x a supervised one). The table gives wall and process CPU
seconds per step (CPU time counts this process only: run with ``--workers 0`` to include
data loading and clip decoding) and the semi / supervised ratio per backbone and phase.

Peak memory: on the CPU the process's peak resident set size (``ru_maxrss``, includes
Python, torch and the image cache); on CUDA ``torch.cuda.max_memory_allocated``.

Run from the repository root::

    python benchmarks/bench_train.py                       # CPU, 3 backbones, 12 steps
    python benchmarks/bench_train.py --device cuda --steps 60
    python benchmarks/bench_train.py --backbones resnet18 --batch 16 --steps 20
    python benchmarks/bench_train.py --backbones efficientnet_lite0 --phases full \
        --modes supervised semi --threads 1 --workers 0 --batch 16

On a busy machine set ``OMP_WAIT_POLICY=PASSIVE`` so idle OpenMP threads sleep.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from napari_lightning_pose import SAMPLE_DIR as SAMPLE

REPO = Path(__file__).resolve().parents[1]
BACKBONES = ("resnet18", "resnet50", "efficientnet_lite0")


def measure(args: argparse.Namespace) -> dict:
    """Train ``args.steps`` steps of one backbone; seconds per step after warm-up, peak memory."""
    import torch

    from napari_lightning_pose.io.config import load_config
    from napari_lightning_pose.training import train

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(shutil.copytree(SAMPLE, Path(tmp) / "project"))
        cfg = load_config(project / "config.yaml")
        cfg["data"]["image_resize_dims"] = {"height": args.size, "width": args.size}
        cfg["model"].update(backbone=args.backbone, backbone_weights=None)
        tcfg = cfg["training"]
        tcfg.update(
            train_batch_size=args.batch,
            num_workers=args.workers,
            num_threads=args.threads,
            precision=args.precision,
            steps_per_epoch=args.steps + 1,  # no checkpoint or validation inside the timing
            train_prob=1.0,
            val_prob=0.0,
            # epoch 0 is the whole run: frozen backbone throughout, or never
            unfreezing_epoch=1 if args.phase == "head" else 0,
        )
        if args.mode == "semi":
            # the sample's 20 labeled frames are too few for the 28-dim pose PCA; its cost
            # (a small matrix product on the clip's keypoints) is that of the multi-view one
            cfg["model"]["losses_to_use"] = ["temporal", "pca_multiview"]
            cfg.setdefault("dali", {}).setdefault("base", {}).setdefault("train", {})
            cfg["dali"]["base"]["train"]["sequence_length"] = args.clip
        stamps, cpu_stamps = [], []
        start, cpu_start = time.perf_counter(), time.process_time()
        for event in train(cfg, Path(tmp) / "run", steps=args.steps, device=args.device):
            if event.kind == "start":
                start, cpu_start = time.perf_counter(), time.process_time()
            if event.kind == "step":
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                stamps.append(time.perf_counter())
                cpu_stamps.append(time.process_time())
        durations = [b - a for a, b in zip([start, *stamps[:-1]], stamps, strict=True)]
        cpu = [b - a for a, b in zip([cpu_start, *cpu_stamps[:-1]], cpu_stamps, strict=True)]
        timed = durations[args.warmup :] or durations
        cpu_timed = cpu[args.warmup :] or cpu
        if args.device.startswith("cuda"):
            peak_mb = torch.cuda.max_memory_allocated() / 2**20
        else:
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {
            "backbone": args.backbone,
            "phase": args.phase,
            "mode": args.mode,
            "s_per_step": statistics.median(timed),
            "cpu_s_per_step": statistics.median(cpu_timed),
            "first_step_s": durations[0],
            "peak_mb": peak_mb,
        }


def device_name(device: str) -> str:
    """The GPU's name, or the CPU's model name and core count."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=256, help="square input size")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3, help="steps left out of the timing")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--phases", nargs="+", default=["full", "head"], choices=["full", "head"])
    parser.add_argument(
        "--modes", nargs="+", default=["supervised"], choices=["supervised", "semi"]
    )
    parser.add_argument("--clip", type=int, default=16, help="unlabeled clip length (semi)")
    parser.add_argument(
        "--precision", default="auto", help="training.precision: auto, 32, bf16-mixed ..."
    )
    parser.add_argument("--backbone", help=argparse.SUPPRESS)  # child process mode
    parser.add_argument("--phase", default="full", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="supervised", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.backbone:  # in the child: measure one backbone, print JSON
        print(json.dumps(measure(args)))
        return

    rows = []
    runs = [(b, p, m) for b in args.backbones for p in args.phases for m in args.modes]
    for backbone, phase, mode in runs:
        cmd = [sys.executable, __file__, "--backbone", backbone, "--phase", phase, "--mode", mode]
        flags = ("device", "batch", "size", "steps", "warmup", "workers", "threads", "clip")
        for flag in (*flags, "precision"):
            value = getattr(args, flag)
            if value is not None:
                cmd += [f"--{flag}", str(value)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if proc.returncode != 0:
            error = proc.stderr.strip().splitlines()[-1]
            rows.append({"backbone": backbone, "phase": phase, "mode": mode, "error": error})
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"\nTraining loop, {device_name(args.device)}, batch {args.batch}, "
        f"{args.size}x{args.size}, {args.workers} workers, precision {args.precision}, "
        f"semi: clip of {args.clip} frames, "
        f"median of steps {args.warmup + 1}..{args.steps}, load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}\n"
    )
    print(
        "| backbone | step | mode | s / step | CPU s / step | x supervised | frames / s "
        "| first step s | peak memory MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    base = {
        (r["backbone"], r["phase"]): r["s_per_step"]
        for r in rows
        if r.get("mode") == "supervised" and "error" not in r
    }
    for row in rows:
        if "error" in row:
            print(
                f"| {row['backbone']} | {row['phase']} | {row['mode']} | "
                f"failed: {row['error']} | | | | | |"
            )
            continue
        s = row["s_per_step"]
        ref = base.get((row["backbone"], row["phase"]))
        ratio = f"{s / ref:.2f}" if ref else ""
        print(
            f"| {row['backbone']} | {row['phase']} | {row['mode']} | {s:.3f} | "
            f"{row['cpu_s_per_step']:.3f} | {ratio} | {args.batch / s:.1f} | "
            f"{row['first_step_s']:.2f} | {row['peak_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
