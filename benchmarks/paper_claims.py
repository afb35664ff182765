"""The paper's claims on the mirror-mouse example, converged and over several seeds.

Variants (Lightning Pose's names): ``supervised``; ``semi`` (+ ``temporal``,
``pca_singleview``, ``pca_multiview`` on unlabeled clips of ``videos/test_vid.mp4``);
``context`` (``heatmap_mhcrnn``, frames t-2..t+2); ``semi_context`` (both); and, for each,
EKS over the ensemble of its seeds (the seeds' models are the ensemble members). All runs
use the full example in ``../shared/data/mirror-mouse-example`` (90 labeled frames, split
72 / 9 / 9 with ``rng_seed_data_pt`` 0, the same for every run), EfficientNet-Lite0 with
ImageNet weights, ``heatmap_mse``, batch 8, and EQUAL STEPS per variant (the paper compares
at equal epochs). The unsupervised losses' weights are given as a strength
(``losses.balance``: 1 = one pixel beyond epsilon pulls like a label at a 1-sigma miss), so
the same number means the same balance at any input size.

Metrics per run (``best.ckpt``, chosen on the 9 validation frames):

- held-out pixel error on the 9 test frames (mean over labeled keypoints; and per keypoint,
  for the keypoints most often unlabeled = occluded in the labels);
- on the unlabeled video (994 frames): the share of keypoint-frames whose position jumps by
  more than 20 px from the previous frame, and the share whose singleview / multiview PCA
  error exceeds the PCA loss's epsilon (fits of the training labels, the same for all).
  Context models are predicted three ways: each keypoint from the more confident head
  (Lightning Pose's rule, the default), always the context head, always the single-frame
  head, so a jitter from switching heads shows.

EKS rows smooth the seeds' video predictions (multi-view over ``mirrored_column_matches``,
automatic smoothing); on the held-out frames, which are single images, EKS has no time axis,
so the row gives the ensemble median's error there.

Usage (from the repository root, ``PYTHONPATH=src``)::

    python benchmarks/paper_claims.py time --resize 128            # CPU s/step per variant
    python benchmarks/paper_claims.py run --variant semi --seed 0 --resize 128 --steps 1500
    python benchmarks/paper_claims.py table --out runs-21           # after the runs
    python benchmarks/paper_claims.py all --resize 256 --steps 3000 --seeds 3 --jobs 4 \
        --device cuda --out runs-gpu                                 # everything, on a GPU

Each ``run`` writes ``--out``/<variant>-s<seed>/ (config, checkpoints, metrics.csv,
predictions, result.json); ``table`` prints markdown (mean +- SD over seeds) and writes
``--out``/table.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from napari_lightning_pose import SAMPLE_DIR as SAMPLE

REPO = Path(__file__).resolve().parents[1]

SHARED = REPO.parent / "shared" / "data" / "mirror-mouse-example"
VARIANTS = ("supervised", "semi", "context", "semi_context")
UNSUPERVISED = ("temporal", "pca_singleview", "pca_multiview")
HEADS = ("confident", "context", "single")
JUMP_PX = 20.0


def make_config(variant: str, seed: int, args: argparse.Namespace) -> dict:
    """The validated config of one run."""
    from napari_lightning_pose.io.config import validate_config
    from napari_lightning_pose.losses.balance import log_weight_for

    raw = yaml.safe_load((SAMPLE / "config.yaml").read_text(encoding="utf-8"))
    raw["data"]["data_dir"] = str(Path(args.data).resolve())
    raw["data"]["image_resize_dims"] = {"height": args.resize, "width": args.resize}
    steps_per_epoch = 9  # 72 training frames / batch 8
    raw["training"].update(
        num_workers=0, num_threads=1, rng_seed_model_pt=seed, accelerator=args.device,
        train_batch_size=8, max_steps=args.steps, steps_per_epoch=steps_per_epoch,
        unfreezing_epoch=args.unfreezing_epoch, check_val_every_n_epoch=args.val_every,
    )  # fmt: skip
    raw["model"]["heatmap_loss_type"] = args.heatmap_loss
    raw["model"]["backbone"] = args.backbone
    raw["model"]["model_name"] = f"{variant}-s{seed}"
    raw["dali"] = {"base": {"train": {"sequence_length": args.clip}},
                   "context": {"train": {"batch_size": args.clip - 4}}}  # fmt: skip
    if "context" in variant:
        raw["model"]["model_type"] = "heatmap_mhcrnn"
        raw["model"]["context_neighbour_gradients"] = args.neighbour_gradients
    if variant.startswith("semi"):
        raw["model"]["losses_to_use"] = list(UNSUPERVISED)
        epochs = max(1, args.steps // steps_per_epoch)
        raw["callbacks"] = {"anneal_weight": {
            "init_val": 0.0, "increase_factor": 1.0 / max(1.0, args.anneal_reach * epochs),
            "final_val": 1.0, "freeze_until_epoch": 0}}  # fmt: skip
    cfg = validate_config(raw)
    root = Path(cfg["data"]["data_dir"])
    cfg["data"]["video_dir"] = str(root / raw["data"]["video_dir"])
    for name in UNSUPERVISED:
        cfg["losses"][name]["log_weight"] = log_weight_for(args.strength, cfg)
    return cfg


def time_steps(args: argparse.Namespace) -> None:
    """Process CPU seconds per training step of each variant (steps 3..N of a short run)."""
    import torch

    from napari_lightning_pose.training import train

    torch.set_num_threads(1)
    rows = []
    for variant in args.variants:
        for frozen in (True, False):
            cfg = make_config(variant, 0, args)
            cfg["training"]["unfreezing_epoch"] = 1 if frozen else 0
            cfg["training"]["steps_per_epoch"] = 100
            stamps = []
            with tempfile.TemporaryDirectory() as tmp:
                for event in train(cfg, Path(tmp), steps=args.time_steps):
                    if event.kind == "step":
                        stamps.append(time.process_time())
            per = (stamps[-1] - stamps[1]) / (len(stamps) - 2)
            rows.append((variant, "head only" if frozen else "full", per))
            print(
                f"{variant:14s} {'head' if frozen else 'full'}: {per:.3f} CPU s/step", flush=True
            )
    print(f"\n{args.resize} px, clip {args.clip}, neighbour gradients {args.neighbour_gradients}")


def predict_heads(
    ckpt: Path, video: Path, out_dir: Path, context: bool, device: str = "cpu"
) -> dict[str, Path]:
    """Predict the video once per head choice (once for a single-frame model)."""
    from napari_lightning_pose.inference.predict import predict_video
    from napari_lightning_pose.inference.predict_options import InferenceOptions

    out = {}
    for head in HEADS if context else ("confident",):
        csv = out_dir / f"video_{head}.csv"
        opts = InferenceOptions(batch_size=16, device=device, amp=False, metrics=False,
                                context_head=head)  # fmt: skip
        list(predict_video(ckpt, video, csv, options=opts))
        out[head] = csv
    return out


def pca_fits(args: argparse.Namespace) -> dict:
    """The PCA fits of the training labels (the same for every run and variant)."""
    from napari_lightning_pose.data.labeled import build_datasets
    from napari_lightning_pose.losses.factory import build_unsupervised_losses

    cfg = make_config("semi", 0, args)
    train_set = build_datasets(cfg)["train"]
    _, fits = build_unsupervised_losses(cfg, train_set.frames.keypoints[train_set.indices])
    return fits


def video_shares(xy: np.ndarray, fits: dict) -> dict[str, float]:
    """Shares of keypoint-frames that jump > 20 px / exceed each PCA loss's epsilon."""
    from napari_lightning_pose.inference.video_metrics import pca_error, temporal_norm

    jumps = temporal_norm(xy)[1:]
    out = {"jump_share": float(np.mean(jumps > JUMP_PX)),
           "jump_p95_px": float(np.nanpercentile(jumps, 95))}  # fmt: skip
    for name, fit in fits.items():
        err = pca_error(fit, xy)[:, fit.columns.ravel()]
        out[f"{name}_share"] = float(np.mean(err > fit.epsilon))
    return out


