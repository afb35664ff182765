"""Ablation on the mirror-mouse example: supervised vs semi-supervised vs context vs both.

Four variants of one config (Lightning Pose's mirror-mouse settings, ``efficientnet_lite0``
with ImageNet weights, batch 8, same seed; unlabeled clips as in Lightning Pose's mirror-mouse
config: ``dali.base.train.sequence_length`` 16, ``dali.context.train.batch_size`` 6, i.e.
6 + 4 decoded frames per context clip):

- ``supervised``: heatmap loss only;
- ``semi``: + ``temporal``, ``pca_singleview``, ``pca_multiview`` on unlabeled clips of
  ``videos/test_vid.mp4``;
- ``context``: ``heatmap_mhcrnn`` (frames t-2..t+2), supervised;
- ``semi_context``: both.

Two ways to make the comparison fair (pick one):

- ``--steps N``: EQUAL STEPS (the paper's comparison is at equal epochs); every variant
  trains N optimiser steps, whatever it costs. The CPU seconds per step are measured.
- ``--cpu-minutes M``: the SAME PROCESS CPU TIME (``time.process_time()``, all threads of
  the process; DataLoader workers are off so video decoding is counted too), so a busy
  shared machine does not favour one variant. A few calibration steps (not counted)
  measure each variant's CPU seconds per step, with the backbone frozen (the first
  ``training.unfreezing_epoch`` epochs) and not, so its ``max_steps`` (and with it the
  learning-rate milestones and the anneal schedule) fit the budget; a stop signal ends the
  run at the budget in any case.

The anneal factor of the unsupervised losses rises linearly from 0 and reaches 1 at half
the run (``--anneal-reach``), as Lightning Pose's 0.01 per epoch reaches 1 at epoch 100 of
its 300. ``--resize`` sets ``data.image_resize_dims`` (square; 128 costs about a quarter of
256 per step). Then ``best.ckpt`` is evaluated on the held-out labeled frames (test and
validation, original pixels; for context models also each head on its own) and predicts
the whole video (994 frames), on which the script reports the median temporal norm, the
median singleview / multiview PCA errors (PCA fits of the training poses, the same for
every variant) and the fraction of frames where some keypoint jumps by more than 20 px.
Every variant runs in its own process (started with this Python and this environment, so
set ``PYTHONPATH`` for a source checkout); ``--jobs`` runs that many at once.

Run from the repository root::

    python benchmarks/ablation_mirror_mouse.py --steps 450 --resize 128 --jobs 2
    python benchmarks/ablation_mirror_mouse.py --cpu-minutes 8 --jobs 4
    python benchmarks/ablation_mirror_mouse.py --steps 20 --variants supervised semi
    python benchmarks/ablation_mirror_mouse.py --balance runs/x/supervised/run/best.ckpt

``--balance CKPT`` trains nothing: it prints the gradient norm of each weighted loss term
(head and backbone, anneal 1) on a trained checkpoint, with the bundled config's
``heatmap_kl`` and with Lightning Pose's ``heatmap_mse``, i.e. what ``log_weight`` means in
practice.

Writes ``--out``/<variant>/ (config, checkpoints with ``metrics.csv`` learning curves,
predictions, video metrics, result.json) and ``--out``/result.md (the table).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from napari_lightning_pose import SAMPLE_DIR as SAMPLE

REPO = Path(__file__).resolve().parents[1]
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
    if args.resize:
        raw["data"]["image_resize_dims"] = {"height": args.resize, "width": args.resize}
    raw["dali"] = {"base": {"train": {"sequence_length": 16}},
                   "context": {"train": {"batch_size": 6}}}  # fmt: skip
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


def head_test_errors(ckpt: Path, cfg: dict) -> dict[str, float]:
    """Mean test-split pixel error of each head of a model on its own (by output prefix)."""
    import torch
    from torch.utils.data import DataLoader

    from napari_lightning_pose.data.labeled import build_datasets
    from napari_lightning_pose.data.transforms import keypoints_to_original
    from napari_lightning_pose.models.pose_model import head_prefixes
    from napari_lightning_pose.training.checkpoints import load_checkpoint

    model, _, _ = load_checkpoint(ckpt)
    errors: dict[str, list[np.ndarray]] = {p: [] for p in head_prefixes(model)}
    with torch.inference_mode():
        for batch in DataLoader(build_datasets(cfg)["test"], batch_size=16):
            out = model(batch["images"])
            scale = batch["scale"][:, None, :].double()
            true = keypoints_to_original(batch["keypoints"].double(), scale)
            for prefix in errors:
                pred = keypoints_to_original(out[prefix + "keypoints"].double(), scale)
                errors[prefix].append(torch.linalg.vector_norm(pred - true, dim=-1).numpy())
    means = {p: float(np.nanmean(np.concatenate(e))) for p, e in errors.items()}
    return {p.rstrip("_") or "single": v for p, v in means.items()}


def run_one(variant: str, args: argparse.Namespace) -> dict:
    """Train, evaluate and predict one variant (``--steps`` or the CPU budget); its result."""
    import torch

    from napari_lightning_pose.inference.evaluate import evaluate
    from napari_lightning_pose.inference.predict import predict_video
    from napari_lightning_pose.inference.predict_options import InferenceOptions
    from napari_lightning_pose.inference.video_metrics import metric_paths, read_video_metric
    from napari_lightning_pose.io.config import load_config, save_config
    from napari_lightning_pose.training import train

    out = Path(args.out) / variant
    out.mkdir(parents=True, exist_ok=True)
    save_config(variant_config(variant, args), out / "config.yaml")
    cfg = load_config(out / "config.yaml")
    torch.set_num_threads(args.threads)
    per_epoch = 72 // 8  # 0.8 of the 90 labeled frames, batch 8
    if args.steps:
        budget, steps, per_step = float("inf"), args.steps, float("nan")
    else:
        budget = args.cpu_minutes * 60
        steps, per_step = planned_steps(cfg, budget, per_epoch)
    epochs = max(1, steps // per_epoch)
    cfg["callbacks"] = {
        "anneal_weight": {"init_val": 0.0, "increase_factor": 1.0 / (args.anneal_reach * epochs),
                          "final_val": 1.0, "freeze_until_epoch": 0}
    }  # fmt: skip
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    last = None
    stop = lambda: time.process_time() - start_cpu > budget  # noqa: E731
    for event in train(cfg, out / "run", steps=steps, stop=stop):
        if event.kind == "validation":
            print(f"[{variant}] step {event.step} val {event.val_pixel_error:.2f} px", flush=True)
        last = event
    cpu_min = (time.process_time() - start_cpu) / 60
    if args.steps:
        per_step = 60 * cpu_min / max(1, last.step)  # measured, validation included
    wall_min = (time.perf_counter() - start_wall) / 60
    ckpt = out / "run" / "best.ckpt"
    ckpt = ckpt if ckpt.exists() else out / "run" / "last.ckpt"  # stopped before an epoch
    result = evaluate(ckpt, cfg, device="cpu")
    heads = head_test_errors(ckpt, cfg) if "context" in variant else {}
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
        "test_px_by_head": heads,
        "resize": args.resize or 256,
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
        "median PCA single px | median PCA multi px | frames with jump > 20 px | "
        "test px single / context head |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        by_head = r.get("test_px_by_head") or {}
        heads = " / ".join(f"{v:.2f}" for v in by_head.values()) if by_head else "-"
        lines.append(
            f"| {r['variant']} | {r['steps']} | {r['cpu_s_per_step']:.2f} | {r['test_px']:.2f} "
            f"| {r['val_px']:.2f} | {r['median_temporal_norm']:.2f} | "
            f"{r.get('median_pca_singleview_px', float('nan')):.2f} | "
            f"{r.get('median_pca_multiview_px', float('nan')):.2f} | "
            f"{100 * r['frac_jump_gt_20px']:.1f} % | {heads} |"
        )
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if "model name" in ln),
        platform.processor(),
    )
    flags = sorted(
        {f for ln in open("/proc/cpuinfo") if ln.startswith("flags") for f in ln.split()}
        & {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx2"}
    )
    budget = (
        f"{args.steps} steps per variant" if args.steps
        else f"{args.cpu_minutes} CPU-minutes of training per variant"
    )  # fmt: skip
    note = (
        f"\n\n{budget} ({args.threads} thread(s); CPU s/step is process CPU time), "
        f"{args.resize or 256} x {args.resize or 256} input, seed {args.seed}, on {cpu} "
        f"({platform.machine()}, {' '.join(flags)}), load average {os.getloadavg()[0]:.1f} "
        "at the end, shared with other jobs."
    )
    return "\n".join(lines) + note


def loss_balance(ckpt: Path, args: argparse.Namespace, batches: int = 2) -> str:
    """Gradient norms of each weighted loss term (anneal 1) on a trained checkpoint.

    The semi-supervised config with the checkpoint's weights, once with the bundled config's
    ``heatmap_kl`` and once with Lightning Pose's ``heatmap_mse``: the unsupervised terms'
    share of the gradient is what their ``log_weight`` means in practice.
    """
    import torch
    from torch.utils.data import DataLoader

    from napari_lightning_pose import distributed
    from napari_lightning_pose.data.labeled import build_datasets
    from napari_lightning_pose.io.config import validate_config
    from napari_lightning_pose.losses.factory import build_losses
    from napari_lightning_pose.models.pose_model import head_prefixes
    from napari_lightning_pose.training import step
    from napari_lightning_pose.training.checkpoints import load_checkpoint
    from napari_lightning_pose.training.sampling import SeededDataset
    from napari_lightning_pose.training.schedules import backbone_parameters, freeze_batchnorm
    from napari_lightning_pose.training.semi import build_semi

    torch.set_num_threads(args.threads)
    model, trained_cfg, _ = load_checkpoint(ckpt)
    model.train()
    freeze_batchnorm(model)
    groups = {"head": [p for n, p in model.named_parameters() if not n.startswith("backbone.")],
              "backbone": backbone_parameters(model)}  # fmt: skip
    lines = [
        "| term | batch | value | grad norm head | grad norm backbone |",
        "|---|---|---|---|---|",
    ]
    info = distributed.init_distributed("cpu", "cpu")
    for kind in ("kl", "mse"):
        raw = variant_config("semi", args)
        raw["model"]["heatmap_loss_type"] = kind
        raw["data"]["image_resize_dims"] = trained_cfg["data"]["image_resize_dims"]
        raw["data"]["video_dir"] = str(Path(args.data).resolve() / raw["data"]["video_dir"])
        cfg = validate_config(raw)
        train_set = build_datasets(cfg)["train"]
        semi = build_semi(cfg, train_set, info, args.seed, context=False)
        keys = [[(j, j) for j in range(b * 8, b * 8 + 8)] for b in range(batches)]
        loader = DataLoader(SeededDataset(train_set), batch_sampler=keys)
        for b, (batch, clip) in enumerate(zip(loader, semi.clips(0, batches), strict=False)):
            out = step.forward(model, batch, clip["images"], None, torch.device("cpu"))
            terms = step.loss_terms(out, batch, build_losses(cfg), list(semi.losses), 1.0,
                                    head_prefixes(model), clip)  # fmt: skip
            for name, value in terms.items():
                if kind == "mse" and name != "heatmap_mse":
                    continue  # the unsupervised terms do not depend on the heatmap loss
                model.zero_grad(set_to_none=True)
                value.backward(retain_graph=True)
                norms = [
                    float(sum((p.grad**2).sum() for p in ps if p.grad is not None) ** 0.5)
                    for ps in groups.values()
                ]
                lines.append(f"| {name} | {b} | {float(value.detach()):.4g} | {norms[0]:.3g} | "
                             f"{norms[1]:.3g} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-minutes", type=float, default=None, help="training CPU budget")
    parser.add_argument("--steps", type=int, default=None, help="equal steps instead")
    parser.add_argument("--resize", type=int, default=None, help="square input size (256)")
    parser.add_argument("--anneal-reach", type=float, default=0.5, help="run fraction: anneal 1")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--data", default=str(SHARED))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-weight", type=float, default=None, help="all unsup. losses")
    parser.add_argument("--parallel", action="store_true", help="run the variants at once")
    parser.add_argument("--jobs", type=int, default=1, help="variants run at once")
    parser.add_argument("--balance", metavar="CKPT", help="only print the loss balance")
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--out", default="outputs/ablation-mirror-mouse")
    args = parser.parse_args()
    if args.balance:
        print(loss_balance(Path(args.balance), args))
        return
    if (args.steps is None) == (args.cpu_minutes is None):
        parser.error("give exactly one of --steps and --cpu-minutes")
    if args.one:
        run_one(args.one, args)
        return
    base = [sys.executable, __file__, "--data", args.data, "--threads", str(args.threads),
            "--seed", str(args.seed), "--out", args.out, "--anneal-reach",
            str(args.anneal_reach)]  # fmt: skip
    for flag, value in (("--steps", args.steps), ("--cpu-minutes", args.cpu_minutes),
                        ("--resize", args.resize), ("--log-weight", args.log_weight)):  # fmt: skip
        if value is not None:
            base += [flag, str(value)]
    jobs = len(args.variants) if args.parallel else max(1, args.jobs)
    running: list[subprocess.Popen] = []
    for variant in args.variants:  # the child inherits this environment (PYTHONPATH)
        while len([p for p in running if p.poll() is None]) >= jobs:
            time.sleep(2)
        running.append(subprocess.Popen([*base, "--one", variant]))
    for proc in running:
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
