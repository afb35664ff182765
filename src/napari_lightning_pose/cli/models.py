"""Command line for the model side: ``train``, ``predict`` and ``evaluate``.

Each ``add_<cmd>(sub)`` registers one subcommand (``cli.build_parser`` calls ``add_all``).
Heavy imports (torch, pandas, the EKS) happen inside the ``run_<cmd>`` functions so
``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from napari_lightning_pose.cli import interop as cli_interop


# -------------------------------------------------------------------------- train (issue 4)
def add_train(sub: argparse._SubParsersAction) -> None:
    """Register ``train``: train a pose model from a project config."""
    p = sub.add_parser(
        "train",
        help="train a pose model from a project config",
        description="Train a pose model on the project's labeled frames. Under "
        "`torchrun --nproc_per_node=N -m napari_lightning_pose.cli train ...` it trains with "
        "DDP on N processes (training.train_batch_size is the global batch).",
    )
    p.add_argument("--config", required=True, help="project config.yaml (or project folder)")
    p.add_argument("--steps", type=int, help="total optimiser steps (training.max_steps)")
    p.add_argument("--seed", type=int, help="model seed (training.rng_seed_model_pt)")
    p.add_argument("--out", help="output folder (default: <project>/models/<model.model_name>)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.ckpt")
    p.add_argument(
        "--init-from",
        metavar="CKPT_OR_RUN_DIR",
        help="warm start: begin from this model's weights (head and backbone) with a fresh "
        "optimiser and schedule, on the current labels; the keypoints must match",
    )
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: training.accelerator)")
    p.add_argument("--minutes", type=float, help="wall-clock budget; stops after it")
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    """Run ``train`` (under torchrun: one DDP process)."""
    from napari_lightning_pose.distributed import env_ranks
    from napari_lightning_pose.interop.lightning_pose import training_plan
    from napari_lightning_pose.io.config import load_config
    from napari_lightning_pose.progress import run_with_tqdm
    from napari_lightning_pose.training import train

    cfg = load_config(args.config)
    out = args.out or str(Path(cfg["data"]["data_dir"]) / "models" / cfg["model"]["model_name"])
    rank = env_ranks()[0]
    plan = training_plan(cfg, steps_given=args.steps is not None)  # Lightning Pose's keys
    if rank == 0:
        for note in plan.notes:
            print(f"note: {note}", file=sys.stderr)
    n_notes = len(plan.notes)
    events = train(
        plan.cfg,
        out,
        steps=args.steps,
        seed=args.seed,
        resume=args.resume,
        device=args.device or plan.device,
        max_minutes=args.minutes,
        stop=plan.stop,
        init_from=args.init_from,
    )
    notable = run_with_tqdm(plan.watch(events), "train", disable=rank != 0)
    if rank == 0:
        for note in plan.notes[n_notes:]:
            print(f"note: {note}", file=sys.stderr)
        for event in notable:
            if event.kind == "start" or event.message:
                print(event.message, file=sys.stderr)
        last = notable[-1]
        error = f"{last.val_pixel_error:.2f} px" if last.val_pixel_error is not None else "n/a"
        print(f"{last.kind} at step {last.step}: validation error {error}")
        print(f"checkpoint: {last.checkpoint}")
    return 0


# ------------------------------------------------------------------------ predict (issue 4)
def add_predict(sub: argparse._SubParsersAction) -> None:
    """Register ``predict``: a prediction CSV per video."""
    p = sub.add_parser(
        "predict",
        help="predict keypoints on videos with a checkpoint",
        description="Write a Lightning Pose prediction CSV per video. Under torchrun the "
        "videos are shared among the processes.",
    )
    p.add_argument("--checkpoint", required=True, help="a .ckpt file or training folder")
    p.add_argument("--video", required=True, nargs="+", help="video file(s)")
    p.add_argument(
        "--out", required=True, help="CSV file (one video) or folder (<video name>.csv each)"
    )
    p.add_argument("--batch-size", type=int, default=16, help="frames per forward pass")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA if available)")
    cli_interop.add_predict_options(p)  # --start/--end, --allow-partial
    p.set_defaults(func=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    """Run ``predict``."""
    from napari_lightning_pose.distributed import env_ranks
    from napari_lightning_pose.errors import VideoError
    from napari_lightning_pose.inference.predict import predict_video, predict_videos
    from napari_lightning_pose.progress import run_with_tqdm

    out = Path(args.out)
    world_size = env_ranks()[1]
    if out.suffix.lower() == ".csv":
        if len(args.video) > 1 or world_size > 1:
            raise VideoError(
                out, "is a CSV file, but several videos or processes need a folder.", ""
            )
        events = predict_video(
            args.checkpoint, args.video[0], out, options=cli_interop.predict_options(args)
        )
    else:
        events = predict_videos(
            args.checkpoint, args.video, out, options=cli_interop.predict_options(args)
        )
    for event in run_with_tqdm(events, "predict", unit="frame"):
        if event.kind == "done":
            print(f"{event.video} -> {event.out_csv} ({event.n_frames} frames)")
        if event.message and event.kind == "start":
            print(f"warning: {event.message}", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------- evaluate (issue 4)
def add_evaluate(sub: argparse._SubParsersAction) -> None:
    """Register ``evaluate``: held-out pixel error (and video metrics)."""
    p = sub.add_parser(
        "evaluate", help="pixel error on held-out labeled frames (and metrics on video)"
    )
    p.add_argument("--checkpoint", required=True, help="a .ckpt file or training folder")
    p.add_argument(
        "--config", help="project config (where the labels are; default: the checkpoint's)"
    )
    p.add_argument("--out", help="CSV for per-frame, per-keypoint errors")
    p.add_argument("--device", help="cpu, cuda ... (default: CUDA if available)")
    p.add_argument(
        "--video",
        nargs="+",
        help="also evaluate on unlabeled video(s): predict them (or reuse predictions newer "
        "than the checkpoint and the video), write the video metrics beside the predictions "
        "and print their per-keypoint summary",
    )
    p.add_argument(
        "--video-out",
        help="folder for the videos' predictions and metrics (default: video_preds/ beside "
        "the checkpoint)",
    )
    p.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    """Run ``evaluate``."""
    from tqdm.auto import tqdm

    from napari_lightning_pose.inference.evaluate import evaluate, format_summary
    from napari_lightning_pose.io.config import load_config
    from napari_lightning_pose.progress import cleared_on_error

    cfg = load_config(args.config) if args.config else None
    with tqdm(desc="evaluate", unit="batch") as bar, cleared_on_error(bar):

        def on_batch(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        result = evaluate(
            args.checkpoint, cfg, out_csv=args.out, device=args.device, on_batch=on_batch
        )
    print(format_summary(result.summary))
    if args.out:
        print(f"per-frame errors: {args.out}")
    for video in args.video or []:
        _evaluate_video(args, video, cfg)
    return 0


def _evaluate_video(args: argparse.Namespace, video: str, cfg: dict | None) -> None:
    """Predict ``video`` (or reuse its predictions), write and summarise its video metrics."""
    from napari_lightning_pose.inference.evaluate import (
        evaluate_video_predictions,
        predictions_are_current,
        video_predictions_path,
    )
    from napari_lightning_pose.inference.predict import predict_video
    from napari_lightning_pose.inference.predict_options import InferenceOptions
    from napari_lightning_pose.inference.video_metrics import format_video_summary
    from napari_lightning_pose.progress import run_with_tqdm

    pred = video_predictions_path(args.checkpoint, video, args.video_out)
    if predictions_are_current(pred, args.checkpoint, video):
        print(f"\n{video}: reusing predictions {pred}")
    else:
        options = InferenceOptions(device=args.device, metrics=False)
        job = predict_video(args.checkpoint, video, pred, options=options, one_view=True)
        run_with_tqdm(job, "predict")
        print(f"\n{video}: predictions {pred}")
    paths, summary = evaluate_video_predictions(pred, args.checkpoint, cfg)
    print(format_video_summary(summary))
    print("video metrics: " + ", ".join(str(p) for p in paths.values()))


def add_all(sub: argparse._SubParsersAction) -> None:
    """Register every subcommand of this module."""
    for add in (add_train, add_predict, add_evaluate):
        add(sub)