def read_xy(csv: Path) -> np.ndarray:
    """(N, K, 2) x, y of a prediction or smoothed CSV."""
    from napari_lightning_pose.io.pose_csv import read_pose_csv

    df = read_pose_csv(csv, ("x", "y"))
    coords = df.columns.get_level_values("coords")
    xy = df.loc[:, [c in ("x", "y") for c in coords]]
    return xy.to_numpy(dtype=float).reshape(len(df), -1, 2)


def run(args: argparse.Namespace) -> None:
    """Train one (variant, seed), evaluate it and predict the video."""
    import torch

    from napari_lightning_pose.inference.evaluate import evaluate
    from napari_lightning_pose.training import train

    torch.set_num_threads(1)
    out = Path(args.out) / f"{args.variant}-s{args.seed}"
    out.mkdir(parents=True, exist_ok=True)
    cfg = make_config(args.variant, args.seed, args)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    curve = []
    for event in train(cfg, out / "run"):
        if event.kind == "validation":
            curve.append((event.step, event.val_pixel_error))
            print(f"[{out.name}] step {event.step} val {event.val_pixel_error:.2f} px", flush=True)
    cpu_train = time.process_time() - cpu0
    ckpt = out / "run" / "best.ckpt"
    result = evaluate(ckpt, cfg, splits=("test", "val"), device=args.device,
                      out_csv=out / "heldout_errors.csv")  # fmt: skip
    video = Path(cfg["data"]["video_dir"]) / "test_vid.mp4"
    preds = predict_heads(ckpt, video, out, "context" in args.variant, args.device)
    fits = pca_fits(args)
    row = {
        "variant": args.variant, "seed": args.seed, "steps": args.steps,
        "resize": args.resize, "strength": args.strength, "clip": args.clip,
        "neighbour_gradients": args.neighbour_gradients,
        "cpu_s_train": cpu_train, "cpu_s_per_step": cpu_train / args.steps,
        "wall_s": time.perf_counter() - wall0,
        "test_px": result.overall("test"), "val_px": result.overall("val"),
        "val_curve": curve,
        "test_px_by_keypoint": result.summary.xs("test", level=0)["mean"].to_dict(),
        "video": {head: video_shares(read_xy(csv), fits) for head, csv in preds.items()},
    }  # fmt: skip
    (out / "result.json").write_text(json.dumps(row, indent=1), encoding="utf-8")
    print(json.dumps({k: v for k, v in row.items() if k != "val_curve"}), flush=True)


