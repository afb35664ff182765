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


# Records which rank calls torch.save, then runs the CLI as torchrun would.
_DRIVER = """
import os, sys, torch
from pathlib import Path
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


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path: Path, blob_tools) -> None:
    """torchrun with 2 gloo processes: both finish, rank 0 alone writes checkpoints, and the
    weights equal a one-process run with the same global batch.

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
        },
    )
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER, encoding="utf-8")
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {**os.environ, "SAVE_LOG_DIR": str(logs), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        str(driver),
        "train",
        "--config",
        str(config),
        "--steps",
        "3",
        "--seed",
        "4",
        "--out",
        str(tmp_path / "ddp"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 processes" in proc.stderr  # the start message of rank 0
    saves = sorted(p.name for p in logs.iterdir())
    assert saves == ["saves_rank0.txt"]  # rank 1 never called torch.save
    assert (tmp_path / "ddp" / "last.ckpt").is_file()

    cfg = load_config(config)
    list(train(cfg, tmp_path / "single", steps=3, seed=4))
    ddp = torch.load(tmp_path / "ddp" / "last.ckpt", weights_only=True)
    one = torch.load(tmp_path / "single" / "last.ckpt", weights_only=True)
    assert ddp["step"] == one["step"] == 3
    for key, value in one["state_dict"].items():
        torch.testing.assert_close(ddp["state_dict"][key], value, atol=1e-5, rtol=1e-4, msg=key)
    # the tolerance is far below what one training step changes
    list(train(cfg, tmp_path / "shorter", steps=2, seed=4))
    two = torch.load(tmp_path / "shorter" / "last.ckpt", weights_only=True)["state_dict"]
    step_change = max((one["state_dict"][k] - two[k]).abs().max().item() for k in two)
    assert step_change > 5e-4  # Adam moves weights by about the learning rate (1e-3)


@pytest.mark.slow
def test_ddp_with_unlabeled_clips_matches_one_process(tmp_path: Path, blob_tools) -> None:
    """torchrun with 2 gloo processes and the unsupervised losses: both finish and the
    weights equal a one-process run that takes the same 2 clips per step.

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
        },
    )
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
    assert "2 processes" in proc.stderr and "2 clip(s) of 6 frames" in proc.stderr
    assert sorted(p.name for p in logs.iterdir()) == ["saves_rank0.txt"]

    cfg = load_config(config)
    events = list(train(cfg, tmp_path / "single", steps=3, seed=4))
    assert all(e.losses["temporal"] > 0 for e in events if e.kind == "step")
    ddp = torch.load(tmp_path / "ddp" / "last.ckpt", weights_only=True)
    one = torch.load(tmp_path / "single" / "last.ckpt", weights_only=True)
    assert ddp["step"] == one["step"] == 3
    for key, value in one["state_dict"].items():
        if key == "head.final.bias":
            # the spatial softmax ignores a per-heatmap constant, so this bias's gradient is
            # zero up to rounding, and Adam turns rounding noise into lr-sized steps (seen:
            # 5e-4 apart here); it changes no output
            continue
        torch.testing.assert_close(ddp["state_dict"][key], value, atol=1e-5, rtol=1e-4, msg=key)
    for name, fit in one["pca"].items():  # rank 0 saved the same PCA fit
        torch.testing.assert_close(ddp["pca"][name]["components"], fit["components"])
    # the unsupervised losses move the weights by more than the tolerance
    sup = {**cfg, "model": {**cfg["model"], "losses_to_use": []}}
    list(train(sup, tmp_path / "supervised", steps=3, seed=4))
    other = torch.load(tmp_path / "supervised" / "last.ckpt", weights_only=True)["state_dict"]
    assert max((other[k] - v).abs().max().item() for k, v in one["state_dict"].items()) > 1e-3
