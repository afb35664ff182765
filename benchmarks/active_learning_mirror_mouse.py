"""Does uncertainty-driven frame suggestion help? Held-out pixel error on mirror-mouse.

Lightning Pose's mirror-mouse example has 90 labeled frames. Per seed they are shuffled into
30 held-out test frames, 20 frames to start from and a pool of 40 "unlabeled" frames whose
labels are hidden until chosen. Then 20 pool frames are added by

(a) uncertainty + diversity: a 2-member ensemble (seeds s, s+1) trained on the 20 start
    frames predicts the pool; :func:`napari_lightning_pose.qc.suggest.diverse_uncertain`
    picks from each frame's worst-keypoint ensemble SD and 32x32 thumbnails (what
    ``suggest-frames`` does, without the neighbour rule: the pool frames are not
    consecutive video frames);
(b) k-means on thumbnails (what ``select-frames`` does), and
(c) uniform (every other pool frame),

and a model is retrained from the same seed with the same number of steps on each 40-frame
set. The table gives the mean / median pixel error on the 30 test frames, the training's
process CPU time, and the 20-frame model's error as the baseline. Training budget is fixed
by steps (``--steps``, the same for every model), data loading runs in the process
(``num_workers 0``) and torch uses ``--threads`` threads, so CPU time is comparable between
arms even on a shared machine. Run from the repository root::

    python benchmarks/active_learning_mirror_mouse.py --steps 300 --seeds 0
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from torch.utils.data import DataLoader

from napari_lightning_pose import SAMPLE_DIR as SAMPLE
from napari_lightning_pose.data.labeled import LabeledFrames, LabeledFramesDataset
from napari_lightning_pose.io.config import load_config, save_config
from napari_lightning_pose.io.labels import read_labels, write_labels
from napari_lightning_pose.labeling.appearance import cluster_by_appearance, thumbnail
from napari_lightning_pose.qc.suggest import diverse_uncertain
from napari_lightning_pose.training import load_checkpoint, train
from napari_lightning_pose.training.evaluation import batch_errors

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "mirror-mouse-example"


def make_config(work: Path, csv: str, args: argparse.Namespace, seed: int) -> dict:
    """The sample's config on ``work/csv``: every row trains (no validation split)."""
    raw = yaml.safe_load((SAMPLE / "config.yaml").read_text(encoding="utf-8"))
    raw["data"].update(data_dir=str(work), csv_file=csv)
    raw["data"]["image_resize_dims"] = {"height": args.resize, "width": args.resize}
    raw["training"].update(
        train_prob=1.0,
        val_prob=0.0,
        num_workers=0,
        num_threads=args.threads,
        accelerator="cpu",
        rng_seed_model_pt=seed,
        train_batch_size=8,
    )
    path = work / f"{Path(csv).stem}-{seed}.yaml"
    save_config(raw, path)
    return load_config(path)


def fit(work: Path, csv: str, args: argparse.Namespace, seed: int) -> tuple[Path, float]:
    """Train on ``csv``; the checkpoint and the process CPU seconds it took."""
    cfg = make_config(work, csv, args, seed)
    out = work / f"run-{Path(csv).stem}-{seed}"
    cpu = time.process_time()
    for _ in train(cfg, out, steps=args.steps, device="cpu"):
        pass
    return out / "last.ckpt", time.process_time() - cpu


def predict(ckpt: Path, work: Path, csv: str, args: argparse.Namespace):
    """Errors (N, K) and predictions (N, K, 3) of ``ckpt`` on every row of ``csv``."""
    cfg = make_config(work, csv, args, 0)
    frames = LabeledFrames(cfg)
    ds = LabeledFramesDataset(frames, np.arange(len(frames.labels)), cfg)
    model = load_checkpoint(ckpt, torch.device("cpu"))[0]
    errs, preds = [], []
    for batch in DataLoader(ds, batch_size=16):
        e, p = batch_errors(model, batch, torch.device("cpu"))
        errs.append(e)
        preds.append(p)
    return np.concatenate(errs), np.concatenate(preds), frames