def eks_row(
    runs: list[dict], run_dirs: list[Path], fits: dict, cfg: dict, head: str, multiview: bool
) -> dict:
    """EKS over the seeds' video predictions (made with ``head``), multi-view over the
    mirrored columns or each keypoint on its own: the smoothed trajectory's video shares."""
    from napari_lightning_pose.ensemble.smooth import smooth_ensemble, write_smoothed_csv

    mode = "multiview" if multiview else "singleview"
    smoothed = run_dirs[0].parent / f"eks-{runs[0]['variant']}-{head}-{mode}.csv"
    views = cfg["data"]["mirrored_column_matches"] if multiview else None
    result = smooth_ensemble([d / f"video_{head}.csv" for d in run_dirs], views=views)
    write_smoothed_csv(result, smoothed)
    return {"video": video_shares(read_xy(smoothed), fits)}


def table(args: argparse.Namespace) -> None:
    """Mean +- SD over seeds per variant, plus EKS rows; writes ``--out``/table.md."""
    root = Path(args.out)
    fits = pca_fits(args)
    lines = [
        "| variant | seeds | steps | CPU s/step | test px | val px | jumps > 20 px | "
        "PCA single > eps | PCA multi > eps | occluded kp test px |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    occluded = occluded_keypoints(args)

    def fmt(values: list[float], scale: float = 1.0, unit: str = "") -> str:
        v = scale * np.asarray(values, dtype=float)
        return f"{np.nanmean(v):.2f} ± {np.nanstd(v):.2f}{unit}" if len(v) > 1 else f"{v[0]:.2f}"

    for variant in VARIANTS:
        dirs = sorted(root.glob(f"{variant}-s*"))
        runs = [json.loads((d / "result.json").read_text()) for d in dirs
                if (d / "result.json").exists()]  # fmt: skip
        if not runs:
            continue
        heads = HEADS if "context" in variant else ("confident",)
        for head in heads:
            label = variant if head == "confident" else f"{variant} ({head} head)"
            vid = [r["video"][head] for r in runs]
            occ = " / ".join(
                f"{k} {np.mean([r['test_px_by_keypoint'].get(k, np.nan) for r in runs]):.1f}"
                for k in occluded
            ) if head == "confident" else "-"  # fmt: skip
            lines.append(
                f"| {label} | {len(runs)} | {runs[0]['steps']} | "
                f"{np.mean([r['cpu_s_per_step'] for r in runs]):.2f} | "
                f"{fmt([r['test_px'] for r in runs]) if head == 'confident' else '-'} | "
                f"{fmt([r['val_px'] for r in runs]) if head == 'confident' else '-'} | "
                f"{fmt([v['jump_share'] for v in vid], 100, ' %')} | "
                f"{fmt([v['pca_singleview_share'] for v in vid], 100, ' %')} | "
                f"{fmt([v['pca_multiview_share'] for v in vid], 100, ' %')} | {occ} |"
            )
        if len(runs) >= 2:
            done = [d for d in dirs if (d / "result.json").exists()]
            cfg = make_config(variant, 0, args)
            med = ensemble_median_test_px(done, cfg)
            # confident (the default) and, for context, the context head; multi-view EKS (as
            # Lightning Pose's mirror-mouse config) and each keypoint on its own
            for head, multiview in [(h, m) for h in heads[:2] for m in (True, False)]:
                v = eks_row(runs, done, fits, cfg, head, multiview)["video"]
                label = f"EKS {'multi' if multiview else 'single'}-view over {variant}" + (
                    f" ({head} head)" if head != "confident" else ""
                )
                first = head == "confident" and multiview
                lines.append(
                    f"| {label} | {len(runs)} | - | - | "
                    f"{f'{med:.2f} (median)' if first else '-'} | - | "
                    f"{100 * v['jump_share']:.2f} % | {100 * v['pca_singleview_share']:.2f} % | "
                    f"{100 * v['pca_multiview_share']:.2f} % | - |"
                )
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                if "model name" in ln), platform.processor())  # fmt: skip
    note = (
        f"\n\nMean ± SD over seeds; {args.backbone}, {args.heatmap_loss}, {args.resize} x "
        f"{args.resize} px input, strength "
        f"{args.strength}, clip {args.clip} frames, 1 torch thread per run, on {cpu}, load "
        f"average {os.getloadavg()[0]:.1f} when the table was made. Occluded keypoints: the "
        f"{len(occluded)} most often unlabeled in the labels."
    )
    text = "\n".join(lines) + note
    (root / "table.md").write_text(text + "\n", encoding="utf-8")
    print(text)


