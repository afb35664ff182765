"""Scale-out: ranks and devices from the environment, sharding, and real DDP training."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from napari_lightning_pose import distributed
from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.training import train


def test_shard_gives_every_item_to_exactly_one_rank() -> None:
    items = [f"video{i}.mp4" for i in range(7)]
    shards = [distributed.shard(items, r, 3) for r in range(3)]
    assert shards[0] == ["video0.mp4", "video3.mp4", "video6.mp4"]
    assert sorted(item for s in shards for item in s) == sorted(items)
    assert {len(s) for s in shards} == {2, 3}
    assert distributed.shard(items, 0, 1) == items
    assert distributed.shard(items[:1], 1, 2) == []
    with pytest.raises(ValueError, match="rank 2"):
        distributed.shard(items, 2, 2)


def test_ranks_come_from_torchrun_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    assert distributed.env_ranks() == (0, 1, 0)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.env_ranks() == (3, 4, 1)


def test_single_process_needs_no_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = distributed.init_distributed("cpu")
    assert (info.rank, info.world_size, info.is_main, info.is_distributed) == (0, 1, True, False)
    assert not torch.distributed.is_initialized()
    assert distributed.any_flags(info, [False, True]) == [False, True]


def test_device_choice() -> None:
    assert distributed.resolve_device(None, "cpu") == torch.device("cpu")
    assert distributed.resolve_device("cpu", "gpu") == torch.device("cpu")  # explicit wins
    with pytest.raises(ConfigError, match=r"accelerator.*tpu"):
        distributed.resolve_device(None, "tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            distributed.resolve_device(None, "gpu")
        with pytest.raises(ConfigError, match="CUDA is not available"):
            distributed.resolve_device("cuda")
        assert distributed.resolve_device(None, "auto") == torch.device("cpu")


#: Relative tolerance of a DDP run's weights against one process's, as a fraction of how far
#: training moved them (derivation in ``_assert_same_training``).
DDP_RTOL = 1e-2
#: SGD's learning rate in these comparisons: the weights move by ~0.1 in 3 steps, far above
#: float32's resolution of them, and the runs stay stable.
SGD_LR = 1.0


def _sgd(params, lr):
    """Adam's stand-in for the exactness checks: a weight's error is lr x its gradient's."""
    return torch.optim.SGD(params, lr=lr)


def _weights(ckpt: dict) -> dict[str, torch.Tensor]:
    """The trained tensors of a checkpoint (BatchNorm's running statistics are frozen)."""
    return {
        k: v.double()
        for k, v in ckpt["state_dict"].items()
        if v.is_floating_point() and not k.endswith(("running_mean", "running_var"))
    }


def _distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return float(sum(((a[k] - b[k]) ** 2).sum() for k in a) ** 0.5)


