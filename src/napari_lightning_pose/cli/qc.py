"""Command line for closing the loop: ``outliers``, ``label-qc``, ``suggest-frames`` and
``export-video``.

Each ``add_<cmd>(sub)`` registers one subcommand (``cli.build_parser`` calls them).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_lightning_pose.qc.defaults import DEFAULT_MIN_GAP


# ------------------------------------------------------------------------------- outliers
def add_outliers(sub: argparse._SubParsersAction) -> None:
    """Register ``outliers``: rank a smoothed video's frames by outlier score."""
    p = sub.add_parser(
        "outliers",
        help="rank frames of a smoothed video by outlier score",
        description="Score every frame and keypoint of a smoothed CSV: posterior SD, "
        "ensemble SD, temporal norm, EKS residual and the PCA errors (when the metric files "
        "<stem>_pca_singleview_error.csv ... lie next to the predictions). 'combined' puts "
        "them on one bounded scale (robust z-score per keypoint, capped) and shows each "
        "score's part (<score>_part). The list is diverse by default: frames --min-gap "
        "apart, one keypoint at most --max-share of it. Prints the worst frames and writes "
        "frame, keypoint, every score and its part.",
    )
    p.add_argument("smoothed", metavar="SMOOTHED.csv", help="output of `smooth`")
    p.add_argument(
        "--members",
        nargs="+",
        default=[],
        metavar="MEMBER.csv",
        help="the ensemble's prediction CSVs (ensemble SD and metric files come from them)",
    )
    p.add_argument("--top", type=int, default=20, help="frames to list (default 20)")
    p.add_argument(
        "--min-gap",
        type=int,
        default=DEFAULT_MIN_GAP,
        help=f"skip frames this close to one listed (default {DEFAULT_MIN_GAP}; 0: off)",
    )
    p.add_argument(
        "--max-share",
        type=float,
        default=None,
        help="most of the list one keypoint may hold, in every top of it (default: twice "
        "its fair share, 2 / keypoints; 1: off)",
    )
    p.add_argument("--by", default="combined", help="score to rank by (default combined)")
    p.add_argument("--out", metavar="CSV", help="write the ranked table here")
    p.set_defaults(func=run_outliers)