def run_seed(labels: pd.DataFrame, work: Path, args: argparse.Namespace, seed: int) -> list:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    test, start, pool = order[:30], order[30:50], order[50:90]
    write_labels(labels.iloc[np.sort(test)], work / "test.csv", backups=0)
    write_labels(labels.iloc[np.sort(start)], work / "start.csv", backups=0)
    write_labels(labels.iloc[np.sort(pool)], work / "pool.csv", backups=0)

    members, cpu_members = [], 0.0
    for s in (seed, seed + 1):
        ckpt, cpu = fit(work, "start.csv", args, s)
        members.append(ckpt)
        cpu_members += cpu
    base_err = predict(members[0], work, "test.csv", args)[0]

    preds, thumbs = [], None
    for ckpt in members:
        _, p, frames = predict(ckpt, work, "pool.csv", args)
        preds.append(p[..., :2])
        if thumbs is None:
            thumbs = np.stack([thumbnail(im) for im in frames.images])
    spread = np.sqrt(np.stack(preds).var(axis=0).sum(axis=-1))  # (N, K)
    uncertainty = np.nanmax(spread, axis=1)

    n = args.add
    picks = {
        "uncertainty+diversity": diverse_uncertain(uncertainty, thumbs, n, seed=seed),
        "k-means thumbnails": _kmeans_nearest(thumbs, n, seed),
        "uniform": np.round(np.linspace(0, len(pool) - 1, n)).astype(int),
    }
    pool_rows = labels.iloc[np.sort(pool)]
    rows = [("start (20 frames)", base_err, cpu_members / 2, np.nan)]
    for arm, idx in picks.items():
        chosen = pd.concat([labels.iloc[np.sort(start)], pool_rows.iloc[np.sort(idx)]])
        csv = f"arm-{arm.split()[0].replace('+', '-')}.csv"
        write_labels(chosen, work / csv, backups=0)
        ckpt, cpu = fit(work, csv, args, seed)
        err = predict(ckpt, work, "test.csv", args)[0]
        rows.append((arm, err, cpu, float(np.nanmean(uncertainty[idx]))))
        print(f"seed {seed} {arm}: {np.nanmean(err):.2f} px", flush=True)
    return [
        (seed, arm, float(np.nanmean(e)), float(np.nanmedian(e)), c, u) for arm, e, c, u in rows
    ]


def _kmeans_nearest(thumbs: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The item nearest each k-means centre (``select-frames``' rule), via cluster means."""
    labels = cluster_by_appearance(thumbs, n, seed).labels
    x = thumbs.reshape(len(thumbs), -1)
    out = []
    for c in range(n):
        members = np.flatnonzero(labels == c)
        centre = x[members].mean(axis=0)
        out.append(members[np.argmin(np.linalg.norm(x[members] - centre, axis=1))])
    return np.asarray(out)


def _markdown(df: pd.DataFrame) -> str:
    """A markdown table, numbers to two decimals."""
    cells = [[f"{v:.2f}" if isinstance(v, float) else str(v) for v in row] for row in df.values]
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps per model")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--add", type=int, default=20, help="frames added per arm")
    parser.add_argument("--resize", type=int, default=128, help="network input size (px)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="outputs/active-learning")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    labels = read_labels(SHARED / "CollectedData.csv")
    results = []
    for seed in args.seeds:
        work = Path(args.out).resolve() / f"seed{seed}"
        work.mkdir(parents=True, exist_ok=True)
        link = work / "labeled-data"
        if not link.exists():
            link.symlink_to(SHARED / "labeled-data")
        results += run_seed(labels, work, args, seed)
        report(results, args)  # after every seed, so a stopped run still reports


def report(results: list, args: argparse.Namespace) -> None:
    """Print the table and write it to ``--out/result.md``."""
    table = pd.DataFrame(
        results,
        columns=["seed", "frames", "test mean px", "test median px", "train CPU s", "pool SD"],
    )
    summary = table.groupby("frames", sort=False)[["test mean px", "test median px"]].mean()
    seeds = sorted(set(table["seed"]))
    text = (
        f"mirror-mouse, {args.steps} steps per model (batch 8, {args.resize}x{args.resize} "
        f"input, EfficientNet-Lite0 ImageNet), seeds {seeds}, "
        f"{platform.processor() or platform.machine()}, {args.threads} thread(s)\n\n"
        f"{_markdown(table)}\n\nmean over seeds:\n\n{_markdown(summary.reset_index())}\n"
    )
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "result.md").write_text(text, encoding="utf-8")
    print(text, flush=True)


if __name__ == "__main__":
    main()
