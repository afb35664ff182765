"""Ablation on the mirror-mouse example: supervised vs semi-supervised vs context vs both.

Four variants of one config (Lightning Pose's mirror-mouse settings, ``efficientnet_lite0``
with ImageNet weights, 256 x 256, batch 8, same seed), each trained for the SAME PROCESS CPU
TIME (``time.process_time()``, all threads of the process; DataLoader workers are off so
video decoding is counted too), so a busy shared machine does not favour one variant:

- ``supervised``: heatmap loss only;
- ``semi``: + ``temporal``, ``pca_singleview``, ``pca_multiview`` on unlabeled clips of
  ``videos/test_vid.mp4`` (16 frames per step);
- ``context``: ``heatmap_mhcrnn`` (frames t-2..t+2), supervised;
- ``semi_context``: both.

A few calibration steps (not counted) measure each variant's CPU seconds per step, with the
backbone frozen (the first ``training.unfreezing_epoch`` epochs) and not, so its
``max_steps`` (and with it the learning-rate milestones and the anneal schedule, which
reaches 1 at half the run) fit the budget; a stop signal ends the run at the budget in any
case. Then ``best.ckpt`` is evaluated on the held-out labeled frames (test and validation,
original pixels) and predicts the whole video (994 frames), on which the script reports the
median temporal norm, the median singleview / multiview PCA errors (PCA fits of the training
poses, the same for every variant) and the fraction of frames where some keypoint jumps by
more than 20 px. Every variant runs in its own process; ``--parallel`` runs them at once.

Run from the repository root::

    python benchmarks/ablation_mirror_mouse.py --cpu-minutes 8 --parallel
    python benchmarks/ablation_mirror_mouse.py --cpu-minutes 1 --variants supervised semi

Writes ``--out``/<variant>/ (config, checkpoints, predictions, metrics, result.json) and
``--out``/result.md (the table).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "src" / "napari_lightning_pose" / "resources" / "mirror-mouse"
SHARED = REPO.parent / "shared" / "data" / "mirror-mouse-example"
VARIANTS = ("supervised", "semi", "context", "semi_context")
UNSUPERVISED = ["temporal", "pca_singleview", "pca_multiview"]


def variant_config(variant: str, args: argparse.Namespace) -> dict:
    """The mirror-mouse config of one variant (unvalidated dict)."""
    raw = yaml.safe_load((SAMPLE / "config.yaml").read_text(encoding="utf-8"))
    raw["data"]["data_dir"] = str(Path(args.data).resolve())
    raw["training"].update(
        num_workers=0, num_threads=args.threads, rng_seed_model_pt=args.seed,
        accelerator="cpu", train_batch_size=8,
    )  # fmt: skip
    raw["model"]["model_name"] = f"ablation-{variant}"
    if variant in ("context", "semi_context"):
        raw["model"]["model_type"] = "heatmap_mhcrnn"
    if variant in ("semi", "semi_context"):
        raw["model"]["losses_to_use"] = list(UNSUPERVISED)
        if args.log_weight is not None:
            for name in UNSUPERVISED:
                raw["losses"][name]["log_weight"] = args.log_weight
    return raw


def cpu_seconds_per_step(cfg: dict, frozen: bool, steps: int = 4) -> float:
    """CPU seconds per step (steps 2..N) of a throw-away run, backbone frozen or not."""
    from napari_lightning_pose.training import train

    cfg = copy.deepcopy(cfg)
    cfg["training"]["unfreezing_epoch"] = 1 if frozen else 0
    cfg["training"]["steps_per_epoch"] = steps + 1  # all steps in epoch 0
    stamps = []
    with tempfile.TemporaryDirectory() as tmp:
        for event in train(cfg, Path(tmp), steps=steps):
            if event.kind == "step":
                stamps.append(time.process_time())
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def planned_steps(cfg: dict, budget_s: float, steps_per_epoch: int) -> tuple[int, float]:
    """Steps that fit ``budget_s`` CPU seconds: the cheap head-only steps of the first
    ``training.unfreezing_epoch`` epochs, then full steps; and the full step's cost."""
    full = cpu_seconds_per_step(cfg, frozen=False)
    head = cpu_seconds_per_step(cfg, frozen=True)
    head_steps = min(int(cfg["training"]["unfreezing_epoch"]) * steps_per_epoch,
                     int(budget_s / head))  # fmt: skip
    rest = max(0.0, budget_s - head_steps * head)
    return max(10, head_steps + int(rest / full)), full