def run_outliers(args: argparse.Namespace) -> int:
    """Run ``outliers``."""
    from napari_lightning_pose.errors import ConfigError
    from napari_lightning_pose.io.atomic import atomic_write
    from napari_lightning_pose.qc.outlier_ranking import rank_outliers
    from napari_lightning_pose.qc.scores import scores_from_files

    if args.top < 1:
        raise ConfigError(None, f"--top must be at least 1, got {args.top}.")
    scores = scores_from_files(args.smoothed, args.members)
    for note in scores.notes:
        print(f"note: {note}")
    table = rank_outliers(
        scores, n=args.top, by=args.by, min_gap=args.min_gap, max_share=args.max_share
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if args.out:
        atomic_write(Path(args.out), lambda tmp: table.to_csv(tmp, index=False))
        print(f"wrote {args.out}")
    return 0


# ------------------------------------------------------------------------------ label-qc
def add_label_qc(sub: argparse._SubParsersAction) -> None:
    """Register ``label-qc``: rank the labeled frames by how likely a label is wrong."""
    p = sub.add_parser(
        "label-qc",
        help="rank labeled frames by how likely a label is wrong",
        description="Check the human labels with the model's priors: each labeled pose's "
        "pose-PCA and multi-view-PCA reconstruction errors (fitted robustly: leave one "
        "out, worst poses trimmed), left/right swap tests over data.flip_pairs (or pairs "
        "guessed from the names) and, with --models, the distance to the ensemble's "
        "prediction from members that did not train on the frame. Writes image, keypoint, "
        "score and every criterion (and its part of the score), worst first. Labels "
        "confirmed in the Label QC dock are left out while they stay where they were. "
        "Never changes a label.",
    )
    p.add_argument("--config", required=True, help="the project's config.yaml (or its folder)")
    p.add_argument(
        "--models",
        nargs="+",
        default=[],
        metavar="DIR",
        help="trained members (training folders or .ckpt files) for the model distance",
    )
    p.add_argument("--top", type=int, default=20, help="frames to list (default 20)")
    p.add_argument("--out", required=True, metavar="CSV", help="write the ranked table here")
    p.add_argument("--device", help="where the models run (default: CUDA if available)")
    p.add_argument("--include-confirmed", action="store_true", help="list confirmed labels too")
    p.set_defaults(func=run_label_qc)


def run_label_qc(args: argparse.Namespace) -> int:
    """Run ``label-qc``."""
    from napari_lightning_pose.errors import ConfigError
    from napari_lightning_pose.io.atomic import atomic_write
    from napari_lightning_pose.io.labels import read_labels
    from napari_lightning_pose.labeling.project import Project
    from napari_lightning_pose.qc.label_confirmations import confirmed_now
    from napari_lightning_pose.qc.label_qc import label_qc

    if args.top < 1:
        raise ConfigError(None, f"--top must be at least 1, got {args.top}.")
    project = Project.open(args.config)
    names = project.config["data"]["keypoint_names"] or None
    labels = read_labels(project.csv_path, names)
    predictions, notes = None, []
    if args.models:
        from napari_lightning_pose.qc.label_qc_models import held_out_predictions

        predictions, notes = held_out_predictions(args.models, project.config, args.device)
    qc = label_qc(labels, project.config, predictions)
    skip = [] if args.include_confirmed else confirmed_now(project.csv_path, labels)
    for note in [*qc.notes, *notes]:
        print(f"note: {note}")
    if skip:
        print(f"note: {len(skip)} confirmed labels left out (--include-confirmed lists them)")
    table = qc.ranked(args.top, skip)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    atomic_write(Path(args.out), lambda tmp: table.to_csv(tmp, index=False))
    print(f"wrote {args.out}")
    return 0


# ------------------------------------------------------------------------- suggest-frames
def add_suggest_frames(sub: argparse._SubParsersAction) -> None:
    """Register ``suggest-frames``: active learning across the project's videos."""
    p = sub.add_parser(
        "suggest-frames",
        help="suggest the least certain, diverse frames to label next",
        description="Across all the project's videos, pick N frames where the smoothed "
        "ensemble is least certain (worst keypoint's posterior SD), made diverse (k-means on "
        "thumbnails within the uncertain set, none within --min-gap frames of each other or "
        "of a frame already in the CSV). Writes them like select-frames (PNGs with context "
        "neighbours, empty rows appended to the labels CSV) and logs them in "
        "suggestions.csv; earlier suggestions are kept.",
    )
    p.add_argument("--config", required=True, help="the project's config.yaml (or its folder)")
    p.add_argument("-n", type=int, required=True, help="frames to suggest in all")
    p.add_argument(
        "--smoothed",
        nargs="+",
        default=[],
        metavar="SMOOTHED.csv",
        help="smoothed CSVs to use, named <video>*.csv (default: the newest per video under "
        "the project folder)",
    )
    p.add_argument("--min-gap", type=int, default=10, help="frames kept apart (default 10)")
    p.add_argument("--context", type=int, default=2, help="neighbour frames written per side")
    p.add_argument("--seed", type=int, default=0, help="k-means seed")
    p.set_defaults(func=run_suggest_frames)


def run_suggest_frames(args: argparse.Namespace) -> int:
    """Run ``suggest-frames``."""
    from napari_lightning_pose.labeling.project import Project
    from napari_lightning_pose.progress import run_with_tqdm
    from napari_lightning_pose.qc.suggest_project import iter_suggest_frames

    project = Project.open(args.config)
    smoothed = _smoothed_by_video(project, args.smoothed)
    job = iter_suggest_frames(project, args.n, smoothed, args.min_gap, args.context, args.seed)
    found: list = []

    def keep(job=job):  # run_with_tqdm drops a generator's result
        found.append((yield from job))

    run_with_tqdm(keep(), desc="suggest", unit="frame")
    for s in found[0]:
        print(f"{s.image}  posterior SD {s.posterior_sd:.1f} px")
    print(f"added {len(found[0])} frames to {project.csv_path}")
    return 0


def _smoothed_by_video(project, paths: list[str]) -> dict[str, Path]:
    from napari_lightning_pose.errors import ConfigError

    stems = [v.stem for v in project.video_paths()]
    out = {}
    for p in map(Path, paths):
        match = [s for s in stems if p.name.startswith(s)]
        if not match:
            raise ConfigError(
                p, f"matches none of the project's videos {stems}.", "Name it <video>*.csv."
            )
        out[max(match, key=len)] = p
    return out


# --------------------------------------------------------------------------- export-video
def add_export_video(sub: argparse._SubParsersAction) -> None:
    """Register ``export-video``: a labeled mp4 with uncertainty colours."""
    p = sub.add_parser(
        "export-video",
        help="write a labeled mp4 (keypoints in uncertainty colours, tails, colour bar)",
        description="Draw the keypoints of a smoothed CSV (coloured by posterior SD, as in "
        "the QC view) or of plain predictions (by likelihood) on the video, with tails and "
        "a colour bar, and write an H.264 mp4.",
    )
    p.add_argument("video", help="the video the predictions are of")
    p.add_argument("predictions", metavar="SMOOTHED.csv", help="smoothed or prediction CSV")
    p.add_argument("--out", required=True, metavar="OUT.mp4")
    p.add_argument("--tail", type=int, default=10, help="frames of history (default 10)")
    p.add_argument("--radius", type=int, default=4, help="keypoint radius in px")
    p.add_argument("--start", type=int, default=0, help="first frame")
    p.add_argument("--stop", type=int, default=None, help="stop before this frame")
    p.set_defaults(func=run_export_video)


def run_export_video(args: argparse.Namespace) -> int:
    """Run ``export-video``."""
    from napari_lightning_pose.progress import run_with_tqdm
    from napari_lightning_pose.viewer.prediction_layers import read_pose_track
    from napari_lightning_pose.viewer.video_export import iter_export_video

    track = read_pose_track(args.predictions)
    job = iter_export_video(
        args.video, track, args.out, args.tail, args.radius, args.start, args.stop
    )
    for _ in run_with_tqdm(job, desc="export", unit="frame"):
        pass
    print(f"wrote {args.out}")
    return 0


def add_all(sub: argparse._SubParsersAction) -> None:
    """Register every subcommand of this module."""
    for add in (add_outliers, add_label_qc, add_suggest_frames, add_export_video):
        add(sub)
