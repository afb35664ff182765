"""Command line for closing the loop: ``outliers``, ``suggest-frames`` and ``export-video``.

Each ``add_<cmd>(sub)`` registers one subcommand (``cli.build_parser`` calls them).
"""

from __future__ import annotations

import argparse
from pathlib import Path


# ------------------------------------------------------------------------------- outliers
def add_outliers(sub: argparse._SubParsersAction) -> None:
    """Register ``outliers``: rank a smoothed video's frames by outlier score."""
    p = sub.add_parser(
        "outliers",
        help="rank frames of a smoothed video by outlier score",
        description="Score every frame and keypoint of a smoothed CSV: posterior SD, "
        "ensemble SD, temporal norm, EKS residual and the PCA errors (when the metric files "
        "<stem>_pca_singleview_error.csv ... lie next to the predictions), each as robust "
        "z-scores per keypoint summed into 'combined'. Prints the worst frames and writes "
        "frame, keypoint and every score.",
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
        "--min-gap", type=int, default=0, help="skip frames this close to one listed (rows)"
    )
    p.add_argument("--by", default="combined", help="score to rank by (default combined)")
    p.add_argument("--out", metavar="CSV", help="write the ranked table here")
    p.set_defaults(func=run_outliers)


def run_outliers(args: argparse.Namespace) -> int:
    """Run ``outliers``."""
    from napari_lightning_pose.errors import ConfigError
    from napari_lightning_pose.io.atomic import atomic_write
    from napari_lightning_pose.qc.scores import rank_outliers, scores_from_files

    if args.top < 1:
        raise ConfigError(None, f"--top must be at least 1, got {args.top}.")
    scores = scores_from_files(args.smoothed, args.members)
    for note in scores.notes:
        print(f"note: {note}")
    table = rank_outliers(scores, n=args.top, by=args.by, min_gap=args.min_gap)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if args.out:
        atomic_write(Path(args.out), lambda tmp: table.to_csv(tmp, index=False))
        print(f"wrote {args.out}")
    return 0


def add_all(sub: argparse._SubParsersAction) -> None:
    """Register every subcommand of this module."""
    for add in (add_outliers,):
        add(sub)
