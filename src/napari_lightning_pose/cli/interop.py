"""Command line for interop: ``init --from-dlc/--from-sleap``, ``export``, ``import-predictions``,
``split-mirror``.

Registered in ``cli.build_parser``; the work is done by ``napari_lightning_pose.interop``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any


# ----------------------------------------------------------------------- init --from-*
def add_init_import_options(p: argparse.ArgumentParser) -> None:
    """Add ``--from-dlc``, ``--from-sleap`` and ``--track`` to the ``init`` parser."""
    p.add_argument(
        "--from-dlc",
        metavar="DLC_CONFIG",
        help="import a DeepLabCut project (its config.yaml): bodyparts, skeleton, every "
        "labeled-data/<video>/CollectedData_*.csv or .h5, and its videos",
    )
    p.add_argument(
        "--from-sleap",
        metavar="LABELS.slp",
        help="import SLEAP labels: skeleton node order as keypoints, labeled frames as images",
    )
    p.add_argument("--track", help="with --from-sleap: the animal (track) to import")


def run_init_import(args: argparse.Namespace) -> int | None:
    """Run ``init --from-dlc/--from-sleap``; None when neither was given."""
    from napari_lightning_pose.errors import ConfigError
    from napari_lightning_pose.io.config import is_dlc_config, read_yaml

    if args.from_config and not args.from_dlc and is_dlc_config(read_yaml(args.from_config)):
        print(f"note: {args.from_config} is a DeepLabCut config: importing it (--from-dlc)")
        args.from_dlc, args.from_config = args.from_config, None
    if not (args.from_dlc or args.from_sleap):
        return None
    if args.from_dlc and args.from_sleap:
        raise ConfigError(None, "--from-dlc and --from-sleap cannot be combined.")
    if getattr(args, "views", None):
        raise ConfigError(
            None,
            "DeepLabCut and SLEAP imports make single-camera projects; --views cannot be used "
            "with --from-dlc/--from-sleap.",
            "Import each camera into its own project, or create the multi-camera project with "
            "init --views and add its labels per view.",
        )
    if args.keypoints or args.skeleton or args.from_config:
        raise ConfigError(
            None,
            "--keypoints/--skeleton/--from-config come from the imported project.",
            "Drop them, or edit config.yaml after the import.",
        )
    if args.from_dlc:
        from napari_lightning_pose.interop.dlc import import_dlc_project

        result = import_dlc_project(args.from_dlc, args.project, not args.link_videos)
        print(
            f"imported {result.n_frames} labeled frames from {len(result.label_files)} "
            f"DeepLabCut table(s) and {len(result.videos)} video(s)"
        )
        notes = result.notes
    else:
        from napari_lightning_pose.interop.sleap import import_sleap_labels

        result = import_sleap_labels(args.from_sleap, args.project, track=args.track)
        print(f"imported {result.n_frames} labeled frames from {args.from_sleap}")
        notes = result.notes
    if args.video:
        from napari_lightning_pose.labeling.project_setup import add_video

        for video in args.video:
            add_video(result.config, video, copy=not args.link_videos)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"created {result.config}")
    print(f"next: napari-lightning-pose train --config {result.config}")
    return 0


# ------------------------------------------------------------------------------ export
def add_export(sub: argparse._SubParsersAction) -> None:
    """The ``export`` command: movement netCDF, NWB (ndx-pose), DeepLabCut labels."""
    p = sub.add_parser(
        "export",
        help="export trajectories (movement, NWB) or labels (DeepLabCut)",
        description="Export smoothed trajectories with their posterior variance to "
        "movement's dataset (netCDF) or NWB (ndx-pose), or a project's labels to a "
        "DeepLabCut project.",
    )
    kinds = p.add_subparsers(dest="format", required=True, metavar="FORMAT")
    for name, what, suffix in (
        ("movement", "a movement poses dataset as netCDF", ".nc"),
        ("nwb", "an NWB file with an ndx-pose PoseEstimation", ".nwb"),
    ):
        q = kinds.add_parser(name, help=what, description=f"Write {what}.")
        if name == "nwb":
            q.add_argument(
                "csv",
                nargs="+",
                metavar="SMOOTHED.csv",
                help="smooth's output (or predictions); several (each camera's <camera>.eks.csv "
                "and 3d.eks.csv of smooth --cameras) go side by side into one file",
            )
        else:
            q.add_argument(
                "csv",
                metavar="SMOOTHED.csv",
                help="smooth's output (or predictions, or the 3d.eks.csv of smooth --cameras "
                "--calibration: space x, y, z)",
            )
        q.add_argument("--out", required=True, metavar=f"OUT{suffix}")
        q.add_argument("--fps", type=float, help="frame rate (default: from --video)")
        q.add_argument("--video", help="the video the trajectories belong to")
        q.add_argument("--config", help="project config (NWB: its skeleton is recorded)")
        q.set_defaults(func=_run_export)
    q = kinds.add_parser(
        "dlc",
        help="a project's labels as a DeepLabCut project",
        description="Write labeled-data/<video>/CollectedData_<scorer>.csv and .h5 (with the "
        "images) into a DeepLabCut project folder; a minimal config.yaml is created when the "
        "folder has none.",
    )
    q.add_argument("--config", required=True, help="our project's config.yaml (or folder)")
    q.add_argument("--out", required=True, metavar="DLC_PROJECT", help="DeepLabCut folder")
    q.add_argument("--scorer", help="scorer name (default: the DeepLabCut config's, or ours)")
    q.set_defaults(func=_run_export)


def _fps(args: argparse.Namespace) -> float | None:
    if args.fps:
        return float(args.fps)
    if args.video:
        from napari_lightning_pose.io.video_index import probe_video

        return float(probe_video(args.video).fps)
    return None


def _run_export(args: argparse.Namespace) -> int:
    from napari_lightning_pose.errors import ConfigError

    if args.format == "dlc":
        from napari_lightning_pose.interop.dlc import export_dlc_labels

        written = export_dlc_labels(args.config, args.out, scorer=args.scorer)
        print(f"wrote {len(written) // 2} DeepLabCut table(s) (.csv and .h5) under {args.out}")
        return 0
    fps = _fps(args)
    if args.format == "movement":
        from napari_lightning_pose.interop.export import export_movement

        out = export_movement(args.csv, args.out, fps=fps)
    else:
        from napari_lightning_pose.interop.export import export_nwb
        from napari_lightning_pose.labeling.project import Project

        if fps is None:
            raise ConfigError(None, "NWB needs the frame rate.", "Pass --fps or --video.")
        skeleton = Project.open(args.config).skeleton if args.config else []
        out = export_nwb(args.csv, args.out, fps, skeleton=skeleton, original_video=args.video)
    print(f"wrote {out}")
    return 0


# ------------------------------------------------------------------------- split-mirror
def add_split_mirror(sub: argparse._SubParsersAction) -> None:
    """The ``split-mirror`` command: a mirrored project to a two-camera project."""
    p = sub.add_parser(
        "split-mirror",
        help="split a mirrored project (two views in one frame) into two cameras",
        description="Crop every labeled frame and video of a project with "
        "data.mirrored_column_matches at a row into two views (cameras), with one labels CSV "
        "per view (keypoints named without their _top/_bot suffix; keypoints without a "
        "partner in the other view are left out) and videos/<session>_<view>.mp4.",
    )
    p.add_argument("src", metavar="SRC", help="the mirrored project (folder or config.yaml)")
    p.add_argument("out", metavar="OUT", help="new folder for the two-camera project")
    p.add_argument(
        "--split-row", type=int, default=None,
        help="first row of the second view (default 168, mirror-mouse's)",
    )  # fmt: skip
    p.add_argument("--views", nargs=2, default=["top", "bottom"], metavar="VIEW")
    p.add_argument("--max-frames", type=int, help="keep only the first N frames of each video")
    p.set_defaults(func=_run_split_mirror)


def _run_split_mirror(args: argparse.Namespace) -> int:
    from napari_lightning_pose.interop.mirror_split import (
        MIRROR_MOUSE_SPLIT_ROW,
        split_mirrored_project,
    )

    row = MIRROR_MOUSE_SPLIT_ROW if args.split_row is None else args.split_row
    result = split_mirrored_project(args.src, args.out, row, args.views, args.max_frames)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"wrote {len(result.views)} views ({', '.join(result.views)}) of {result.n_frames} "
        f"labeled frames and {len(result.videos)} session(s) of videos"
    )
    print(f"created {result.config}")
    return 0


# -------------------------------------------------------------------- import-predictions
def add_import_predictions(sub: argparse._SubParsersAction) -> None:
    """The ``import-predictions`` command: SLEAP predictions to ensemble-member CSVs."""
    p = sub.add_parser(
        "import-predictions",
        help="SLEAP predictions (.slp) to Lightning Pose prediction CSVs",
        description="Convert SLEAP prediction files into Lightning Pose prediction CSVs "
        "(x, y, likelihood per frame) that `smooth` takes as ensemble members.",
    )
    p.add_argument("slp", nargs="+", metavar="PREDICTIONS.slp")
    p.add_argument("--out", required=True, help="CSV (one file) or folder (<name>.csv each)")
    p.add_argument("--track", help="the animal (track) to take when frames hold several")
    p.add_argument("--video-index", type=int, default=0, help="which video of the file")
    p.set_defaults(func=_run_import_predictions)


def _run_import_predictions(args: argparse.Namespace) -> int:
    from napari_lightning_pose.errors import ConfigError
    from napari_lightning_pose.interop.sleap import import_sleap_predictions

    out = Path(args.out)
    single = out.suffix.lower() == ".csv"
    if single and len(args.slp) > 1:
        raise ConfigError(out, "is one CSV, but several files were given.", "Pass a folder.")
    for slp in args.slp:
        target = out if single else out / f"{Path(slp).stem}.csv"
        written = import_sleap_predictions(slp, target, track=args.track, video=args.video_index)
        print(f"{slp} -> {written}")
    return 0


# ---------------------------------------------------------------------- predict options
def add_predict_options(p: argparse.ArgumentParser) -> None:
    """Add ``--start``, ``--end``, ``--allow-partial`` and ``--context-head`` to the
    ``predict`` parser."""
    p.add_argument("--start", type=int, default=0, help="first frame to predict (default 0)")
    p.add_argument("--end", type=int, help="predict up to this frame, excluded (default: all)")
    p.add_argument(
        "--allow-partial",
        action="store_true",
        help="a video cut short (fewer frames than its header says) still writes OUT, "
        "keeping the file it replaces as OUT.bak1; without it the readable frames go to "
        "OUT.partial.csv and the command fails",
    )
    p.add_argument(
        "--context-head",
        default="confident",
        metavar="HEAD",
        help="context models: which head's keypoints to write: confident (each keypoint from "
        "the more confident head, as Lightning Pose does; default), context or single",
    )


def predict_options(args: argparse.Namespace) -> Any:
    """The ``predict_options.InferenceOptions`` that ``predict``'s arguments ask for."""
    from napari_lightning_pose.errors import ConfigError
    from napari_lightning_pose.inference.predict_options import InferenceOptions
    from napari_lightning_pose.models.pose_model import HEAD_CHOICES

    if args.start < 0 or (args.end is not None and args.end <= args.start):
        raise ConfigError(None, f"--start {args.start} --end {args.end} is an empty range.")
    if args.context_head not in HEAD_CHOICES:
        raise ConfigError(
            None, f"--context-head {args.context_head!r} is not a head.",
            f"Use one of: {', '.join(HEAD_CHOICES)}.",
        )  # fmt: skip
    return InferenceOptions(
        batch_size=args.batch_size,
        device=args.device,
        start=args.start,
        stop=args.end,
        allow_partial=args.allow_partial,
        context_head=args.context_head,
    )


# ----------------------------------------------------------------------------- warnings
@contextlib.contextmanager
def plain_warnings() -> Iterator[None]:
    """Show warnings as one ``warning: ...`` line on stderr, without a source line."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        kind = "note" if category.__name__ == "ConfigNote" else "warning"
        print(f"{kind}: {message}", file=file or sys.stderr)

    old = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = old
