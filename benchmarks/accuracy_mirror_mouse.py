"""Held-out accuracy on the mirror-mouse example after a fixed wall-clock training budget.

Trains a supervised pose model on Lightning Pose's mirror-mouse example (90 labeled frames,
17 keypoints; ``../shared/data/mirror-mouse-example``, or the bundled 20-frame sample with
``--data bundled``) for ``--minutes`` of wall-clock time, then reports the pixel error on
the held-out test frames (and the validation frames) in original image pixels.

The budget fixes the schedule: a few calibration steps measure the step time (of head-only
steps too when ``--unfreezing-epoch`` freezes the backbone at first), the run is given as
many steps as fit (``training.max_steps``), so the learning-rate milestones (at 50/70/90 %
of the steps) fall inside the budget, and ``train(max_minutes=...)`` stops it at the budget
in any case. Evaluation uses ``best.ckpt`` (lowest validation error).

Run from the repository root (the lead's reference runs)::

    python benchmarks/accuracy_mirror_mouse.py --minutes 20
    python benchmarks/accuracy_mirror_mouse.py --minutes 20 --backbone-weights none
    python benchmarks/accuracy_mirror_mouse.py --minutes 1 --out /tmp/acc   # smoke test

Everything a run needs is in ``--out``: config.yaml, the checkpoints, ``errors.csv`` (per
frame and keypoint) and ``result.md`` (the table printed at the end).
"""

from __future__ import annotations

import argparse
import copy
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch
import yaml

from napari_lightning_pose import SAMPLE_DIR as SAMPLE
from napari_lightning_pose.data.labeled import build_datasets
from napari_lightning_pose.inference.evaluate import evaluate, format_summary
from napari_lightning_pose.io.config import load_config, save_config
from napari_lightning_pose.training import train

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "mirror-mouse-example"


def project_config(data: Path, args: argparse.Namespace) -> dict:
    """The bundled sample's config (same keypoints), pointed at ``data``, with the CLI's
    backbone, weights and training settings."""
    raw = yaml.safe_load((SAMPLE / "config.yaml").read_text(encoding="utf-8"))
    raw["data"]["data_dir"] = str(data.resolve())
    raw["model"]["backbone"] = args.backbone
    weights = args.backbone_weights
    raw["model"]["backbone_weights"] = None if weights.lower() == "none" else weights
    raw["model"]["model_name"] = f"mirror-mouse-{args.backbone}-{weights}"
    if args.heatmap_loss is not None:
        raw["model"]["heatmap_loss_type"] = args.heatmap_loss
    if args.lr is not None:
        raw["training"]["optimizer_params"]["learning_rate"] = args.lr
    if raw["model"]["backbone_weights"] is None:  # from scratch: nothing to freeze
        raw["training"].update(unfreezing_epoch=0, freeze_batchnorm=False)
    for key in ("unfreezing_epoch", "freeze_batchnorm"):
        if getattr(args, key) is not None:
            raw["training"][key] = getattr(args, key)
    raw["training"].update(
        num_workers=args.workers,
        train_batch_size=args.batch,
        rng_seed_model_pt=args.seed,
        accelerator="cpu" if args.device == "cpu" else "auto",
    )
    if args.threads:
        raw["training"]["num_threads"] = args.threads
    return raw


def seconds_per_step(cfg: dict, device: str | None, steps: int = 6) -> float:
    """Median-free quick estimate: wall time of steps 3..N of a throw-away run."""
    cfg = copy.deepcopy(cfg)
    stamps = []
    with tempfile.TemporaryDirectory() as tmp:
        for event in train(cfg, Path(tmp), steps=steps, device=device):
            if event.kind == "step":
                stamps.append(time.perf_counter())
    return (stamps[-1] - stamps[1]) / (len(stamps) - 2)