def _assert_same_training(ddp: dict, one: dict, after_first_step: dict) -> float:
    """The DDP run's weights equal the one-process run's up to float32 rounding; returns the
    tolerance used.

    Why this tolerance. In exact arithmetic the mean of the two ranks' half-batch gradients
    (DDP's all-reduce) is the one-process gradient. In float32 the sums run in another order:
    the all-reduce adds two partial sums, and oneDNN picks other kernels (other blockings,
    other accumulation orders) for a batch of 2 than for 4, and for AVX2 than for AVX-512.
    A gradient entry sums n terms (batch x pixels x channels, 10^3-10^4 here); reordering it
    changes it by up to about sqrt(n) u sum|terms| (u = 2^-24 = 6e-8), which, relative to the
    gradient, is that times the cancellation sum|terms| / |sum terms| (10^2-10^3 late in a
    reduction): ~1e-4-1e-3 of the step.

    The optimiser decides what that does to the weights. Adam divides each gradient entry
    by its own running magnitude: its first steps are lr x sign(g), so an entry whose true
    gradient is zero or at rounding level (head.final.bias: the spatial softmax ignores a
    constant, so its gradient is exactly zero in exact arithmetic) moves by +-lr on the sign
    of its rounding error, and two correct runs differ by up to 2 lr per step, as much as
    training moves anything. No weight tolerance below the step size holds under Adam (this
    is what failed on an AVX2-only EPYC). So both runs use SGD (``_sgd``; Adam is applied
    per rank to the already-averaged gradient, so DDP's part, the averaging, is what is
    tested). With SGD the weights' error is lr times the sum of the steps' gradient errors,
    plus its growth through the later steps (a factor 1 + lr |H| per step, near 1 for these
    small stable steps): ||w_ddp - w_one|| <~ 1e-3 ||w_one(T) - w_one(1)|| by the estimate
    above. ``DDP_RTOL`` = 1e-2 leaves a factor 10 over it and is still far below what a DDP
    mistake gives (a rank's half-batch or clip left out, or gradients summed rather than
    averaged, changes the step by tens of percent or more).

    Measured (this test's configuration, 3 steps): 3.8e-6 of the movement on AVX-512 (AMD
    EPYC Zen 4), 1.2e-4 with AVX2 (the same CPU with ATEN_CPU_CAPABILITY=avx2
    ONEDNN_MAX_CPU_ISA=AVX2).
    """
    a, b, first = _weights(ddp), _weights(one), _weights(after_first_step)
    assert a.keys() == b.keys()
    tolerance = DDP_RTOL * _distance(b, first)
    assert tolerance > 0
    assert _distance(a, b) <= tolerance, (_distance(a, b), _distance(b, first))
    return tolerance


# Records which rank calls torch.save, swaps Adam for SGD (see ``_sgd``), then runs the CLI
# as torchrun would.
_DRIVER = """
import os, sys, torch
from pathlib import Path
torch.optim.Adam = lambda params, lr: torch.optim.SGD(params, lr=lr)
_save = torch.save
def _recording_save(obj, f, *args, **kwargs):
    log_file = Path(os.environ["SAVE_LOG_DIR"]) / f"saves_rank{os.environ['RANK']}.txt"
    with open(log_file, "a") as log:
        log.write(f"{f}\\n")
    return _save(obj, f, *args, **kwargs)
torch.save = _recording_save
from napari_lightning_pose.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _torchrun_train(tmp_path: Path, config: Path) -> tuple[str, list[str]]:
    """Train ``config`` for 3 steps (seed 4) with torchrun, 2 gloo processes, into
    ``tmp_path / "ddp"``; assert it finished. Returns rank 0's log (stderr) and the names of
    the per-rank files of ``torch.save`` calls."""
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER, encoding="utf-8")
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {**os.environ, "SAVE_LOG_DIR": str(logs), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
        str(driver), "train", "--config", str(config), "--steps", "3", "--seed", "4",
        "--out", str(tmp_path / "ddp"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stderr, sorted(p.name for p in logs.iterdir())


def _one_process_matches(
    tmp_path: Path, cfg: dict, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict, dict, list, float]:
    """Train ``cfg`` as ``_torchrun_train`` did, in this one process (and 1 step, for the
    tolerance), and assert the torchrun checkpoint matches (``_assert_same_training``).
    Returns the torchrun and the one-process checkpoints, the one-process run's events and
    the tolerance."""
    monkeypatch.setattr(torch.optim, "Adam", _sgd)  # as the driver does in torchrun's ranks
    events = list(train(cfg, tmp_path / "single", steps=3, seed=4))
    list(train(cfg, tmp_path / "first", steps=1, seed=4))
    ddp = torch.load(tmp_path / "ddp" / "last.ckpt", weights_only=True)
    one = torch.load(tmp_path / "single" / "last.ckpt", weights_only=True)
    first = torch.load(tmp_path / "first" / "last.ckpt", weights_only=True)
    assert ddp["step"] == one["step"] == 3
    return ddp, one, events, _assert_same_training(ddp, one, first)


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_matches_one_process(
    tmp_path: Path, blob_tools, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torchrun with 2 gloo processes: both finish, rank 0 alone writes checkpoints, and the
    weights equal a one-process run with the same global batch, up to float32 rounding
    (SGD and the tolerance: ``_assert_same_training``).

    Why they can be equal: each rank takes half of every global batch (the same frames, with
    the same augmentation seeds, as the single process); the heatmap loss is a mean over
    the labeled keypoints of a batch, and every synthetic frame has all keypoints labeled, so
    the mean of the two half-batch gradients that DDP all-reduces equals the full-batch
    gradient. BatchNorm would normalise each half with its own statistics (SyncBatchNorm
    needs GPUs), so the config freezes BatchNorm (``training.freeze_batchnorm``). The first
    epoch (2 steps) trains the head alone (``training.unfreezing_epoch``), so the backbone
    joins DDP's gradient averaging mid-run.
    """
    config = blob_tools.make_project(
        tmp_path / "proj",
        n_frames=12,
        height=40,
        width=48,
        resize=32,
        n_video_frames=2,
        **{
            "training.train_batch_size": 4,
            "training.freeze_batchnorm": True,
            "training.unfreezing_epoch": 1,
            "training.imgaug": "default",
            "training.optimizer_params": {"learning_rate": SGD_LR},
            "model.heatmap_loss_type": "kl",
        },
    )
    stderr, saves = _torchrun_train(tmp_path, config)
    assert "2 processes" in stderr  # the start message of rank 0
    assert saves == ["saves_rank0.txt"]  # rank 1 never called torch.save
    assert (tmp_path / "ddp" / "last.ckpt").is_file()

    cfg = load_config(config)
    _ddp, one, _events, tolerance = _one_process_matches(tmp_path, cfg, monkeypatch)
    # the tolerance is far below what the last training step changes
    list(train(cfg, tmp_path / "shorter", steps=2, seed=4))
    two = torch.load(tmp_path / "shorter" / "last.ckpt", weights_only=True)
    assert _distance(_weights(one), _weights(two)) > 10 * tolerance


