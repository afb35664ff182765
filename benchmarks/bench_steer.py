"""Live re-smoothing: time a full EKS re-smooth at a fixed smoothing value (the slider).

The five-member example ensemble (``../shared/data/eks-example``, 2000 frames, 8 keypoints;
the committed 1000-frame fixture when absent) is tiled by reflection to ``--frames`` frames
and its keypoints are repeated to ``--keypoints`` (17, mirror-mouse's count), with the
multi-view layout of mirror-mouse with ``--multiview`` (7 keypoints in two views + 3 on
their own). For each row we time (median of ``--repeat``):

- ``smooth_ensemble`` at a fixed value (statistics + smoother + table), and
- ``SteerableSmoother.smooth`` at a fixed value (statistics computed once: what the slider
  calls on every move), without and with 20 corrections.

Run from the repository root::

    python benchmarks/bench_steer.py
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_eks import load_example, tile
from napari_lightning_pose.ensemble import smooth_ensemble
from napari_lightning_pose.ensemble.members import EnsembleMembers
from napari_lightning_pose.ensemble.steer import SteerableSmoother


def build(n_frames: int, n_kp: int) -> EnsembleMembers:
    xy, lik, names = load_example()
    xy, lik = tile(xy, n_frames), tile(lik, n_frames)
    reps = -(-n_kp // xy.shape[2])
    xy = np.concatenate([xy + 7.0 * r for r in range(reps)], axis=2)[:, :, :n_kp]
    lik = np.concatenate([lik] * reps, axis=2)[:, :, :n_kp]
    kp = [f"{n}_{r}" for r in range(reps) for n in names][:n_kp]
    return EnsembleMembers(xy, lik, kp, pd.RangeIndex(n_frames), [str(i) for i in range(len(xy))])


def median_time(fn, repeat: int) -> str:
    """Median wall / process-CPU milliseconds of ``fn`` (after one warm-up call), as text.

    CPU time is what the call costs without the other processes of a busy machine.
    """
    fn()  # warm (numba compiled, caches)
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return f"{np.median(wall) * 1000:.1f} / {np.median(cpu) * 1000:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--keypoints", type=int, default=17)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--s", type=float, default=10.0, help="the fixed smoothing value")
    args = parser.parse_args()
    ens = build(args.frames, args.keypoints)
    views = [list(range(7)), list(range(8, 15))] if args.keypoints >= 15 else None
    rows = []
    for mode, v in (("single-view", None), ("multi-view (7 pairs)", views)):
        if mode.startswith("multi") and v is None:
            continue
        steer = SteerableSmoother(ens, views=v)
        full = median_time(
            lambda v=v: smooth_ensemble(ens, smoothing=args.s, views=v), args.repeat
        )
        live = median_time(lambda steer=steer: steer.smooth(args.s), args.repeat)
        for i in range(20):
            t = 100 + i * (args.frames // 25)
            steer.correct(t, ens.keypoints[i % args.keypoints], 100.0, 100.0)
        corrected = median_time(lambda steer=steer: steer.smooth(args.s), args.repeat)
        rows.append((mode, full, live, corrected))
    print(
        f"{args.frames} frames x {args.keypoints} keypoints, 5 members, s = {args.s}; "
        f"{platform.processor() or platform.machine()}, median of {args.repeat}\n"
    )
    print(f"load average before: {os.getloadavg()[0]:.1f}; times are wall / CPU ms\n")
    print("| mode | smooth_ensemble | slider re-smooth | with 20 corrections |")
    print("|---|---|---|---|")
    for mode, full, live, corrected in rows:
        print(f"| {mode} | {full} | {live} | {corrected} |")


if __name__ == "__main__":
    main()