def budget_steps(cfg: dict, device: str | None, minutes: float) -> int:
    """Steps that fit in ``minutes``: head-only steps first (``training.unfreezing_epoch``
    epochs, each timed apart as they skip the backbone's backward pass), then full steps."""
    tcfg = cfg["training"]
    full = copy.deepcopy(cfg)
    full["training"]["unfreezing_epoch"] = 0
    full_s = seconds_per_step(full, device)
    budget = minutes * 60
    head_steps = 0
    if tcfg["unfreezing_epoch"]:
        head_s = seconds_per_step(cfg, device)  # its few steps all fall in the frozen epochs
        n_train = len(build_datasets(cfg)["train"])
        per_epoch = tcfg["steps_per_epoch"] or n_train // min(tcfg["train_batch_size"], n_train)
        head_steps = min(tcfg["unfreezing_epoch"] * per_epoch, int(budget / head_s))
        budget -= head_steps * head_s
        print(f"calibration: {head_s:.2f} s/step with the backbone frozen")
    steps = max(10, head_steps + int(budget / full_s))
    print(f"calibration: {full_s:.2f} s/step -> {steps} steps in {minutes} min")
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="training budget")
    parser.add_argument("--data", default=str(SHARED), help="project folder, or 'bundled'")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument(
        "--backbone-weights", default="imagenet", help="imagenet, none, or a weights file"
    )
    parser.add_argument("--heatmap-loss", default=None, help="mse or kl (config default)")
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--unfreezing-epoch", type=int, default=None, help="head-only epochs (config default)"
    )
    parser.add_argument(
        "--freeze-batchnorm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="BatchNorm in eval mode (config default)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: auto)")
    parser.add_argument("--out", default="outputs/accuracy-mirror-mouse")
    args = parser.parse_args()

    data = SAMPLE if args.data == "bundled" else Path(args.data)
    if not (data / "CollectedData.csv").is_file():
        raise SystemExit(f"{data}: no CollectedData.csv (use --data bundled for the sample)")
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    raw = project_config(data, args)
    save_config(raw, out / "config.yaml")
    cfg = load_config(out / "config.yaml")

    steps = budget_steps(cfg, args.device, args.minutes)
    start = time.perf_counter()
    last = None
    for event in train(
        cfg, out / "run", steps=steps, device=args.device, max_minutes=args.minutes
    ):
        if event.kind == "validation":
            print(f"step {event.step:6d}  val {event.val_pixel_error:7.2f} px", flush=True)
        last = event
    minutes = (time.perf_counter() - start) / 60

    result = evaluate(
        out / "run" / "best.ckpt", cfg, out_csv=out / "errors.csv", device=args.device
    )
    device = (
        torch.cuda.get_device_name()
        if torch.cuda.is_available() and args.device != "cpu"
        else f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"
    )
    header = (
        f"mirror-mouse ({data}), {args.backbone} weights={args.backbone_weights}, "
        f"{cfg['model']['heatmap_loss_type']} loss, "
        f"lr {cfg['training']['optimizer_params']['learning_rate']}, "
        f"unfreezing_epoch {cfg['training']['unfreezing_epoch']}, "
        f"freeze_batchnorm {cfg['training']['freeze_batchnorm']}, "
        f"{minutes:.1f} min on {device}, {last.step} steps of batch {args.batch}, "
        f"seed {args.seed}"
    )
    table = (
        "| backbone | weights | minutes | steps | test mean px | test median px | "
        "test p95 px | val mean px |\n|---|---|---|---|---|---|---|---|\n"
        f"| {args.backbone} | {args.backbone_weights} | {minutes:.1f} | {last.step} | "
        f"{result.overall('test'):.2f} | "
        f"{result.summary.loc[('test', 'all'), 'median']:.2f} | "
        f"{result.summary.loc[('test', 'all'), 'p95']:.2f} | {result.overall('val'):.2f} |"
    )
    text = f"{header}\n\n{table}\n\nPer keypoint:\n\n{format_summary(result.summary)}\n"
    (out / "result.md").write_text(text, encoding="utf-8")
    print("\n" + text)


if __name__ == "__main__":
    main()