@pytest.mark.slow
def test_ddp_with_unlabeled_clips_matches_one_process(
    tmp_path: Path, blob_tools, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torchrun with 2 gloo processes and the unsupervised losses: both finish and the
    weights equal a one-process run that takes the same 2 clips per step, up to float32
    rounding (SGD and the tolerance: ``_assert_same_training``).

    Each rank decodes 1 of the step's 2 clips (``clip_keys``: clip c goes to rank c % 2) and
    half the labeled batch. The unsupervised losses are means over equally many terms per
    clip (``prob_threshold`` 0: no pair is left out), so DDP's average of the two ranks'
    gradients is the one-process gradient; BatchNorm is frozen as in the test above.
    """
    config = blob_tools.make_project(
        tmp_path / "proj",
        n_frames=16,
        height=40,
        width=48,
        resize=32,
        n_video_frames=20,
        **{
            "training.train_batch_size": 4,
            "training.freeze_batchnorm": True,
            "training.unlabeled_clips_per_step": 2,
            "model.losses_to_use": ["temporal", "pca_singleview"],
            "dali.base.train.sequence_length": 6,
            "callbacks.anneal_weight.init_val": 1.0,
            "losses.temporal.log_weight": -1.0,
            "losses.temporal.epsilon": 0.0,
            "losses.temporal.prob_threshold": 0.0,
            "losses.pca_singleview.log_weight": -1.0,
            "losses.pca_singleview.epsilon": 0.0,
            "losses.pca_singleview.components_to_keep": 2,
            "training.optimizer_params": {"learning_rate": SGD_LR},
            "model.heatmap_loss_type": "kl",
        },
    )
    stderr, saves = _torchrun_train(tmp_path, config)
    assert "2 processes" in stderr and "2 clip(s) of 6 frames" in stderr
    assert saves == ["saves_rank0.txt"]

    cfg = load_config(config)
    ddp, one, events, tolerance = _one_process_matches(tmp_path, cfg, monkeypatch)
    assert all(e.losses["temporal"] > 0 for e in events if e.kind == "step")
    for name, fit in one["pca"].items():  # rank 0 saved the same PCA fit
        torch.testing.assert_close(ddp["pca"][name]["components"], fit["components"])
    # the unsupervised losses move the weights by far more than the tolerance
    sup = {**cfg, "model": {**cfg["model"], "losses_to_use": []}}
    list(train(sup, tmp_path / "supervised", steps=3, seed=4))
    other = torch.load(tmp_path / "supervised" / "last.ckpt", weights_only=True)
    assert _distance(_weights(other), _weights(one)) > 10 * tolerance


def _two_camera_blobs(root: Path, blob_tools) -> Path:
    """A blob project (the red blob moves in the top half, the green one in the bottom half,
    every frame fully labeled) split at its middle row into two cameras ``top`` / ``bottom``
    with one keypoint ``blob`` (``interop.mirror_split``); returns the split config."""
    import yaml

    from napari_lightning_pose.interop.mirror_split import split_mirrored_project

    config = blob_tools.make_project(
        root / "proj", n_frames=16, height=80, width=48, resize=32, n_video_frames=20,
        **{"data.mirrored_column_matches": [[0], [1]]},
    )  # fmt: skip
    csv = config.parent / "CollectedData.csv"
    csv.write_text(csv.read_text().replace("red", "blob_top").replace("green", "blob_bot"))
    cfg = yaml.safe_load(config.read_text())
    cfg["data"]["keypoint_names"] = ["blob_top", "blob_bot"]
    config.write_text(yaml.safe_dump(cfg))
    return split_mirrored_project(config, root / "split", split_row=40).config


@pytest.mark.slow
def test_ddp_across_cameras_matches_one_process(
    tmp_path: Path, blob_tools, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torchrun with 2 gloo processes on a two-camera project with the cross-camera
    ``pca_multiview`` and ``temporal``: the weights equal a one-process run up to float32
    rounding (``_assert_same_training``).

    Each rank takes half of the labeled batch (view-frames, every keypoint labeled) and 1 of
    the step's 2 session clips, each clip both views' frames in step: a clip's views never
    split across ranks, and every clip adds equally many terms to the losses' means, so the
    two ranks' averaged gradients are the one-process gradient.
    """
    import yaml

    config = _two_camera_blobs(tmp_path, blob_tools)
    cfg = yaml.safe_load(config.read_text())
    cfg["training"].update(
        train_batch_size=4, freeze_batchnorm=True, unlabeled_clips_per_step=2,
        optimizer_params={"learning_rate": SGD_LR},
    )  # fmt: skip
    cfg["model"].update(losses_to_use=["temporal", "pca_multiview"], heatmap_loss_type="kl")
    cfg["dali"] = {"base": {"train": {"sequence_length": 6}}}
    cfg["callbacks"] = {"anneal_weight": {"init_val": 1.0}}
    # epsilon 0.5 px, not 0: an untrained head pins some keypoints, and the gradient of a jump
    # of ~1e-6 px is a unit vector whose direction is rounding noise (measured: the runs then
    # differed by 1 % of training's movement, with exact gradients at the first step)
    cfg["losses"]["temporal"].update(log_weight=-1.0, epsilon=0.5, prob_threshold=0.0)
    cfg["losses"]["pca_multiview"].update(log_weight=-1.0, epsilon=0.0)
    config.write_text(yaml.safe_dump(cfg))
    stderr, saves = _torchrun_train(tmp_path, config)
    assert "2 processes" in stderr and "2 clip(s) of 6 frames" in stderr
    assert saves == ["saves_rank0.txt"]

    cfg = load_config(config)
    _ddp, one, events, tolerance = _one_process_matches(tmp_path, cfg, monkeypatch)
    assert all(e.losses["pca_multiview"] > 0 for e in events if e.kind == "step")
    assert tuple(one["pca"]["pca_multiview"]["columns"].shape) == (2, 1)
    # the cross-camera loss moves the weights by far more than the tolerance
    without = {**cfg, "model": {**cfg["model"], "losses_to_use": ["temporal"]}}
    list(train(without, tmp_path / "temporal", steps=3, seed=4))
    other = torch.load(tmp_path / "temporal" / "last.ckpt", weights_only=True)
    assert _distance(_weights(other), _weights(one)) > 10 * tolerance
