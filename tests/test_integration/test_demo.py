"""Smoke test of `napari-lightning-pose demo` with tiny settings: every stage runs and writes
what the README promises (smoothed CSV, traces.png, qc.png with the coloured overlay), with
the semi-supervised losses it trains by default; and the demo's config choices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from napari_lightning_pose import SAMPLE_DIR
from napari_lightning_pose.cli.demo import (
    DEMO_CLIP_FRAMES,
    DEMO_SEMI,
    DEMO_SEMI_LOSSES,
    demo_config,
    run_demo,
)
from napari_lightning_pose.errors import ConfigError, LightningPoseInputError
from napari_lightning_pose.io.pose_csv import coords_array, read_pose_csv
from napari_lightning_pose.losses.balance import DEFAULT_STRENGTHS, strength_of
from napari_lightning_pose.training import read_checkpoint


@pytest.mark.slow
def test_demo_runs_end_to_end_semi_supervised_with_tiny_settings(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    lines: list[str] = []
    result = run_demo(
        out,
        members=2,
        steps=12,  # past the 10 head-only steps: the whole network and the clips train
        resize=64,
        clip_frames=4,
        n_pick=2,
        semi=True,
        max_frames=24,
        device="cpu",
        progress=False,
        log=lines.append,
    )
    # semi-supervised by default: both members trained the unsupervised losses on clips
    for ckpt_path in result.checkpoints:
        ckpt, _ = read_checkpoint(ckpt_path)
        assert ckpt["step"] == 12
        assert ckpt["config"]["model"]["losses_to_use"] == list(DEMO_SEMI_LOSSES)
        metrics = pd.read_csv(ckpt_path.parent / "metrics.csv")
        for loss in DEMO_SEMI_LOSSES:
            assert np.isfinite(metrics[loss]).all()
        assert (metrics["anneal"] > 0).any()  # the unsupervised terms were switched on
    said = "\n".join(lines)
    assert "semi-supervised" in said and "pca_singleview" in said
    assert np.isfinite(result.ensemble_test_error)
    assert result.smoothed_csv == out / "predictions" / "test_vid" / "test_vid.eks.csv"
    table = read_pose_csv(result.smoothed_csv, ("x", "y", "x_posterior_var", "y_posterior_var"))
    assert len(table) == 24
    assert [p.name for p in result.member_csvs] == ["member0.csv", "member1.csv"]
    assert len(result.test_errors) == 2 and all(np.isfinite(result.test_errors))
    assert set(result.seconds) >= {"training", "prediction + EKS", "evaluation"}
    assert result.qc_note == ""
    traces = np.asarray(Image.open(result.traces_png))
    assert traces.shape[0] > 600  # two keypoints' panels
    qc = np.asarray(Image.open(result.qc_png))[..., :3]
    assert qc.shape[0] >= 700 and qc.shape[1] >= 1000
    # the legend's colour bar is in the window picture: its pale-yellow and red ends
    red = (qc[..., 0] > 200) & (qc[..., 1] < 40) & (qc[..., 2] < 60)
    pale = (qc[..., 0] > 240) & (qc[..., 1] > 240) & (qc[..., 2] > 150) & (qc[..., 2] < 200)
    assert red.sum() > 30 and pale.sum() > 30


@pytest.mark.slow
def test_demo_refuses_a_one_member_ensemble_and_a_foreign_folder(tmp_path: Path) -> None:
    with pytest.raises(LightningPoseInputError, match="at least 2"):
        run_demo(tmp_path, members=1, log=lambda _: None)
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(LightningPoseInputError, match="not made by the demo"):
        run_demo(tmp_path, members=2, log=lambda _: None)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_demo_config_semi_and_supervised() -> None:
    project = yaml.safe_load((SAMPLE_DIR / "config.yaml").read_text())
    semi = demo_config(project, 96, semi=True, clip_frames=6)
    assert semi["model"]["losses_to_use"] == ["temporal", "pca_singleview", "pca_multiview"]
    assert semi["model"]["heatmap_loss_type"] == "kl"
    for name in DEMO_SEMI_LOSSES:  # the default strength under kl at 96 px
        wanted = DEFAULT_STRENGTHS[name]
        assert strength_of(semi["losses"][name]["log_weight"], semi) == pytest.approx(wanted)
    assert semi["dali"]["base"]["train"]["sequence_length"] == 6
    assert semi["data"]["image_resize_dims"] == {"height": 96, "width": 96}
    supervised = demo_config(project, 96, semi=False)
    assert supervised["model"]["losses_to_use"] == []
    assert project["model"]["losses_to_use"] == []  # the project's own config is untouched
    assert "dali" not in project


def test_the_sample_fits_every_unsupervised_loss_and_20_frames_do_not() -> None:
    """The demo's losses all fit the bundled sample (40 training frames); its first 20
    frames (the sample's size before) fit no single-view pose PCA, and the core refuses it."""
    from napari_lightning_pose.io.config import load_config
    from napari_lightning_pose.io.labels import read_labels
    from napari_lightning_pose.losses.availability import unsupervised_availability
    from napari_lightning_pose.losses.factory import build_unsupervised_losses

    cfg = load_config(SAMPLE_DIR / "config.yaml")
    keypoints = coords_array(read_labels(SAMPLE_DIR / "CollectedData.csv"))
    assert len(keypoints) == 50
    assert all(a.ok for a in unsupervised_availability(cfg, keypoints).values())
    few = unsupervised_availability(cfg, keypoints[:20])
    assert not few["pca_singleview"].ok and few["pca_singleview"].more_frames > 0
    assert few["temporal"].ok and few["pca_multiview"].ok
    cfg["model"]["losses_to_use"] = ["pca_singleview"]
    with pytest.raises(ConfigError, match="too few labeled poses"):
        build_unsupervised_losses(cfg, keypoints[:16])


def test_demo_command_follows_the_measured_default_unless_told() -> None:
    from napari_lightning_pose.cli import build_parser

    args = build_parser().parse_args(["demo"])
    assert args.semi == DEMO_SEMI and args.clip_frames == DEMO_CLIP_FRAMES
    assert not build_parser().parse_args(["demo", "--supervised"]).semi
    assert build_parser().parse_args(["demo", "--semi"]).semi


_TRACES_OFFSCREEN = """
import sys
from pathlib import Path
from napari_lightning_pose.cli import main
from napari_lightning_pose.viewer.demo_qc import render_qc

out, *members = map(Path, sys.argv[1:])
smoothed = out / "smoothed.csv"
assert main(["smooth", *map(str, members), "--out", str(smoothed), "--smoothing", "10"]) == 0
traces, qc, note = render_qc(
    None, smoothed, members, [], out, ["paw1LH_top", "paw2LF_top"], keypoint="paw1LH_top"
)
print(f"TRACES={traces}")
print(f"QC={qc}")
print(f"NOTE={note}")
"""


def test_traces_picture_is_drawn_without_any_display(tmp_path: Path) -> None:
    """No X display and Qt's offscreen platform (a fresh server without Xvfb): the demo still
    writes traces.png (pyqtgraph draws offscreen) and says how to get qc.png."""
    import os
    import subprocess
    import sys

    members = sorted((Path(__file__).parents[1] / "fixtures" / "eks" / "members").glob("*.gz"))
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", _TRACES_OFFSCREEN, str(tmp_path), *map(str, members[:3])],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    assert said["TRACES"] == str(tmp_path / "traces.png") and said["QC"] == "None"
    assert "qc.png" in said["NOTE"] and "xvfb" in said["NOTE"].lower()
    traces = np.asarray(Image.open(tmp_path / "traces.png"))[..., :3]
    assert traces.shape[0] > 600 and traces.shape[1] >= 1000  # two keypoints' panels
    # drawn, not blank: the dark background and the orange smoothed line are both there
    orange = (traces[..., 0] > 200) & (traces[..., 1] > 80) & (traces[..., 2] < 80)
    assert orange.sum() > 100 and (traces.std(axis=(0, 1)) > 5).all()
