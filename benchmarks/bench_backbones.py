"""Time one training step and one inference batch of the pose model for each backbone.

Each backbone runs in its own subprocess so its peak memory (max RSS) is its own. A training
step is forward + heatmap MSE loss + backward + Adam update on random images with Gaussian
targets; inference is a forward pass in eval mode under ``torch.inference_mode``. Prints a
table; median over the timed steps after warm-up. Random backbone weights (speed does not
depend on them), 17 keypoints as in the mirror-mouse data, heatmaps at 1/4 resolution.

Run from the repository root::

    python benchmarks/bench_backbones.py --batch 8 --size 256 --steps 10 --threads 2

On a busy machine set ``OMP_WAIT_POLICY=PASSIVE``: idle OpenMP threads then sleep instead of
spinning, which otherwise slows everyone (including this benchmark) several-fold.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

BACKBONES = ("efficientnet_lite0", "resnet18", "resnet34", "resnet50")


def measure(backbone: str, batch: int, size: int, steps: int, warmup: int, threads: int) -> dict:
    """Median seconds per training step and per inference batch for one backbone."""
    import torch

    from napari_lightning_pose.data.heatmaps import gaussian_heatmaps
    from napari_lightning_pose.io.config import default_config
    from napari_lightning_pose.losses.heatmap import HeatmapMSELoss
    from napari_lightning_pose.models.factory import build_model

    torch.set_num_threads(threads)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # torch alone
    torch.manual_seed(0)
    cfg = default_config()
    cfg["data"]["keypoint_names"] = [f"kp{i}" for i in range(17)]
    cfg["model"]["backbone"] = backbone
    cfg["model"]["backbone_weights"] = None
    model = build_model(cfg)
    loss_fn = HeatmapMSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.randn(batch, 3, size, size)
    keypoints = torch.rand(batch, 17, 2) * (size / 4 - 1)
    targets = {
        "keypoints": keypoints,
        "heatmaps": gaussian_heatmaps(keypoints, (size // 4,) * 2, 1.25),
    }

    model.train()
    train_times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(images), targets).backward()
        optimizer.step()
        if i >= warmup:
            train_times.append(time.perf_counter() - start)

    model.eval()
    infer_times = []
    with torch.inference_mode():
        for i in range(warmup + steps):
            start = time.perf_counter()
            model(images)
            if i >= warmup:
                infer_times.append(time.perf_counter() - start)
    return {
        "backbone": backbone,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "train_step_s": statistics.median(train_times),
        "infer_batch_s": statistics.median(infer_times),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "base_rss_mb": base_rss,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=BACKBONES)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=256, help="square input size (x32)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps after warm-up")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one, print JSON
    args = parser.parse_args(argv)
    shared = (args.batch, args.size, args.steps, args.warmup, args.threads)
    if args.one:
        print(json.dumps(measure(args.one, *shared)))
        return

    print(
        f"batch {args.batch}, {args.size}x{args.size}, {args.threads} threads, "
        f"median of {args.steps} steps"
    )
    header = f"{'backbone':<20}{'params (M)':>11}{'train step (s)':>16}"
    header += f"{'infer (frames/s)':>18}{'peak RSS (MB)':>15}{'above import (MB)':>19}"
    print(header)
    for name in args.backbones:
        cmd = [sys.executable, __file__, "--one", name, "--batch", str(args.batch)]
        cmd += ["--size", str(args.size), "--steps", str(args.steps)]
        cmd += ["--warmup", str(args.warmup), "--threads", str(args.threads)]
        result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        print(
            f"{name:<20}{result['params_m']:>11.1f}{result['train_step_s']:>16.3f}"
            f"{args.batch / result['infer_batch_s']:>18.1f}{result['peak_rss_mb']:>15.0f}"
            f"{result['peak_rss_mb'] - result['base_rss_mb']:>19.0f}"
        )


if __name__ == "__main__":
    main()
