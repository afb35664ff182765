"""The training loop: events, checkpoints, resume, stop, NaN handling, determinism, bad input."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from napari_lightning_pose.data.labeled import build_datasets
from napari_lightning_pose.errors import ConfigError, LabelsError
from napari_lightning_pose.io.config import load_config, validate_config
from napari_lightning_pose.losses.base import Loss
from napari_lightning_pose.models.factory import build_model
from napari_lightning_pose.training import (
    BEST_CKPT,
    LAST_CKPT,
    CheckpointError,
    TrainEvent,
    TrainingDivergedError,
    load_checkpoint,
    train,
)
from napari_lightning_pose.training import setup as setup_mod
from napari_lightning_pose.training.checkpoints import seed_everything
from napari_lightning_pose.training.evaluation import pixel_errors
from napari_lightning_pose.training.sampling import StepBatchSampler
from napari_lightning_pose.training.schedules import (
    backbone_lr_ratio,
    learning_rate_at,
    resolve_milestones,
)


def _run(cfg: dict, out: Path, **kwargs) -> list[TrainEvent]:
    return list(train(cfg, out, **kwargs))


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def _assert_same_weights(a: Path, b: Path, atol: float = 0.0) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], atol=atol, rtol=0, msg=key)


# ------------------------------------------------------------------------- events and files
def test_events_files_and_learning_rate_schedule(tiny_cfg: dict, tmp_path: Path) -> None:
    tiny_cfg["training"]["lr_scheduler_params"]["multisteplr"]["milestones"] = [3]
    out = tmp_path / "run"
    events = _run(tiny_cfg, out, steps=5, seed=1)

    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    steps = [e for e in events if e.kind == "step"]
    assert [e.step for e in steps] == [1, 2, 3, 4, 5]
    assert all(e.total_steps == 5 and e.eta_s is not None for e in steps)
    assert all({"heatmap_mse", "total"} <= e.losses.keys() for e in steps)
    # milestone at step 3: steps 1-3 (0-based 0-2) at 1e-3, then halved
    assert [e.lr for e in steps] == pytest.approx([1e-3] * 3 + [5e-4] * 2)
    # an epoch is one pass (2 steps): validation + checkpoint after steps 2, 4 and the end
    assert [e.step for e in events if e.kind == "checkpoint"] == [2, 4, 5]
    vals = [e for e in events if e.kind == "validation"]
    assert len(vals) == 3 and all(e.val_pixel_error > 0 for e in vals)
    assert events[-1].checkpoint == out / LAST_CKPT
    assert events[-1].val_pixel_error == vals[-1].val_pixel_error

    assert (out / LAST_CKPT).is_file() and (out / BEST_CKPT).is_file()
    run_cfg = load_config(out / "config.yaml")
    assert run_cfg["training"]["max_steps"] == 5
    assert run_cfg["training"]["rng_seed_model_pt"] == 1
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics["step"]) == [2, 4, 5]
    assert np.isfinite(metrics["heatmap_mse"]).all()

    ckpt = torch.load(out / LAST_CKPT, weights_only=True)
    assert ckpt["step"] == 5 and ckpt["keypoint_names"] == ["red", "green"]
    assert {"state_dict", "optimizer", "scheduler", "rng", "config"} <= ckpt.keys()
    best = torch.load(out / BEST_CKPT, weights_only=True)
    assert best["val_pixel_error"] == min(e.val_pixel_error for e in vals)


def test_checkpoint_round_trip_reproduces_the_trained_model(tiny_cfg: dict, tmp_path) -> None:
    events = _run(tiny_cfg, tmp_path / "run", steps=2)
    model, cfg, meta = load_checkpoint(tmp_path / "run" / LAST_CKPT)
    assert not model.training
    assert meta["step"] == 2 and meta["keypoint_names"] == ["red", "green"]
    # the loaded model reproduces the validation error the training run measured in memory
    val = torch.utils.data.DataLoader(build_datasets(cfg)["val"], batch_size=4)
    errors, _, _ = pixel_errors(model, val, torch.device("cpu"))
    assert float(np.nanmean(errors)) == pytest.approx(events[-1].val_pixel_error, abs=1e-9)
    # and loading twice gives identical outputs
    again, _, _ = load_checkpoint(tmp_path / "run")  # a folder means its best.ckpt
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x)["keypoints"], again(x)["keypoints"])


@pytest.mark.slow  # trains several runs: the fast lane leaves it out (issue 19)
def test_same_seed_same_run_other_seed_other_run(tiny_cfg: dict, tmp_path: Path) -> None:
    tiny_cfg["training"]["imgaug"] = "default"  # augmentation must be seeded too
    a = _run(tiny_cfg, tmp_path / "a", steps=3, seed=7)
    b = _run(tiny_cfg, tmp_path / "b", steps=3, seed=7)
    c = _run(tiny_cfg, tmp_path / "c", steps=3, seed=8)
    losses = [[e.losses["total"] for e in run if e.kind == "step"] for run in (a, b, c)]
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]
    _assert_same_weights(tmp_path / "a" / LAST_CKPT, tmp_path / "b" / LAST_CKPT)


# ------------------------------------------------------------------------- resume and stop
@pytest.mark.slow  # trains several runs: the fast lane leaves it out (issue 19)
def test_resume_continues_exactly(tiny_cfg: dict, tmp_path: Path) -> None:
    """train(2N) equals train(N) + resume to 2N: same losses, same weights."""
    tiny_cfg["training"]["imgaug"] = "default"
    tiny_cfg["training"]["lr_scheduler_params"]["multisteplr"]["milestones"] = [4]
    full = _run(tiny_cfg, tmp_path / "full", steps=6, seed=3)
    half = _run(tiny_cfg, tmp_path / "split", steps=3, seed=3)  # stops mid-epoch
    rest = _run(tiny_cfg, tmp_path / "split", steps=6, seed=3, resume=True)

    def steps(events):
        return [e for e in events if e.kind == "step"]

    assert rest[0].kind == "start" and rest[0].step == 3
    resumed = steps(half) + steps(rest)
    assert [e.step for e in resumed] == [e.step for e in steps(full)] == [1, 2, 3, 4, 5, 6]
    assert [e.lr for e in resumed] == [e.lr for e in steps(full)]
    losses = [e.losses["total"] for e in steps(full)]
    assert [e.losses["total"] for e in resumed] == pytest.approx(losses, rel=1e-6)
    _assert_same_weights(tmp_path / "full" / LAST_CKPT, tmp_path / "split" / LAST_CKPT)


@pytest.mark.slow  # trains several runs: the fast lane leaves it out (issue 19)
def test_stop_event_stops_within_one_step_and_resume_finishes(
    tiny_cfg: dict, tmp_path: Path
) -> None:
    stop = threading.Event()
    out = tmp_path / "run"
    events = []
    for event in train(tiny_cfg, out, steps=5, seed=2, stop=stop):
        events.append(event)
        if event.kind == "step" and event.step == 3:
            stop.set()
    assert events[-1].kind == "stopped"
    assert events[-2].kind == "step" and events[-2].step == 3
    assert events[-1].step == 3 and events[-1].checkpoint == out / LAST_CKPT
    _, _, meta = load_checkpoint(out / LAST_CKPT)
    assert meta["step"] == 3

    rest = _run(tiny_cfg, out, steps=5, seed=2, resume=True)
    assert rest[-1].kind == "done" and rest[-1].step == 5
    _run(tiny_cfg, tmp_path / "uninterrupted", steps=5, seed=2)
    _assert_same_weights(out / LAST_CKPT, tmp_path / "uninterrupted" / LAST_CKPT)


def test_closing_the_generator_leaves_a_usable_checkpoint(tiny_cfg: dict, tmp_path) -> None:
    gen = train(tiny_cfg, tmp_path / "run", steps=50, stop=lambda: False)
    for event in gen:
        if event.kind == "step" and event.step == 1:
            break
    gen.close()
    _, _, meta = load_checkpoint(tmp_path / "run" / LAST_CKPT)
    assert meta["step"] == 1


def test_resume_without_checkpoint_is_a_clear_error(tiny_cfg: dict, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"last\.ckpt.*not found"):
        _run(tiny_cfg, tmp_path / "empty", steps=2, resume=True)


def test_time_budget_ends_the_run_normally(tiny_cfg: dict, tmp_path: Path) -> None:
    events = _run(tiny_cfg, tmp_path / "run", steps=100, max_minutes=1e-6)
    assert events[-1].kind == "done" and events[-1].step == 1
    assert "budget" in events[-1].message
    assert events[-2].kind == "checkpoint"
    # the configured length stays in the checkpoint, so --resume can carry on
    assert torch.load(tmp_path / "run" / LAST_CKPT, weights_only=True)["total_steps"] == 100


# ------------------------------------------------------------------------- NaN loss
class _NaNAfter(Loss):
    """A loss that is 0 (with gradient) until ``calls`` calls, then NaN."""

    name = "nan_after"

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls_left = calls

    def compute(self, outputs: dict, batch: dict) -> torch.Tensor:
        self.calls_left -= 1
        zero = outputs["heatmaps"].sum() * 0.0
        return zero if self.calls_left >= 0 else zero + float("nan")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(
    tiny_cfg: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = setup_mod.build_losses
    monkeypatch.setattr(setup_mod, "build_losses", lambda cfg: [*real(cfg), _NaNAfter(3)])
    out = tmp_path / "run"
    events = []
    with pytest.raises(TrainingDivergedError, match=r"step 4") as info:
        for event in train(tiny_cfg, out, steps=10):
            events.append(event)
    assert "last good checkpoint (step 2)" in str(info.value)
    assert [e.step for e in events if e.kind == "step"] == [1, 2, 3]
    model, _, meta = load_checkpoint(out / LAST_CKPT)
    assert meta["step"] == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())


# ------------------------------------------------------------------------- other settings
def test_freeze_batchnorm_keeps_running_statistics(tiny_cfg: dict, tmp_path: Path) -> None:
    tiny_cfg["training"]["freeze_batchnorm"] = True
    _run(tiny_cfg, tmp_path / "run", steps=2)
    state = _weights(tmp_path / "run" / LAST_CKPT)
    means = [v for k, v in state.items() if k.endswith("running_mean")]
    assert means and all(torch.equal(m, torch.zeros_like(m)) for m in means)


def test_unfreezing_epoch_trains_the_head_alone_then_the_backbone(
    tiny_cfg: dict, tmp_path: Path
) -> None:
    """Lightning Pose's backbone freezing: the first epochs change only the head."""
    tiny_cfg["training"]["unfreezing_epoch"] = 1  # 2 steps per epoch -> steps 0, 1 frozen
    start = _weights_after_seeded_build(tiny_cfg)
    _run(tiny_cfg, tmp_path / "frozen", steps=2)
    frozen = _weights(tmp_path / "frozen" / LAST_CKPT)
    _run(tiny_cfg, tmp_path / "both", steps=4)
    both = _weights(tmp_path / "both" / LAST_CKPT)
    conv, head = "backbone.conv1.weight", "head.final.weight"
    assert torch.equal(frozen[conv], start[conv])
    assert not torch.equal(frozen[head], start[head])
    assert not torch.equal(both[conv], start[conv])