def occluded_keypoints(args: argparse.Namespace, n: int = 4) -> list[str]:
    """The ``n`` body parts (keypoints of the pose PCA; obstacles are not body parts) most
    often missing (NaN, i.e. occluded) in the labels."""
    import pandas as pd

    df = pd.read_csv(Path(args.data) / "CollectedData.csv", header=[0, 1, 2], index_col=0)
    missing = df.isna().T.groupby(level=1, sort=False).mean().mean(axis=1)
    cfg = yaml.safe_load((SAMPLE / "config.yaml").read_text(encoding="utf-8"))
    names = cfg["data"]["keypoint_names"]
    parts = [names[i] for i in cfg["data"]["columns_for_singleview_pca"]]
    return list(missing[parts].sort_values(ascending=False).index[:n])


def ensemble_median_test_px(dirs: list[Path], cfg: dict) -> float:
    """Mean test error of the per-keypoint median of the members' held-out predictions."""
    from napari_lightning_pose.data.labeled import build_datasets
    from napari_lightning_pose.inference.evaluate import evaluate

    device = cfg["training"]["accelerator"]
    preds = [evaluate(d / "run" / "best.ckpt", cfg, splits=("test",), device=device)
             for d in dirs]  # fmt: skip
    xy = np.stack([p.predictions.to_numpy(float).reshape(len(p.predictions), -1, 3)[..., :2]
                   for p in preds])  # fmt: skip
    med = np.median(xy, axis=0)
    test = build_datasets(cfg)["test"]
    true = test.frames.keypoints[test.indices]
    return float(np.nanmean(np.linalg.norm(med - true, axis=-1)))


