"""Command line: the same pipeline as the napari widgets, headless.

``napari-lightning-pose <command> --help`` describes each command. Long jobs are the core's
progress-event generators driven with a tqdm bar. Heavy imports (torch, napari) happen
inside the commands so ``--help`` stays fast.

This module holds ``demo``, ``init`` and ``select-frames``, ``build_parser`` and ``main``;
``cli.models`` has ``train``, ``predict`` and ``evaluate``, ``cli.smooth`` ``smooth``,
``cli.interop`` the import/export commands and ``cli.qc`` the QC loop's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from napari_lightning_pose.cli import interop as cli_interop
from napari_lightning_pose.cli import models as cli_models
from napari_lightning_pose.cli import qc as cli_qc
from napari_lightning_pose.cli import smooth as cli_smooth
from napari_lightning_pose.data.context import CONTEXT_RADIUS
from napari_lightning_pose.errors import LightningPoseInputError


# --------------------------------------------------------------------------- demo (issue 3)
def _add_demo(sub: argparse._SubParsersAction) -> None:
    from napari_lightning_pose.cli.demo import (
        DEMO_CLIP_FRAMES,
        DEMO_MEMBERS,
        DEMO_RESIZE,
        DEMO_SEMI,
        DEMO_STEPS,
    )

    p = sub.add_parser(
        "demo",
        help="end-to-end demo on the bundled sample data",
        description="Copy the mirror-mouse sample into a project, pick frames to label, train "
        "an ensemble (supervised by default, semi-supervised with --semi), predict the video, "
        "smooth it with EKS and list the least certain frames.",
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
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--supervised",
        dest="semi",
        action="store_false",
        help="train on the labeled frames only" + ("" if DEMO_SEMI else " (default)"),
    )
    mode.add_argument(
        "--semi",
        dest="semi",
        action="store_true",
        help="also train the unsupervised losses on unlabeled clips of the video"
        + (" (default)" if DEMO_SEMI else ""),
    )
    p.set_defaults(semi=DEMO_SEMI)
    p.add_argument("--no-qc", action="store_true", help="skip traces.png and qc.png")
    p.add_argument("--open", action="store_true", help="open the result in napari")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from napari_lightning_pose.cli.demo import run_demo

    result = run_demo(
        args.out,
        members=args.members,
        steps=args.steps,
        resize=args.resize,
        semi=args.semi,
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
        from napari_lightning_pose.viewer.demo_qc import open_in_napari

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
    p.add_argument(
        "--views",
        nargs="+",
        default=[],
        metavar="VIEW",
        help="camera names of a multi-camera project (at least two): one labels CSV per view "
        "(CollectedData_<view>.csv), videos named <session>_<view>.mp4",
    )
    cli_interop.add_init_import_options(p)  # --from-dlc, --from-sleap
    p.set_defaults(func=_run_init)


def _parse_edges(texts: Sequence[str], keypoints: Sequence[str]) -> list[tuple[str, str]]:
    """``--skeleton`` arguments as edges (``skeleton.parse_skeleton``, which knows the names)."""
    from napari_lightning_pose.errors import ConfigError
    from napari_lightning_pose.labeling.skeleton import parse_skeleton

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
    from napari_lightning_pose.labeling.project_setup import config_from_file, init_project

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
        views=args.views,
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
    from napari_lightning_pose.labeling.frames import iter_pick_frames
    from napari_lightning_pose.labeling.project import Project
    from napari_lightning_pose.progress import run_with_tqdm

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
    if project.views is not None:  # the same frames of every view of each session
        return _select_session_frames(project, videos, args)
    for video in videos:
        job = iter_pick_frames(project, video, args.n, args.method, args.seed, args.context)
        added: list[list[str]] = []

        def keep_result(job=job, added=added):  # run_with_tqdm drops a generator's result
            added.append((yield from job))

        run_with_tqdm(keep_result(), desc=f"frames of {Path(video).name}", unit="frame")
        print(f"{Path(video).name}: added {len(added[0])} frames to {project.csv_path}")
    return 0


def _select_session_frames(project, videos, args: argparse.Namespace) -> int:
    """``select-frames`` in a multi-camera project: per session, the same frames in every view."""
    from napari_lightning_pose.io.views import check_session_videos, group_sessions
    from napari_lightning_pose.labeling.session_frames import iter_pick_session_frames
    from napari_lightning_pose.progress import run_with_tqdm

    names = project.views.names
    check_session_videos(videos, names)
    for session, by_view in group_sessions(videos, names).items():
        job = iter_pick_session_frames(
            project, by_view, args.n, args.method, args.seed, args.context
        )
        added: list[dict[str, list[str]]] = []

        def keep_result(job=job, added=added):  # run_with_tqdm drops a generator's result
            added.append((yield from job))

        run_with_tqdm(keep_result(), desc=f"frames of {session}", unit="frame")
        for view, images in added[0].items():
            csv = project.for_view(view).csv_path
            print(f"{session} ({view}): added {len(images)} frames to {csv}")
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
        cli_models.add_all,
        cli_smooth.add_smooth,
        cli_interop.add_export,
        cli_interop.add_import_predictions,
        cli_interop.add_split_mirror,
        cli_qc.add_all,
    ):
        add(sub)
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