def _weights_after_seeded_build(cfg: dict) -> dict[str, torch.Tensor]:
    """The initial weights a run with ``cfg`` starts from (the run seeds before building)."""
    seed_everything(int(cfg["training"]["rng_seed_model_pt"]))
    return build_model(validate_config(cfg)).state_dict()


def test_backbone_learning_rate_ramps_up_after_unfreezing() -> None:
    assert backbone_lr_ratio(0, 0, 10) == 1.0  # never frozen: full rate from the start
    assert backbone_lr_ratio(19, 20, 10) == 0.0
    assert backbone_lr_ratio(20, 20, 10) == pytest.approx(0.1)
    assert backbone_lr_ratio(30, 20, 10) == pytest.approx(0.15)
    assert backbone_lr_ratio(20 + 10 * 6, 20, 10) == 1.0  # 0.1 * 1.5**6 > 1: aligned


def test_train_restores_the_callers_thread_count(tiny_cfg: dict, tmp_path: Path) -> None:
    before = torch.get_num_threads()
    tiny_cfg["training"]["num_threads"] = 1
    _run(tiny_cfg, tmp_path / "run", steps=1)
    assert torch.get_num_threads() == before


# ------------------------------------------------------------------------- bad input
def test_unknown_config_key_lists_valid_keys(tiny_cfg: dict, tmp_path: Path) -> None:
    tiny_cfg["training"]["max_step"] = 3
    with pytest.raises(ConfigError, match=r"unknown key 'training.max_step'.*max_steps"):
        _run(tiny_cfg, tmp_path / "run")