def run_all(args: argparse.Namespace) -> None:
    """Every (variant, seed) of ``--variants`` x ``--seeds``, ``--jobs`` at once, each in its
    own process (this Python, this environment), then the table: the one prepared command."""
    import subprocess
    import sys

    flags = ["--steps", str(args.steps), "--resize", str(args.resize), "--strength",
             str(args.strength), "--clip", str(args.clip), "--anneal-reach",
             str(args.anneal_reach), "--unfreezing-epoch", str(args.unfreezing_epoch),
             "--val-every", str(args.val_every), "--heatmap-loss", args.heatmap_loss,
             "--backbone", args.backbone,
             "--data", args.data, "--out", args.out, "--device", args.device]  # fmt: skip
    if args.neighbour_gradients:
        flags.append("--neighbour-gradients")
    todo = [(v, s) for s in range(args.seeds) for v in args.variants]
    running: list[subprocess.Popen] = []
    for variant, seed in todo:
        if (Path(args.out) / f"{variant}-s{seed}" / "result.json").exists():
            continue  # done in an earlier call
        while sum(p.poll() is None for p in running) >= args.jobs:
            time.sleep(2)
        cmd = [sys.executable, __file__, "run", "--variant", variant, "--seed", str(seed)]
        running.append(subprocess.Popen(cmd + flags))
    for proc in running:
        proc.wait()
    table(args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("time", "run", "table", "all"))
    parser.add_argument("--variant", choices=VARIANTS, default="supervised")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=3, help="all: seeds 0..N-1")
    parser.add_argument("--jobs", type=int, default=2, help="all: runs at once")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--resize", type=int, default=128)
    parser.add_argument("--strength", type=float, default=1.0, help="unsupervised losses")
    parser.add_argument("--clip", type=int, default=8, help="frames per unlabeled clip")
    parser.add_argument("--anneal-reach", type=float, default=0.3, help="run share: anneal 1")
    parser.add_argument("--unfreezing-epoch", type=int, default=5)
    parser.add_argument("--val-every", type=int, default=5, help="epochs between validations")
    parser.add_argument("--heatmap-loss", default="kl", choices=("mse", "kl"))
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--neighbour-gradients", action="store_true")
    parser.add_argument("--time-steps", type=int, default=6)
    parser.add_argument("--data", default=str(SHARED))
    parser.add_argument("--out", default="runs-21")
    args = parser.parse_args()
    {"time": time_steps, "run": run, "table": table, "all": run_all}[args.command](args)


if __name__ == "__main__":
    main()