def run_one(variant: str, args: argparse.Namespace) -> dict:
    """Train, evaluate and predict one variant within the CPU budget; its result dict."""
    import torch

    from napari_lightning_pose.evaluate import evaluate
    from napari_lightning_pose.io.config import load_config, save_config
    from napari_lightning_pose.predict import InferenceOptions, predict_video
    from napari_lightning_pose.training import train
    from napari_lightning_pose.video_metrics import metric_paths, read_video_metric

    out = Path(args.out) / variant
    out.mkdir(parents=True, exist_ok=True)
    save_config(variant_config(variant, args), out / "config.yaml")
    cfg = load_config(out / "config.yaml")
    torch.set_num_threads(args.threads)
    budget = args.cpu_minutes * 60
    per_epoch = 72 // 8  # 0.8 of the 90 labeled frames, batch 8
    steps, per_step = planned_steps(cfg, budget, per_epoch)
    epochs = max(1, steps // per_epoch)
    cfg["callbacks"] = {
        "anneal_weight": {"init_val": 0.0, "increase_factor": 2.0 / epochs, "final_val": 1.0,
                          "freeze_until_epoch": 0}
    }  # fmt: skip
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    last = None
    stop = lambda: time.process_time() - start_cpu > budget  # noqa: E731
    for event in train(cfg, out / "run", steps=steps, stop=stop):
        if event.kind == "validation":
            print(f"[{variant}] step {event.step} val {event.val_pixel_error:.2f} px", flush=True)
        last = event
    cpu_min = (time.process_time() - start_cpu) / 60
    wall_min = (time.perf_counter() - start_wall) / 60
    ckpt = out / "run" / "best.ckpt"
    ckpt = ckpt if ckpt.exists() else out / "run" / "last.ckpt"  # stopped before an epoch
    result = evaluate(ckpt, cfg, device="cpu")
    pred = out / "test_vid.csv"
    opts = InferenceOptions(batch_size=16, device="cpu", amp=False)
    video = Path(cfg["data"]["video_dir"]) / "test_vid.mp4"
    list(predict_video(ckpt, video, pred, options=opts))
    metrics = {k: read_video_metric(p) for k, p in metric_paths(pred).items() if p.exists()}
    temporal = metrics["temporal_norm"].to_numpy()
    row = {
        "variant": variant,
        "steps": last.step,
        "checkpoint": ckpt.name,
        "planned_steps": steps,
        "cpu_s_per_step": per_step,
        "cpu_min": cpu_min,
        "wall_min": wall_min,
        "test_px": result.overall("test"),
        "val_px": result.overall("val"),
        "median_temporal_norm": float(np.nanmedian(temporal)),
        "frac_jump_gt_20px": float(np.mean(np.nanmax(temporal[1:], axis=1) > 20)),
    }
    for name in ("pca_singleview", "pca_multiview"):
        if name in metrics:
            row[f"median_{name}_px"] = float(np.nanmedian(metrics[name].to_numpy()))
    (out / "result.json").write_text(json.dumps(row, indent=1), encoding="utf-8")
    print(json.dumps(row), flush=True)
    return row


def table(rows: list[dict], args: argparse.Namespace) -> str:
    """The markdown table of the variants' results."""
    head = (
        "| variant | steps | CPU s/step | test px | val px | median temporal norm px | "
        "median PCA single px | median PCA multi px | frames with jump > 20 px |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['steps']} | {r['cpu_s_per_step']:.2f} | {r['test_px']:.2f} "
            f"| {r['val_px']:.2f} | {r['median_temporal_norm']:.2f} | "
            f"{r.get('median_pca_singleview_px', float('nan')):.2f} | "
            f"{r.get('median_pca_multiview_px', float('nan')):.2f} | "
            f"{100 * r['frac_jump_gt_20px']:.1f} % |"
        )
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if "model name" in ln),
        platform.processor(),
    )
    note = (
        f"\n\n{args.cpu_minutes} CPU-minutes of training per variant ({args.threads} "
        f"thread(s), process CPU time), seed {args.seed}, on {cpu} ({platform.machine()}), "
        "shared with other jobs."
    )
    return "\n".join(lines) + note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-minutes", type=float, default=8.0, help="training CPU budget")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--data", default=str(SHARED))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-weight", type=float, default=None, help="all unsup. losses")
    parser.add_argument("--parallel", action="store_true", help="run the variants at once")
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--out", default="outputs/ablation-mirror-mouse")
    args = parser.parse_args()
    if args.one:
        run_one(args.one, args)
        return
    base = [sys.executable, __file__, "--cpu-minutes", str(args.cpu_minutes), "--data",
            args.data, "--threads", str(args.threads), "--seed", str(args.seed), "--out",
            args.out]  # fmt: skip
    if args.log_weight is not None:
        base += ["--log-weight", str(args.log_weight)]
    procs = []
    for variant in args.variants:
        proc = subprocess.Popen([*base, "--one", variant])
        if not args.parallel:
            proc.wait()
        procs.append(proc)
    for proc in procs:
        proc.wait()
    rows = []
    for variant in args.variants:
        path = Path(args.out) / variant / "result.json"
        if path.exists():
            rows.append(json.loads(path.read_text(encoding="utf-8")))
    text = table(rows, args)
    (Path(args.out) / "result.md").write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
