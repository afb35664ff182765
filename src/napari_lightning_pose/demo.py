"""The end-to-end demo on the bundled mirror-mouse sample, headless.

One command walks the user's whole loop on real data: make a project, pick new frames to
label, check the labels, train an ensemble of pose networks, predict the video with each,
fuse them with the Ensemble Kalman Smoother, evaluate on held-out frames, and list the frames
where the smoothed trajectory is least certain. Each stage uses the same core functions as
the napari widgets and the other commands.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from napari_lightning_pose.errors import LightningPoseInputError

SAMPLE_DIR = Path(__file__).parent / "resources" / "mirror-mouse"
MARKER = ".napari-lightning-pose-demo"


@dataclass
class DemoResult:
    """Where the demo wrote its results and what it measured."""

    project: Path
    picked_frames: list[str]
    checkpoints: list[Path]
    member_csvs: list[Path]
    smoothed_csv: Path
    test_errors: list[float]
    train_errors: list[float]
    uncertain_frames: pd.DataFrame
    posterior_std: pd.Series = field(default_factory=pd.Series)


def prepare_project(out_dir: Path) -> Path:
    """Copy the bundled sample project into ``out_dir/project`` (replacing an earlier demo's).

    Refuses to delete a folder the demo did not make, so a mistyped ``--out`` is harmless.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / MARKER
    project = out_dir / "project"
    if any(out_dir.iterdir()) and not marker.exists():
        raise LightningPoseInputError(
            out_dir,
            "exists and was not made by the demo; not touching it.",
            "Pass an empty or new folder with --out.",
        )
    for stale in ("project", "models", "predictions"):
        if (out_dir / stale).exists():
            shutil.rmtree(out_dir / stale)
    marker.write_text("made by `napari-lightning-pose demo`; safe to delete\n")
    shutil.copytree(SAMPLE_DIR, project, ignore=shutil.ignore_patterns("README.md"))
    return project


def run_demo(
    out_dir: str | Path,
    *,
    members: int = 3,
    steps: int = 200,
    n_pick: int = 5,
    device: str | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> DemoResult:
    """Run the whole pipeline on the sample and return where everything went.

    Parameters
    ----------
    out_dir
        Folder for the project copy, the models and the predictions.
    members
        Ensemble size (models trained with different seeds); EKS needs at least 2.
    steps
        Training steps per member.
    n_pick
        New frames of the video to pick for labeling (k-means on thumbnails).
    device
        ``"cpu"``, ``"cuda"``...; default: CUDA when available.
    log
        Where the stage summaries go.
    progress
        Show tqdm bars for training and prediction.
    """
    from napari_lightning_pose.ensemble.smooth import smooth_ensemble, write_smoothed_csv
    from napari_lightning_pose.ensemble.uncertainty import most_uncertain_frames, posterior_std
    from napari_lightning_pose.evaluate import evaluate
    from napari_lightning_pose.frames import pick_frames
    from napari_lightning_pose.io.labels import count_labels
    from napari_lightning_pose.predict import predict_video
    from napari_lightning_pose.progress import run_with_tqdm
    from napari_lightning_pose.project import Project
    from napari_lightning_pose.training import train

    if members < 2:
        raise LightningPoseInputError(None, "the ensemble needs at least 2 members.")
    out_dir = Path(out_dir).resolve()

    log(f"1/6 project: copying the mirror-mouse sample to {out_dir / 'project'}")
    project = Project.open(prepare_project(out_dir))
    video = project.video_paths()[0]
    log(f"    {count_labels(project.read_labels())}; video {video.name}")

    log(f"2/6 frame selection: k-means on thumbnails picks {n_pick} new frames to label")
    picked = pick_frames(project, video, n_pick, method="kmeans", seed=0, context=0)
    log(f"    wrote {', '.join(picked)}")
    log(f"    {count_labels(project.read_labels())} (picked frames wait for labels)")

    cfg = copy.deepcopy(project.config)
    # 16 training frames make a 2-step epoch; validating every 2 steps would cost ~30 %
    cfg["training"]["check_val_every_n_epoch"] = 10
    checkpoints: list[Path] = []
    for m in range(members):
        log(f"3/6 training ensemble member {m + 1}/{members} (seed {m}, {steps} steps)")
        run_dir = out_dir / "models" / f"member{m}"
        events = train(cfg, run_dir, steps=steps, seed=m, device=device)
        notable = run_with_tqdm(events, f"member {m}", disable=not progress)
        done = [e for e in notable if e.kind in ("done", "stopped")]
        checkpoints.append(run_dir / "last.ckpt")
        if done and done[-1].val_pixel_error is not None:
            log(f"    validation error {done[-1].val_pixel_error:.2f} px")

    member_csvs: list[Path] = []
    for m, ckpt in enumerate(checkpoints):
        log(f"4/6 predicting {video.name} with member {m + 1}/{members}")
        out_csv = out_dir / "predictions" / f"{video.stem}.member{m}.csv"
        run_with_tqdm(
            predict_video(ckpt, video, out_csv, device=device),
            f"member {m}",
            unit="frame",
            disable=not progress,
        )
        member_csvs.append(out_csv)

    log("5/6 evaluating each member on held-out labeled frames (original pixels)")
    test_errors, train_errors = [], []
    for m, ckpt in enumerate(checkpoints):
        result = evaluate(ckpt, cfg, splits=("test", "train"), device=device)
        test_errors.append(result.overall("test"))
        train_errors.append(result.overall("train"))
        log(f"    member {m}: test {test_errors[-1]:.2f} px, train {train_errors[-1]:.2f} px")

    log("6/6 Ensemble Kalman Smoother (multi-view over the mirrored keypoints, auto smoothing)")
    views = cfg["data"]["mirrored_column_matches"]
    smoothed = smooth_ensemble(member_csvs, smoothing="auto", views=views)
    smoothed_csv = write_smoothed_csv(smoothed, out_dir / "predictions" / f"{video.stem}.eks.csv")
    std = posterior_std(smoothed.frame)
    per_keypoint = std.median().sort_values()
    worst = most_uncertain_frames(smoothed.frame, n=5, min_gap=10)
    log(f"    wrote {smoothed_csv}")
    log("    median posterior std per keypoint (px): " + _format_series(per_keypoint))
    log("    most uncertain frames (check these first):")
    for row in worst.itertuples(index=False):
        std_px = f"posterior std {row.posterior_std:.1f} px"
        log(f"      frame {row.frame:>4}  {row.keypoint:<14} {std_px}")
    return DemoResult(
        project=project.root,
        picked_frames=picked,
        checkpoints=checkpoints,
        member_csvs=member_csvs,
        smoothed_csv=smoothed_csv,
        test_errors=test_errors,
        train_errors=train_errors,
        uncertain_frames=worst,
        posterior_std=per_keypoint,
    )


def _format_series(series: pd.Series) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in series.items() if np.isfinite(v))