def test_wrong_type_in_config_is_named(tiny_cfg: dict, tmp_path: Path) -> None:
    tiny_cfg["training"]["train_batch_size"] = "eight"
    with pytest.raises(ConfigError, match=r"training.train_batch_size.*int"):
        _run(tiny_cfg, tmp_path / "run")


def test_labels_with_other_keypoints_are_refused(tiny_cfg: dict, tmp_path: Path) -> None:
    tiny_cfg["data"]["keypoint_names"] = ["red", "blue"]
    with pytest.raises(LabelsError, match="blue"):
        _run(tiny_cfg, tmp_path / "run", steps=1)
    assert not (tmp_path / "run" / LAST_CKPT).exists()


def test_missing_image_is_named(tiny_cfg: dict, tmp_path: Path) -> None:
    missing = Path(tiny_cfg["data"]["data_dir"]) / "labeled-data" / "img00005.png"
    missing.unlink()
    with pytest.raises(LabelsError, match=r"img00005\.png"):
        _run(tiny_cfg, tmp_path / "run", steps=1)


def test_resume_with_another_backbone_is_refused(tiny_cfg: dict, tmp_path: Path) -> None:
    _run(tiny_cfg, tmp_path / "run", steps=1)
    tiny_cfg["model"]["backbone"] = "resnet34"
    with pytest.raises(CheckpointError, match="backbone"):
        _run(tiny_cfg, tmp_path / "run", steps=2, resume=True)


