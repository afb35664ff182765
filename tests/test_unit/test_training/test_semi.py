"""Semi-supervised runs: the unsupervised losses fall, resume is exact, every loss is logged
by name, and the PCA fits do not depend on the model's input size."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from napari_lightning_pose.data.unlabeled import UnlabeledClips
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.losses.pca import PCAFit
from napari_lightning_pose.losses.pca_losses import PCASingleviewLoss
from napari_lightning_pose.losses.temporal import TemporalLoss
from napari_lightning_pose.training import LAST_CKPT, METRICS_CSV, load_checkpoint, train

# 16 labeled 48 x 40 frames at 32 x 32 (12 train, batch 4), a 24-frame video, clips of 8
SMALL = {"n_frames": 16, "height": 40, "width": 48, "resize": 32, "n_video_frames": 24}
SEMI = {
    # the losses these tests were measured with, whatever the defaults become
    "model.heatmap_loss_type": "kl",
    "training.train_batch_size": 4,
    "dali.base.train.sequence_length": 8,
    "callbacks.anneal_weight.init_val": 1.0,  # the unsupervised losses count from step 1
    # weight 1 / (2 e^-2) = 3.7 (Lightning Pose's default log_weight 5 gives 0.003: a few
    # tiny steps would not show it); epsilon 0: every pixel of error counts
    "losses.temporal.log_weight": -2.0,
    "losses.temporal.epsilon": 0.0,
    "losses.pca_singleview.log_weight": -2.0,
    "losses.pca_singleview.epsilon": 0.0,
    "losses.pca_singleview.components_to_keep": 2,  # of 4 dims: poses can be off it
}


#: Steps of the runs compared in ``test_semi_supervised_run_lowers_its_unsupervised_loss``.
#: After 20 the effect was a matter of luck over seeds and CPUs; the numbers after 50 are in
#: the test's docstring.
LOWER_STEPS = 50


def _project(root: Path, blob_tools, losses: list[str], **more) -> dict:
    config = blob_tools.make_project(root, **SMALL, **{**SEMI, **more})
    cfg = load_config(config)
    cfg["model"]["losses_to_use"] = losses
    return cfg


@pytest.fixture(scope="module")
def lowered(module_tmp: Path, blob_tools) -> dict[str, list[float]]:
    """Unsupervised losses on one fixed clip after ``LOWER_STEPS`` steps of: a supervised run,
    and a semi-supervised run with each unsupervised loss (same seed, same labeled batches)."""
    root = module_tmp
    cfg = _project(root / "proj", blob_tools, [])
    fit_cfg = {**cfg, "model": {**cfg["model"], "losses_to_use": ["pca_singleview"]}}
    list(train(fit_cfg, root / "fit", steps=1))  # only to get the PCA fit of the labels
    fit = PCAFit.from_state(torch.load(root / "fit" / LAST_CKPT)["pca"]["pca_singleview"])
    losses = [TemporalLoss(None, 0.0, 0.0), PCASingleviewLoss(fit)]
    video = root / "proj" / "videos" / "blobs.mp4"
    clip = UnlabeledClips([video], 8, (32, 32))[(0, 0, 0)]  # frames 0-7, no augmentation
    values = {}
    for name, used in (("supervised", []), ("temporal", ["temporal"]),
                       ("pca_singleview", ["pca_singleview"])):  # fmt: skip
        run_cfg = {**cfg, "model": {**cfg["model"], "losses_to_use": used}}
        list(train(run_cfg, root / name, steps=LOWER_STEPS, seed=0))
        model, _, _ = load_checkpoint(root / name / LAST_CKPT)
        with torch.no_grad():
            out = {k: v[None] for k, v in model(clip["images"]).items()}  # (1, 8, ...)
        values[name] = [
            float(loss.compute(out, {"scale": clip["scale"][None]})) for loss in losses
        ]
    return values


@pytest.mark.slow
@pytest.mark.parametrize(
    ("loss", "column", "at_most"), [("temporal", 0, 0.9), ("pca_singleview", 1, 0.9)]
)
def test_semi_supervised_run_lowers_its_unsupervised_loss(
    lowered, loss: str, column: int, at_most: float
):
    """With the same seed and labeled batches, the run that also trains an unsupervised loss
    ends with that loss (measured in original pixels on a fixed clip, model in eval mode, as
    prediction runs it) below ``at_most`` x the supervised run's.

    The bounds hold over seeds and CPUs, not for one machine's run. Semi / supervised after
    ``LOWER_STEPS`` = 50 steps, seeds 0, 1, 2 (this test uses seed 0), on a 2-core AMD EPYC
    Zen 4 with AVX-512, and the same with AVX2 only (ATEN_CPU_CAPABILITY=avx2
    ONEDNN_MAX_CPU_ISA=AVX2):

    - temporal: 0.28, 0.00, 0.00 (AVX-512); 0.00, 0.74, 0.78 (AVX2). Bimodal: the run
      either learns to move smoothly or is still on its way; bound 0.9.
    - pca_singleview: 0.01, 0.02, 0.23 (AVX-512); 0.02, 0.05, 0.35 (AVX2) before the
      supervised heatmap loss took Lightning Pose's weight 1/2 (issue 21); with it 0.20,
      0.02, 0.23 (AVX-512) and 0.80, 0.05, 0.38 (AVX2); bound 0.9.

    After 20 steps (the earlier version of this test, bound 0.75) it was luck: temporal
    0.00-1.38, pca_singleview 0.52-2.66 (0.79 with AVX2, seed 0: 1.89 vs 2.40 px, as in issue 19).
    """
    supervised, semi = lowered["supervised"][column], lowered[loss][column]
    assert supervised > 1.0  # the supervised model's predictions do break the constraint
    assert semi < at_most * supervised, lowered


@pytest.mark.slow
def test_resumed_semi_supervised_run_equals_the_uninterrupted_one(
    tmp_path: Path, blob_tools
) -> None:
    """Clip choice and clip augmentation depend only on (seed, step), so a run stopped after
    2 steps and resumed to 4 ends with the weights and metrics of an uninterrupted 4-step
    run, to the bit on the CPU."""
    cfg = _project(
        tmp_path / "proj", blob_tools, ["temporal", "pca_singleview"],
        **{"training.steps_per_epoch": 2, "training.imgaug": "dlc",
           "callbacks.anneal_weight.init_val": 0.5,
           "callbacks.anneal_weight.increase_factor": 0.25},
    )  # fmt: skip
    whole = list(train(cfg, tmp_path / "whole", steps=4, seed=3))
    stop = threading.Event()  # the user stops the run after 2 steps, then resumes it
    for event in train(cfg, tmp_path / "parts", steps=4, seed=3, stop=stop):
        if event.kind == "step" and event.step == 2:
            stop.set()
    assert event.kind == "stopped" and event.step == 2
    rest = list(train(cfg, tmp_path / "parts", steps=4, seed=3, resume=True))
    a = torch.load(tmp_path / "whole" / LAST_CKPT, weights_only=True)
    b = torch.load(tmp_path / "parts" / LAST_CKPT, weights_only=True)
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    steps_a = [e.losses for e in whole if e.kind == "step"][2:]
    steps_b = [e.losses for e in rest if e.kind == "step"]
    assert steps_a == steps_b
    assert all(s["temporal"] > 0 and s["pca_singleview"] > 0 for s in steps_a)
    assert [s["anneal"] for s in steps_a] == [0.75, 0.75]  # epoch 1: 0.5 + 0.25
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "whole" / METRICS_CSV),
        pd.read_csv(tmp_path / "parts" / METRICS_CSV),
    )
    # the unsupervised losses did move the weights: a supervised twin ends elsewhere
    sup = {**cfg, "model": {**cfg["model"], "losses_to_use": []}}
    list(train(sup, tmp_path / "sup", steps=4, seed=3))
    c = torch.load(tmp_path / "sup" / LAST_CKPT, weights_only=True)["state_dict"]
    assert max((c[k] - v).abs().max().item() for k, v in a["state_dict"].items()) > 1e-4


@pytest.mark.slow
def test_metrics_csv_and_events_carry_every_loss_by_name(tmp_path: Path, blob_tools) -> None:
    cfg = _project(
        tmp_path / "proj", blob_tools, ["temporal", "pca_singleview", "pca_multiview"],
        **{"data.mirrored_column_matches": [[0], [1]], "training.steps_per_epoch": 2},
    )  # fmt: skip
    events = list(train(cfg, tmp_path / "run", steps=4))
    names = {"heatmap_kl", "temporal", "pca_singleview", "pca_multiview", "total", "anneal"}
    steps = [e for e in events if e.kind == "step"]
    assert len(steps) == 4
    for event in steps:
        assert set(event.losses) == names
        parts = sum(v for k, v in event.losses.items() if k not in ("total", "anneal"))
        assert event.losses["total"] == pytest.approx(parts, rel=1e-5)
    metrics = pd.read_csv(tmp_path / "run" / METRICS_CSV)
    assert names | {"epoch", "step", "lr", "val_pixel_error"} == set(metrics.columns)
    assert list(metrics["step"]) == [2, 4]
    for name in names:  # each row is the mean over its epoch's steps
        expected = [np.mean([e.losses[name] for e in steps[i : i + 2]]) for i in (0, 2)]
        np.testing.assert_allclose(metrics[name], expected, rtol=1e-6)


@pytest.mark.slow
def test_pca_epsilons_in_pixels_do_not_depend_on_the_resize(tmp_path: Path, blob_tools) -> None:
    """The PCA fits are made in original image pixels, so a data-derived epsilon (and the
    subspace) stay the same whatever ``data.image_resize_dims`` is."""
    fits = []
    for size in (32, 64):
        cfg = _project(
            tmp_path / f"proj{size}", blob_tools, ["pca_singleview", "pca_multiview"],
            **{"data.mirrored_column_matches": [[0], [1]],
               "losses.pca_singleview.epsilon": None, "losses.pca_multiview.epsilon": None},
        )  # fmt: skip
        cfg["data"]["image_resize_dims"] = {"height": size, "width": size}
        list(train(cfg, tmp_path / f"run{size}", steps=1))
        fits.append(torch.load(tmp_path / f"run{size}" / LAST_CKPT)["pca"])
    for name in ("pca_singleview", "pca_multiview"):
        small, large = (PCAFit.from_state(f[name]) for f in fits)
        assert small.epsilon > 1.0  # a real, data-derived number of pixels
        assert small.epsilon == pytest.approx(large.epsilon, rel=1e-9)
        np.testing.assert_allclose(small.mean, large.mean)
        np.testing.assert_allclose(small.components, large.components)


def test_too_few_poses_for_the_pose_pca_says_how_many_frames_to_label(
    sample_copy: Path, tmp_path: Path
) -> None:
    """The sample's first 20 frames fit no single-view pose PCA: training stops before its
    first step, and says how many more fully labeled frames it needs (the Train dock's count)."""
    from napari_lightning_pose.errors import ConfigError
    from napari_lightning_pose.io.labels import read_labels, write_labels
    from napari_lightning_pose.io.pose_csv import coords_array
    from napari_lightning_pose.losses.availability import unsupervised_availability

    csv = sample_copy / "CollectedData.csv"
    write_labels(read_labels(csv).iloc[:20], csv)
    cfg = load_config(sample_copy / "config.yaml")
    cfg["model"]["losses_to_use"] = ["temporal", "pca_singleview"]
    more = unsupervised_availability(cfg, coords_array(read_labels(csv)))["pca_singleview"]
    assert more.more_frames > 0
    with pytest.raises(ConfigError, match="too few labeled poses") as err:
        list(train(cfg, tmp_path / "run", steps=1))
    assert f"still needed: pca_singleview {more.more_frames} (20 labeled now)" in str(err.value)
    assert not (tmp_path / "run" / LAST_CKPT).exists()
