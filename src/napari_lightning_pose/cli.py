"""Command line: the same pipeline as the napari widgets, headless.

``napari-lightning-pose <command> --help`` describes each command. Long jobs are the core's
progress-event generators driven with a tqdm bar. Heavy imports (torch, napari) happen
inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from napari_lightning_pose import cli_interop, cli_qc
from napari_lightning_pose.data.context import CONTEXT_RADIUS
from napari_lightning_pose.errors import LightningPoseInputError


# --------------------------------------------------------------------------- demo (issue 3)
def _add_demo(sub: argparse._SubParsersAction) -> None:
    from napari_lightning_pose.demo import (
        DEMO_CLIP_FRAMES,
        DEMO_MEMBERS,
        DEMO_RESIZE,
        DEMO_STEPS,
    )

    p = sub.add_parser(
        "demo",
        help="end-to-end demo on the bundled sample data",
        description="Copy the mirror-mouse sample into a project, pick frames to label, train "
        "a semi-supervised ensemble, predict the video, smooth it with EKS and list the least "
        "certain frames.",
    )
    p.add_argument("--out", default="demo-output", help="folder for the demo's results")
    p.add_argument(
        "--members",
        type=int,
        default=DEMO_MEMBERS,
        help="ensemble size, >= 2 (default %(default)s)",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=DEMO_STEPS,
        help="training steps per member (default %(default)s)",
    )
    p.add_argument(
        "--resize",
        type=int,
        default=DEMO_RESIZE,
        help="network input size in px (default %(default)s)",
    )
    p.add_argument(
        "--clip-frames",
        type=int,
        default=DEMO_CLIP_FRAMES,
        help="frames per unlabeled clip of a semi-supervised step (default %(default)s)",
    )
    p.add_argument(
        "--supervised",
        action="store_true",
        help="train on the labeled frames only (default: semi-supervised, also unlabeled clips)",
    )
    p.add_argument("--no-qc", action="store_true", help="skip traces.png and qc.png")
    p.add_argument("--open", action="store_true", help="open the result in napari")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from napari_lightning_pose.demo import run_demo

    result = run_demo(
        args.out,
        members=args.members,
        steps=args.steps,
        resize=args.resize,
        semi=not args.supervised,
        clip_frames=args.clip_frames,
        device=args.device,
        qc=not args.no_qc,
    )
    print(f"\ndone: smoothed trajectories with posterior variance in {result.smoothed_csv}")
    if result.qc_png is not None:
        print(f"QC pictures: {result.traces_png}, {result.qc_png}")
    print(f"label more frames in napari: napari {result.project / 'CollectedData.csv'}")
    total = sum(result.seconds.values())
    print(
        "time: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in result.seconds.items())
        + f" (total {total:.0f} s)"
    )
    if args.open:
        from napari_lightning_pose.demo_qc import open_in_napari

        open_in_napari(result)
    return 0


# --------------------------------------------------------------------------- init (issue 3)
def _add_init(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "init",
        help="create a project folder with a config (or import DeepLabCut / SLEAP)",
        description="Create PROJECT/config.yaml, PROJECT/labeled-data/ and PROJECT/videos/. "
        "PROJECT may already hold Lightning Pose data (CollectedData.csv, labeled-data/).",
    )
    p.add_argument("project", help="project folder to create")
    p.add_argument(
        "--keypoints",
        nargs="+",
        default=[],
        metavar="NAME",
        help="keypoint names in labeling order (default: from --from-config or the CSV)",
    )
    p.add_argument(
        "--skeleton",
        nargs="+",
        default=[],
        metavar="A-B",
        help="edges to draw, e.g. nose-ear_l ear_l-ear_r; names with a '-' work as they "
        "are when --keypoints lists them (ear-l-ear-r), else write A:B",
    )
    p.add_argument(
        "--video", nargs="+", default=[], metavar="VIDEO", help="videos to put in videos/"
    )
    p.add_argument(
        "--link-videos", action="store_true", help="link to the videos instead of copying them"
    )
    p.add_argument(
        "--from-config",
        metavar="LP_CONFIG",
        help="start from a Lightning Pose config (its keys this plugin knows are kept)",
    )
    cli_interop.add_init_import_options(p)  # --from-dlc, --from-sleap
    p.set_defaults(func=_run_init)


def _parse_edges(texts: Sequence[str], keypoints: Sequence[str]) -> list[tuple[str, str]]:
    """``--skeleton`` arguments as edges (``project.parse_skeleton``, which knows the names)."""
    from napari_lightning_pose.errors import ConfigError
    from napari_lightning_pose.project import parse_skeleton

    edges = []
    for text in texts:
        try:
            edges += parse_skeleton(text, keypoints)
        except ValueError:
            raise ConfigError(
                None,
                f"skeleton edge {text!r} must be two keypoint names joined by '-' "
                "(or by ':' when a name contains '-').",
            ) from None
    return edges


def _run_init(args: argparse.Namespace) -> int:
    from napari_lightning_pose.project import config_from_file, init_project

    imported = cli_interop.run_init_import(args)
    if imported is not None:
        return imported
    base = None
    if args.from_config:
        base, ignored = config_from_file(args.from_config)
        if ignored:
            print(f"not taken from {args.from_config}: {', '.join(ignored)}")
    known = args.keypoints or (base or {}).get("data", {}).get("keypoint_names") or []
    config = init_project(
        args.project,
        keypoint_names=args.keypoints,
        skeleton=_parse_edges(args.skeleton, known),
        videos=args.video,
        copy_videos=not args.link_videos,
        base_config=base,
    )
    print(f"created {config}")
    print(f"next: napari-lightning-pose select-frames --config {config} --video VIDEO -n 20")
    return 0


# ------------------------------------------------------------------ select-frames (issue 3)
def _add_select_frames(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "select-frames",
        help="pick diverse frames of a video to label",
        description="Pick N frames of each video (k-means on small grey thumbnails, or "
        "uniform), write them to labeled-data/<video>/ and add empty rows for them to the "
        "labels CSV. Frames already in the CSV are not picked again.",
    )
    p.add_argument("--config", required=True, help="the project's config.yaml (or its folder)")
    p.add_argument(
        "--video",
        nargs="+",
        default=[],
        metavar="VIDEO",
        help="videos to pick from (default: every video in the project's videos/)",
    )
    p.add_argument("-n", type=int, default=20, help="frames per video (default 20)")
    p.add_argument("--method", choices=["kmeans", "uniform"], default="kmeans")
    p.add_argument("--seed", type=int, default=0, help="k-means seed (default 0)")
    p.add_argument(
        "--context",
        type=int,
        default=CONTEXT_RADIUS,
        help="neighbour frames also written on each side, for the context model "
        f"(default {CONTEXT_RADIUS})",
    )
    p.set_defaults(func=_run_select_frames)


def _run_select_frames(args: argparse.Namespace) -> int:
    from pathlib import Path

    from napari_lightning_pose.errors import ConfigError
    from napari_lightning_pose.frames import iter_pick_frames
    from napari_lightning_pose.progress import run_with_tqdm
    from napari_lightning_pose.project import Project

    if args.n < 1:
        raise ConfigError(None, f"-n must be at least 1, got {args.n}.")
    project = Project.open(args.config)
    videos = args.video or project.video_paths()
    if not videos:
        raise ConfigError(
            project.config_path,
            f"the project has no videos in {project.video_dir}.",
            "Pass --video VIDEO, or copy videos there.",
        )
    for video in videos:
        job = iter_pick_frames(project, video, args.n, args.method, args.seed, args.context)
        added: list[list[str]] = []

        def keep_result(job=job, added=added):  # run_with_tqdm drops a generator's result
            added.append((yield from job))

        run_with_tqdm(keep_result(), desc=f"frames of {Path(video).name}", unit="frame")
        print(f"{Path(video).name}: added {len(added[0])} frames to {project.csv_path}")
    return 0


# -------------------------------------------------------------------------- train (issue 4)
def _add_train(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: training.accelerator)")
    p.add_argument("--minutes", type=float, help="wall-clock budget; stops after it")
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from pathlib import Path

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
def _add_predict(sub: argparse._SubParsersAction) -> None:
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
    p.set_defaults(func=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    from napari_lightning_pose.distributed import env_ranks
    from napari_lightning_pose.errors import VideoError
    from napari_lightning_pose.predict import predict_video, predict_videos
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
def _add_evaluate(sub: argparse._SubParsersAction) -> None:
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
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from napari_lightning_pose.evaluate import evaluate, format_summary
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
    from napari_lightning_pose.evaluate import (
        evaluate_video_predictions,
        predictions_are_current,
        video_predictions_path,
    )
    from napari_lightning_pose.predict import InferenceOptions, predict_video
    from napari_lightning_pose.progress import run_with_tqdm
    from napari_lightning_pose.video_metrics import format_video_summary

    pred = video_predictions_path(args.checkpoint, video, args.video_out)
    if predictions_are_current(pred, args.checkpoint, video):
        print(f"\n{video}: reusing predictions {pred}")
    else:
        options = InferenceOptions(device=args.device, metrics=False)
        run_with_tqdm(predict_video(args.checkpoint, video, pred, options=options), "predict")
        print(f"\n{video}: predictions {pred}")
    paths, summary = evaluate_video_predictions(pred, args.checkpoint, cfg)
    print(format_video_summary(summary))
    print("video metrics: " + ", ".join(str(p) for p in paths.values()))


# ------------------------------------------------------------------------- smooth (issue 5)
def _smoothing_arg(text: str) -> str | float:
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 'auto' or a positive number, not {text!r}")
    return value


def _add_smooth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "smooth",
        help="fuse ensemble prediction CSVs with EKS",
        description="Ensemble Kalman Smoother: fuse several models' prediction CSVs of one "
        "video into smooth trajectories with posterior variances. The output has the "
        "ensemble-kalman-smoother package's columns (x, y, likelihood, x_ens_median, "
        "y_ens_median, x_ens_var, y_ens_var, x_posterior_var, y_posterior_var).",
    )
    p.add_argument(
        "members", nargs="+", metavar="MEMBER.csv", help="prediction CSVs, one per model"
    )
    p.add_argument("--out", required=True, metavar="SMOOTHED.csv", help="output CSV")
    p.add_argument(
        "--smoothing",
        type=_smoothing_arg,
        default="auto",
        metavar="auto|VALUE",
        help="'auto' (maximum likelihood per keypoint, default) or a value s > 0; "
        "smaller is smoother",
    )
    p.add_argument(
        "--multiview",
        action="store_true",
        help="smooth keypoints seen in several views jointly (needs --config or --views)",
    )
    p.add_argument(
        "--config",
        metavar="CONFIG",
        help="project config whose data.mirrored_column_matches lists the views",
    )
    p.add_argument(
        "--views",
        nargs="+",
        metavar="K1,K2,...",
        help="one comma-separated list of keypoint indices or names per view, the same "
        "keypoints in the same order in each (implies --multiview)",
    )
    p.add_argument("--center", choices=["median", "mean"], default="median")
    p.add_argument(
        "--var-mode",
        choices=["confidence_weighted", "var"],
        default="confidence_weighted",
        help="ensemble variance divided by mean confidence (default) or plain",
    )
    poses = p.add_mutually_exclusive_group()
    poses.add_argument(
        "--poses-out",
        metavar="POSES.csv",
        help="where to write the plain x, y, likelihood table that movement, DeepLabCut and "
        "Lightning Pose load (default: next to --out, as <out stem>.poses.csv)",
    )
    poses.add_argument(
        "--no-poses", action="store_true", help="do not write the plain x, y, likelihood table"
    )
    p.set_defaults(func=_run_smooth)


def _poses_path(args: argparse.Namespace) -> Path | None:
    """Where the movement-loadable poses table goes: ``--poses-out``, or next to ``--out``."""
    if args.no_poses:
        return None
    if args.poses_out:
        return Path(args.poses_out)
    out = Path(args.out)
    return out.with_name(f"{out.stem}.poses.csv")


def _views_for_smooth(args: argparse.Namespace) -> list[list[str]] | None:
    from napari_lightning_pose.errors import ConfigError
    from napari_lightning_pose.io.config import load_config

    if args.views:
        return [[item.strip() for item in view.split(",") if item.strip()] for view in args.views]
    if not args.multiview:
        return None
    if not args.config:
        raise ConfigError(
            None, "--multiview needs the views.", "Pass --config CONFIG or --views K1,K2 K3,K4."
        )
    data = load_config(args.config)["data"]
    matches = data["mirrored_column_matches"]
    if not matches:
        raise ConfigError(
            args.config,
            "has no data.mirrored_column_matches.",
            "Add it (one list of keypoint indices per view) or pass --views.",
        )
    names = data["keypoint_names"]
    return [[names[i] if names else str(i) for i in view] for view in matches]


def _run_smooth(args: argparse.Namespace) -> int:
    from napari_lightning_pose.ensemble import (
        most_uncertain_frames,
        poses_only,
        smooth_ensemble,
        write_smoothed_csv,
    )
    from napari_lightning_pose.io.pose_csv import write_pose_csv

    result = smooth_ensemble(
        args.members,
        smoothing=args.smoothing,
        views=_views_for_smooth(args),
        center=args.center,
        confidence_weighted=args.var_mode == "confidence_weighted",
    )
    out = write_smoothed_csv(result, args.out)
    poses = _poses_path(args)
    if poses is not None:
        poses = write_pose_csv(poses_only(result.frame), poses)
    mode = "multi-view" if result.views else "single-view"
    print(f"smoothed {len(result.frame)} frames of {len(args.members)} members ({mode})")
    for name, s in result.smoothing.items():
        print(f"  {name}: s = {s:.4g}")
    worst = most_uncertain_frames(result.frame, n=5, min_gap=10)
    if len(worst):
        listed = ", ".join(
            f"{r.frame} ({r.keypoint}, {r.posterior_std:.1f} px)" for r in worst.itertuples()
        )
        print(f"most uncertain frames: {listed}")
    print(f"wrote {out}" + (f" and {poses} (x, y, likelihood only)" if poses else ""))
    return 0


# ---------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="napari-lightning-pose",
        description="Lightning Pose in napari: label, train, predict, smooth (EKS), check.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_demo,
        _add_init,
        _add_select_frames,
        _add_train,
        _add_predict,
        _add_evaluate,
        _add_smooth,
        cli_interop.add_export,
        cli_interop.add_import_predictions,
    ):
        add(sub)
    cli_qc.add_all(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napari-lightning-pose`` console script."""
    args = build_parser().parse_args(argv)
    try:
        with cli_interop.plain_warnings():  # "warning: ..." without a source line
            return int(args.func(args) or 0)
    except LightningPoseInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