def test_unreadable_checkpoints_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.ckpt")
    truncated = tmp_path / "truncated.ckpt"
    torch.save({"state_dict": {"w": torch.ones(1000)}}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(truncated)
    other = tmp_path / "other.ckpt"
    torch.save({"weights": torch.ones(3)}, other)
    with pytest.raises(CheckpointError, match="not a napari-lightning-pose checkpoint"):
        load_checkpoint(other)


def test_checkpoints_are_loaded_weights_only(tmp_path: Path) -> None:
    evil = tmp_path / "evil.ckpt"  # any pickled class instance must be refused, not built
    torch.save({"state_dict": {}, "config": {}, "step": 0, "keypoint_names": tmp_path}, evil)
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(evil)


# ------------------------------------------------------------------------- helpers
def test_milestones_and_learning_rate() -> None:
    assert resolve_milestones([0.5, 0.9], 100) == [50, 90]
    assert resolve_milestones([300, 0.1], 1000) == [100, 300]
    lrs = [learning_rate_at(s, 1.0, [2, 4], 0.5) for s in range(6)]
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    with pytest.raises(ConfigError, match="milestones"):
        resolve_milestones([-1], 10)


def test_step_batches_are_the_same_whatever_the_processes_and_resume_point() -> None:
    n, batch, steps = 22, 4, 12  # 5 batches per pass; 2 frames dropped per pass
    single = list(StepBatchSampler(n, batch, 5, 0, 1, 0, steps))
    ranks = [list(StepBatchSampler(n, batch, 5, r, 2, 0, steps)) for r in range(2)]
    assert len(single) == steps and all(len(b) == batch for b in single)
    for s in range(steps):
        merged = sorted(ranks[0][s] + ranks[1][s])
        assert merged == sorted(single[s])  # same frames AND same augmentation seeds
        assert len(ranks[0][s]) == len(ranks[1][s]) == batch // 2
    # a pass never repeats a frame, and a new pass reshuffles
    first_pass = [i for b in single[:5] for i, _ in b]
    assert len(set(first_pass)) == 20
    assert [i for i, _ in single[0]] != [i for i, _ in single[5]]
    # resuming at step 7 yields exactly the tail
    assert list(StepBatchSampler(n, batch, 5, 0, 1, 7, steps)) == single[7:]
    with pytest.raises(ValueError, match="divisible"):
        StepBatchSampler(n, 5, 0, 0, 2, 0, 1)
