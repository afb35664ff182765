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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from napari_lightning_pose import SAMPLE_DIR
from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.losses.balance import DEFAULT_STRENGTHS, log_weight_for

if TYPE_CHECKING:  # pandas is imported when the demo runs: `--help` stays fast
    import pandas as pd

MARKER = ".napari-lightning-pose-demo"


#: Demo defaults, chosen so the whole demo takes at most 5 minutes on a 2-core CPU without
#: AVX-512 and its ensemble misses the held-out frames by at most 15 px (README "What the demo
#: does", ``benchmarks/bench_demo.py --no-avx512``).
DEMO_RESIZE = 128
DEMO_STEPS = 300
DEMO_MEMBERS = 2
#: Lightning Pose's default heatmap loss is ``mse``; off a fresh head it learns far more
#: slowly than ``kl`` (mirror-mouse, 96 px, same seed: 37.9 px validation error after 180
#: steps vs ...), which a 5-minute demo cannot afford. The unsupervised weights follow
#: (``losses.balance``: the same strength under either loss).
DEMO_HEATMAP_LOSS = "kl"
#: The demo's backbone (``model.backbone``; the sample's config says efficientnet_lite0).
#: At 128 px Lite0's stride-32 features are 4 x 4 and its members stayed near the mean pose
#: (validation 29-36 px after 280 steps, the mean pose 39 px); cut at stride 16 (8 x 8,
#: 25 % cheaper per step) the same run reached 10 px by step 200 (bench_demo.py).
DEMO_BACKBONE = "efficientnet_lite0_s16"
#: Frames per unlabeled clip of a semi-supervised step (``dali.base.train.sequence_length``;
#: Lightning Pose's default is 16).
DEMO_CLIP_FRAMES = 4
#: Steps per "epoch" (``training.steps_per_epoch``): a checkpoint is written at the end of
#: each, and validation runs every other one.
DEMO_STEPS_PER_EPOCH = 10
#: The unsupervised losses of a semi-supervised demo; all three fit the sample's 40
#: training frames (``losses.availability``: the single-view pose PCA needs 28).
DEMO_SEMI_LOSSES = ("temporal", "pca_singleview", "pca_multiview")
#: Whether the demo trains semi-supervised unless told (``--semi`` / ``--supervised``), and
#: why: measured by ``benchmarks/bench_demo.py`` at the demo's budget.
DEMO_SEMI = False
DEMO_MODE_NOTE = (
    "supervised by default: at this budget semi-supervised members were worse on held-out "
    "frames (validation 11.4 vs 9.6 px after 220 steps, each step ~1.5x the cost); --semi "
    "trains it"
)


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
    ensemble_test_error: float
    uncertain_frames: pd.DataFrame
    posterior_std: pd.Series
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    traces_png: Path | None = None
    qc_png: Path | None = None
    qc_note: str = ""
    semi: bool = DEMO_SEMI
    steps: int = DEMO_STEPS


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
    members: int = DEMO_MEMBERS,
    steps: int = DEMO_STEPS,
    resize: int = DEMO_RESIZE,
    n_pick: int = 5,
    semi: bool = DEMO_SEMI,
    clip_frames: int = DEMO_CLIP_FRAMES,
    backbone: str = DEMO_BACKBONE,
    device: str | None = None,
    qc: bool = True,
    max_frames: int | None = None,
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
    resize
        Network input size in px (``data.image_resize_dims``, square); the sample's own
        config says 256: better keypoints, about 4x the time.
    n_pick
        New frames of the video to pick for labeling (k-means on thumbnails).
    semi
        Train semi-supervised (default): the temporal and multi-view PCA losses on unlabeled
        clips of the video besides the labeled frames (``DEMO_SEMI_LOSSES``); False trains
        supervised only.
    clip_frames
        Frames per unlabeled clip of a semi-supervised step.
    backbone
        ``model.backbone`` of the members.
    device
        ``"cpu"``, ``"cuda"``...; default: CUDA when available.
    qc
        Write ``traces.png`` and ``qc.png`` (the napari window, rendered under a virtual X
        server when there is no display).
    max_frames
        Predict only the first frames of the clip (tests); default all.
    log
        Where the stage summaries go.
    progress
        Show tqdm bars for training and prediction.
    """
    from napari_lightning_pose.ensemble.uncertainty import most_uncertain_frames, posterior_std
    from napari_lightning_pose.inference.evaluate import evaluate
    from napari_lightning_pose.inference.jobs import predict_and_smooth, train_ensemble
    from napari_lightning_pose.io.label_checks import count_labels
    from napari_lightning_pose.io.pose_csv import read_pose_csv
    from napari_lightning_pose.labeling.frames import pick_frames
    from napari_lightning_pose.labeling.project import Project
    from napari_lightning_pose.progress import run_with_tqdm

    if members < 2:
        raise LightningPoseInputError(None, "the ensemble needs at least 2 members.")
    out_dir = Path(out_dir).resolve()
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}
    clock, cpu_clock = time.perf_counter(), cpu_seconds()

    def lap(stage: str) -> None:
        nonlocal clock, cpu_clock
        now, cpu_now = time.perf_counter(), cpu_seconds()
        seconds[stage], cpu[stage] = now - clock, cpu_now - cpu_clock
        clock, cpu_clock = now, cpu_now

    log(f"1/7 project: copying the mirror-mouse sample to {out_dir / 'project'}")
    project = Project.open(prepare_project(out_dir))
    video = project.video_paths()[0]
    log(f"    {count_labels(project.read_labels())}; video {video.name}")

    log(f"2/7 frame selection: k-means on thumbnails picks {n_pick} new frames to label")
    picked = pick_frames(project, video, n_pick, method="kmeans", seed=0, context=0)
    log(f"    wrote {', '.join(picked)}")
    lap("project + frame selection")

    cfg = demo_config(project.config, resize, semi, clip_frames, backbone)
    kind = "semi-supervised" if semi else "supervised"
    log(
        f"3/7 training {members} {kind} members ({steps} steps each, {resize} x {resize} px, "
        f"{backbone})"
    )
    log(f"    {DEMO_MODE_NOTE if semi == DEMO_SEMI else kind + ', as asked'}")
    if semi:
        losses = cfg["model"]["losses_to_use"]
        log(f"    losses: supervised heatmap + {' + '.join(losses)} on unlabeled")
        strengths = ", ".join(f"{DEFAULT_STRENGTHS[n]:g}" for n in losses)
        log(f"    {clip_frames}-frame clips of the video, strengths {strengths} (balance.py)")
    models = out_dir / "models"
    events = train_ensemble(cfg, models, members, steps=steps, device=device)
    notable = run_with_tqdm(events, "ensemble", disable=not progress)
    checkpoints = [models / f"member{m}" / "last.ckpt" for m in range(members)]
    for ev in notable:
        if ev.event.kind == "done" and ev.event.val_pixel_error is not None:
            log(f"    member {ev.member}: validation error {ev.event.val_pixel_error:.2f} px")
    lap("training")

    clip = video
    if max_frames is not None:
        clip = _cut_clip(video, out_dir / "clip" / video.name, max_frames)
    log(
        f"4/7 predicting {clip.name} with each member, then 5/7 Ensemble Kalman Smoother "
        "(multi-view over the mirrored keypoints, auto smoothing)"
    )
    pred_dir = out_dir / "predictions" / clip.stem
    done = run_with_tqdm(
        predict_and_smooth(checkpoints, clip, pred_dir, device=device),
        "predict",
        unit="frame",
        disable=not progress,
    )
    final = [ev for ev in done if ev.kind == "done"][-1]
    member_csvs, smoothed_csv = final.member_csvs, final.smoothed_csv
    lap("prediction + EKS")

    log("6/7 evaluating each member on held-out labeled frames (original pixels)")
    test_errors, train_errors, test_predictions = [], [], []
    for m, ckpt in enumerate(checkpoints):
        result = evaluate(ckpt, cfg, splits=("test", "train"), device=device)
        test_errors.append(result.overall("test"))
        train_errors.append(result.overall("train"))
        test_rows = result.errors.index[result.errors["split"] == "test"]
        test_predictions.append(result.predictions.loc[test_rows])
        log(f"    member {m}: test {test_errors[-1]:.2f} px, train {train_errors[-1]:.2f} px")
    ensemble_error = ensemble_test_error(test_predictions, project.read_labels())
    log(f"    ensemble (members' mean): test {ensemble_error:.2f} px")
    lap("evaluation")

    smoothed = read_pose_csv(smoothed_csv, ("x", "y", "likelihood", "x_posterior_var"))
    std = posterior_std(smoothed)
    per_keypoint = std.median().sort_values()
    worst = most_uncertain_frames(smoothed, n=5, min_gap=10)
    log(f"    wrote {smoothed_csv}")
    log("    median posterior std per keypoint (px): " + _format_series(per_keypoint))
    log("    most uncertain frames (check these first):")
    for row in worst.itertuples(index=False):
        std_px = f"posterior std {row.posterior_std:.1f} px"
        log(f"      frame {row.frame:>4}  {row.keypoint:<14} {std_px}")

    traces_png = qc_png = None
    note = ""
    if qc:
        from napari_lightning_pose.viewer.demo_qc import render_qc

        log("7/7 QC pictures: traces with +-2 posterior SD bands, napari window with overlay")
        # the most and the least certain keypoint: a wide and a narrow band side by side
        shown = [str(per_keypoint.index[-1]), str(per_keypoint.index[0])]
        traces_png, qc_png, note = render_qc(
            clip,
            smoothed_csv,
            member_csvs,
            project.skeleton,
            out_dir,
            shown,
            frame=int(worst["frame"].iloc[0]),
            keypoint=str(worst["keypoint"].iloc[0]),
        )
        for path in (traces_png, qc_png):
            if path is not None:
                log(f"    wrote {path}")
        if note:
            log(f"    {note}")
        lap("QC pictures")
    return DemoResult(
        project=project.root,
        picked_frames=picked,
        checkpoints=checkpoints,
        member_csvs=member_csvs,
        smoothed_csv=smoothed_csv,
        test_errors=test_errors,
        train_errors=train_errors,
        ensemble_test_error=ensemble_error,
        uncertain_frames=worst,
        posterior_std=per_keypoint,
        seconds=seconds,
        cpu_seconds=cpu,
        traces_png=traces_png,
        qc_png=qc_png,
        qc_note=note,
        semi=semi,
        steps=steps,
    )


def ensemble_test_error(predictions: list[pd.DataFrame], labels: pd.DataFrame) -> float:
    """Mean pixel error on the held-out frames of the members' mean position per keypoint
    (``predictions``: each member's x, y, likelihood on the same test frames)."""
    from napari_lightning_pose.io.pose_csv import coords_array, keypoint_names

    names = keypoint_names(predictions[0])
    mean = np.mean([coords_array(p) for p in predictions], axis=0)  # (F, K, 2)
    truth = coords_array(labels.loc[predictions[0].index])
    order = [keypoint_names(labels).index(n) for n in names]
    return float(np.nanmean(np.linalg.norm(mean - truth[:, order], axis=-1)))


def cpu_seconds() -> float:
    """CPU seconds of this process and of its children that ended (data-loader workers,
    Xvfb): what a stage costs on a shared machine, whatever the others run."""
    import os

    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def demo_config(
    config: dict,
    resize: int,
    semi: bool,
    clip_frames: int = DEMO_CLIP_FRAMES,
    backbone: str = DEMO_BACKBONE,
) -> dict:
    """The sample project's config as the demo trains it (a copy; the project's file is not
    changed): ``resize`` px square input, ``kl`` heatmap loss, 10-step epochs, and the
    semi-supervised losses at the default strengths."""

    cfg = copy.deepcopy(config)
    cfg["data"]["image_resize_dims"] = {"height": int(resize), "width": int(resize)}
    cfg["model"]["heatmap_loss_type"] = DEMO_HEATMAP_LOSS
    cfg["model"]["backbone"] = backbone
    train_cfg = cfg["training"]
    train_cfg["steps_per_epoch"] = DEMO_STEPS_PER_EPOCH
    # head only for the first 10 steps; validation (2 frames) every 20 steps
    train_cfg["unfreezing_epoch"] = 1
    train_cfg["check_val_every_n_epoch"] = 2
    # no data-loader processes: on 2 cores they only add their start-up (each imports torch,
    # ~1 GB of memory) to the same work, decoding clips, done here between steps
    train_cfg["num_workers"] = 0
    if semi:
        cfg["model"]["losses_to_use"] = list(DEMO_SEMI_LOSSES)
        for name in DEMO_SEMI_LOSSES:
            cfg["losses"][name]["log_weight"] = log_weight_for(DEFAULT_STRENGTHS[name], cfg)
        dali = cfg.setdefault("dali", {}) or {}
        cfg["dali"] = dali
        dali.setdefault("base", {}).setdefault("train", {})["sequence_length"] = clip_frames
        # Lightning Pose's anneal (weight 0 -> 1 by 0.01 per epoch) reaches 1 after a third
        # of its 300 epochs; here after 100 steps, a third of the demo's 300
        callbacks = cfg.setdefault("callbacks", {}) or {}
        cfg["callbacks"] = callbacks
        callbacks["anneal_weight"] = {
            "init_val": 0.0, "increase_factor": 0.1, "final_val": 1.0, "freeze_until_epoch": 0
        }  # fmt: skip
    else:
        cfg["model"]["losses_to_use"] = []
    return cfg


def _cut_clip(video: Path, out: Path, n: int) -> Path:
    """The first ``n`` frames of ``video`` as a new mp4 (near-lossless), for quick runs."""
    import av

    from napari_lightning_pose.io.video import VideoReader

    out.parent.mkdir(parents=True, exist_ok=True)
    with VideoReader(video) as reader, av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=round(reader.fps))
        stream.height, stream.width = reader.shape[1:3]
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": "10"}
        for i in range(min(n, reader.n_frames)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(reader[i]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out


def _format_series(series: pd.Series) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in series.items() if np.isfinite(v))
