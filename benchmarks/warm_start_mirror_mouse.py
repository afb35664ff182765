"""Warm start vs training from scratch after new frames are labeled: steps to the old error.

The refine loop on Lightning Pose's mirror-mouse example (``../shared/data``, 90 labeled
frames; ``--data bundled`` for the 20-frame sample): per seed, a fixed set of frames is
held out for testing (never labeled in any run), the "old" model trains ``--steps`` steps
on part of the rest, then "Label these" adds ``--added`` frames. On the new labels:

- **scratch**: a new model trains ``--steps`` steps, as before;
- **warm**: ``train(init_from=old model)``, ``--steps / 5`` steps (fresh schedule).

Every ``--every`` steps each run's ``last.ckpt`` is evaluated on the held-out frames; the
table gives the old model's test error and, for both runs, the first step at which the test
error is at or below it (``-`` when never), the ratio warm / scratch and the final errors.
Process CPU time is reported (the machine is shared; no wall-clock claims).

    python benchmarks/warm_start_mirror_mouse.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import copy
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from napari_lightning_pose import SAMPLE_DIR as SAMPLE
from napari_lightning_pose.inference.evaluate import evaluate
from napari_lightning_pose.io.config import load_config, save_config
from napari_lightning_pose.training import LAST_CKPT, train, warm_start

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "mirror-mouse-example"


def make_projects(data: Path, base: Path, tmp: Path, seed: int, args: argparse.Namespace) -> dict:
    """Configs (``base`` config.yaml, its data in ``data``) over three label sets: test
    (held out), old, new (old + added)."""
    labels = pd.read_csv(data / "CollectedData.csv", header=[0, 1, 2], index_col=0)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = max(2, round(0.2 * len(labels)))
    n_old = (len(labels) - n_test - args.added) if args.old is None else args.old
    parts = {
        "test": order[:n_test],
        "old": order[n_test : n_test + n_old],
        "new": order[n_test : n_test + n_old + args.added],
    }
    raw = yaml.safe_load(base.read_text(encoding="utf-8"))
    raw["data"].update(data_dir=str(data.resolve()), image_resize_dims=args.resize_dims)
    raw["training"].update(
        train_prob=1.0,
        val_prob=0.0,
        train_batch_size=args.batch,
        steps_per_epoch=args.every,
        num_workers=0,
        num_threads=args.threads,
        accelerator="cpu",
        rng_seed_model_pt=seed,
    )
    cfgs = {}
    for name, rows in parts.items():
        csv = tmp / f"{name}.csv"
        labels.iloc[np.sort(rows)].to_csv(csv)
        cfg = copy.deepcopy(raw)
        cfg["data"]["csv_file"] = str(csv)
        path = tmp / f"{name}.yaml"
        save_config(cfg, path)
        cfgs[name] = load_config(path)
    return cfgs


def test_error(ckpt: Path, test_cfg: dict) -> float:
    """Mean pixel error of ``ckpt`` on every frame of the test labels."""
    result = evaluate(ckpt, test_cfg, splits=("train",), device="cpu")
    values = result.errors.drop(columns="split").to_numpy(dtype=float)
    return float(np.nanmean(values))


def curve(cfg: dict, out: Path, steps: int, test_cfg: dict, **kwargs) -> list[tuple[int, float]]:
    """Train, evaluating ``last.ckpt`` on the test frames at every checkpoint."""
    points = []
    for event in train(cfg, out, steps=steps, device="cpu", **kwargs):
        if event.kind == "checkpoint":
            points.append((event.step, test_error(out / LAST_CKPT, test_cfg)))
    return points


def first_at(points: list[tuple[int, float]], target: float) -> int | None:
    return next((s for s, e in points if e <= target), None)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--data",
        choices=["shared", "bundled", "blobs"],
        default="shared",
        help="blobs: the tests' synthetic project (two Gaussian blobs, 80 frames, "
        "random-init ResNet-18), where a model learns in a few hundred steps on a CPU",
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=300, help="old and scratch runs")
    p.add_argument("--every", type=int, default=10, help="evaluate every N steps")
    p.add_argument("--added", type=int, default=20, help="frames 'Label these' adds")
    p.add_argument("--old", type=int, help="frames the old model had (default: the rest)")
    p.add_argument("--resize", type=int, default=96)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warm-lr-scale", type=float, help="override training.warm_start.LR_SCALE")
    args = p.parse_args(argv)
    args.resize_dims = {"height": args.resize, "width": args.resize}
    torch.set_num_threads(args.threads)
    if args.warm_lr_scale is not None:
        warm_start.LR_SCALE = args.warm_lr_scale
    data = SHARED if args.data == "shared" and SHARED.is_dir() else SAMPLE
    base = SAMPLE / "config.yaml"
    t0 = time.process_time()
    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            if args.data == "blobs":
                sys.path.insert(0, str(REPO / "tests"))
                from conftest import make_blob_project  # the tests' synthetic project

                base = make_blob_project(tmp / "blobs", n_frames=80)
                data = base.parent
            cfgs = make_projects(data, base, tmp, seed, args)
            old = curve(cfgs["old"], tmp / "old", args.steps, cfgs["test"])
            target = old[-1][1]
            scratch = curve(cfgs["new"], tmp / "scratch", args.steps, cfgs["test"])
            warm_steps = max(args.every, args.steps // 5)
            warm = curve(
                cfgs["new"], tmp / "warm", warm_steps, cfgs["test"], init_from=tmp / "old"
            )
        s_at, w_at = first_at(scratch, target), first_at(warm, target)
        rows.append(
            {
                "seed": seed,
                "old error px": round(target, 1),
                "scratch: steps to it": s_at if s_at is not None else "-",
                "warm: steps to it": w_at if w_at is not None else "-",
                "warm / scratch": round(w_at / s_at, 2) if s_at and w_at else "-",
                f"scratch px @{args.steps}": round(scratch[-1][1], 1),
                f"warm px @{warm_steps}": round(warm[-1][1], 1),
            }
        )
        print(rows[-1], flush=True)
        print(f"  curves: old {old}\n  scratch {scratch}\n  warm {warm}", flush=True)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    print(
        f"\n{data.name}: {args.old or 'rest'} old + {args.added} added labeled frames, "
        f"resize {args.resize}, batch {args.batch}, {args.threads} thread(s), warm learning "
        f"rate x{warm_start.LR_SCALE}; "
        f"CPU time {time.process_time() - t0:.0f} s; "
        f"{platform.processor() or platform.machine()}; "
        f"python {sys.version.split()[0]}, torch {torch.__version__}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
