"""Command line for ``smooth``: fuse ensemble prediction CSVs with EKS, one camera (or a
mirrored rig) per CSV set, or several cameras with ``--cameras`` / ``--calibration``.

The EKS and pandas are imported inside ``run_smooth`` so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path


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


def add_smooth(sub: argparse._SubParsersAction) -> None:
    """Register ``smooth``: fuse ensemble prediction CSVs with EKS."""
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
    p.add_argument(
        "--out", metavar="SMOOTHED.csv", help="output CSV (one video; required without --cameras)"
    )
    p.add_argument(
        "--cameras",
        nargs="+",
        metavar="NAME",
        help="several synchronised cameras: each member CSV belongs to the camera whose name "
        "is in its file name; all cameras are smoothed jointly (a 3-D latent per keypoint "
        "seen through a PCA of the stacked views) into --out-dir/<camera>.eks.csv",
    )
    p.add_argument(
        "--out-dir", metavar="DIR", help="output folder for --cameras (created if missing)"
    )
    p.add_argument(
        "--calibration",
        metavar="calibration.toml",
        help="with --cameras: an Anipose calibration of those cameras; each keypoint is then "
        "smoothed as a 3-D point seen through every camera's projection (lens distortion "
        "included), and DIR/3d.eks.csv holds x, y, z and their posterior variances",
    )
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
    p.set_defaults(func=run_smooth)


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


def _check_smooth_outputs(args: argparse.Namespace) -> None:
    """``--out`` for one video, ``--out-dir`` (and no view options) with ``--cameras``."""
    from napari_lightning_pose.errors import LightningPoseInputError

    if args.cameras is None:
        if args.calibration is not None:
            raise LightningPoseInputError(
                args.calibration,
                "a calibration needs the cameras' names.",
                "Pass --cameras NAME ... (as named in the calibration) and --out-dir DIR.",
            )
        if args.out is None or args.out_dir is not None:
            raise LightningPoseInputError(
                None,
                "smooth needs --out SMOOTHED.csv for one video.",
                "Pass --out, or --cameras NAME ... --out-dir DIR for several cameras.",
            )
        return
    wrong = [
        flag
        for flag, given in (
            ("--out", args.out),
            ("--poses-out", args.poses_out),
            ("--multiview", args.multiview),
            ("--views", args.views),
            ("--config", args.config),
        )
        if given
    ]

    if args.out_dir is None or wrong:
        raise LightningPoseInputError(
            None,
            "--cameras writes one table per camera into --out-dir"
            + (f" and does not take {', '.join(wrong)}." if wrong else "."),
            "Pass --cameras NAME ... --out-dir DIR (the cameras' views are matched by keypoint "
            "name).",
        )


def run_smooth_cameras(args: argparse.Namespace) -> int:
    """Run ``smooth --cameras``: every camera's ensemble smoothed jointly."""
    from napari_lightning_pose.ensemble import poses_only, write_smoothed_csv
    from napari_lightning_pose.ensemble.multicam import (
        assign_cameras,
        load_cameras,
        smooth_cameras,
        smooth_cameras_3d,
    )
    from napari_lightning_pose.io.calibration import load_calibration
    from napari_lightning_pose.io.pose_csv import write_pose_csv

    assignment = assign_cameras(args.members, args.cameras)
    calibration = None
    if args.calibration is not None:
        calibration = load_calibration(args.calibration, names=args.cameras)
    cams = load_cameras(assignment)
    options = {
        "smoothing": args.smoothing,
        "center": args.center,
        "confidence_weighted": args.var_mode == "confidence_weighted",
    }
    if calibration is None:
        result = smooth_cameras(cams, **options)
    else:
        result = smooth_cameras_3d(cams, calibration, **options)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if result.frame_3d is not None:
        written.append(write_pose_csv(result.frame_3d, out_dir / "3d.eks.csv"))
    for cam, frame in result.frames.items():
        written.append(write_smoothed_csv(frame, out_dir / f"{cam}.eks.csv"))
        if not args.no_poses:
            written.append(write_pose_csv(poses_only(frame), out_dir / f"{cam}.eks.poses.csv"))
    counts = ", ".join(f"{cam}: {len(paths)}" for cam, paths in assignment.items())
    counts += "; 3-D, calibrated" if calibration is not None else "; linear"
    n_frames = cams.ensembles[0].n_frames
    print(f"smoothed {n_frames} frames of {len(args.cameras)} cameras ({counts})")
    for name, s in result.smoothing.items():
        print(f"  {name}: s = {s:.4g}")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def run_smooth(args: argparse.Namespace) -> int:
    """Run ``smooth``."""
    _check_smooth_outputs(args)
    if args.cameras is not None:
        return run_smooth_cameras(args)
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
