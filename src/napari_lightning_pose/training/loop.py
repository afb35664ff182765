"""The training loop as a generator of progress events (see ``training/__init__``)."""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from napari_lightning_pose import distributed
from napari_lightning_pose.errors import (
    ConfigError,
    TrainingDivergedError,
)
from napari_lightning_pose.io.config import CONFIG_NAME, save_config, validate_config
from napari_lightning_pose.training import checkpoints as ck
from napari_lightning_pose.training import step
from napari_lightning_pose.training import warm_start as warm_start_module
from napari_lightning_pose.training.evaluation import pixel_errors
from napari_lightning_pose.training.events import EventKind, StopSignal, TrainEvent, stop_checker
from napari_lightning_pose.training.precision import amp_dtype_for
from napari_lightning_pose.training.resume import restore_run
from napari_lightning_pose.training.sampling import StepBatchSampler
from napari_lightning_pose.training.schedules import (
    backbone_lr_ratio,
    backbone_parameters,
    freeze_batchnorm,
    learning_rate_at,
)
from napari_lightning_pose.training.semi import SemiSupervised
from napari_lightning_pose.training.setup import build_parts, labeled_loaders
from napari_lightning_pose.training.warm_start import warm_start


def train(
    cfg: Mapping[str, Any],
    out_dir: str | Path,
    *,
    steps: int | None = None,
    seed: int | None = None,
    resume: bool = False,
    device: str | torch.device | None = None,
    stop: StopSignal | None = None,
    max_minutes: float | None = None,
    init_from: str | Path | None = None,
) -> Iterator[TrainEvent]:
    """Train a pose model on the project's labeled frames (and unlabeled video), yielding
    progress events.

    Parameters
    ----------
    cfg
        Project config from ``io.config.load_config`` (absolute ``data.data_dir``).
    out_dir
        Folder for ``config.yaml``, ``last.ckpt``, ``best.ckpt`` and ``metrics.csv``.
    steps
        Total optimiser steps; overrides ``training.max_steps``.
    seed
        Seed for model initialisation, batch order, clip choice and augmentation; overrides
        ``training.rng_seed_model_pt`` (the data split keeps ``rng_seed_data_pt``).
    resume
        Continue from ``out_dir/last.ckpt`` at its step with its optimiser and RNG state.
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default from ``training.accelerator``.
    stop
        A ``threading.Event`` (or a callable returning True) checked before every step: when
        set, the run saves ``last.ckpt`` and ends with a "stopped" event. Closing the
        generator (``gen.close()``) also saves ``last.ckpt``.
    max_minutes
        Wall-clock budget: the run ends normally ("done", with validation and checkpoint)
        after the first step that exceeds it.
    init_from
        Warm start (``training.warm_start``): a checkpoint or run folder whose weights the
        model starts from; optimiser and schedule are fresh, the current labels are used.
        Ignored when ``resume`` continues a run (its ``last.ckpt`` holds the weights).

    Yields
    ------
    TrainEvent
        See :class:`TrainEvent`; the last one is "done" or "stopped".

    Raises
    ------
    ConfigError, LabelsError, VideoError
        Bad config, labels, images or videos (raised before any training step).
    CheckpointError
        ``resume`` without a usable ``last.ckpt``.
    TrainingDivergedError
        The loss became NaN or infinite; ``last.ckpt`` still holds the last good weights.
    """
    cfg = validate_config(copy.deepcopy(dict(cfg)))
    tcfg = cfg["training"]
    if steps is not None:
        tcfg["max_steps"] = int(steps)
    if seed is not None:
        tcfg["rng_seed_model_pt"] = int(seed)
    if tcfg["max_steps"] < 1:
        raise ConfigError(None, f"training.max_steps is {tcfg['max_steps']}; it must be >= 1.")
    info = distributed.init_distributed(device, tcfg["accelerator"])
    threads = torch.get_num_threads()  # the run may change it; the caller gets it back
    try:
        run = _Run(cfg, Path(out_dir), info, resume, stop, max_minutes)
        run.init_from = Path(init_from) if init_from is not None else None
        yield from run.events()
    finally:
        distributed.cleanup(info)
        torch.set_num_threads(threads)


class _Run:
    """State of one training run; :meth:`events` is the loop (see :func:`train`)."""

    def __init__(
        self,
        cfg: dict[str, Any],
        out_dir: Path,
        info: distributed.DistInfo,
        resume: bool,
        stop: StopSignal | None,
        max_minutes: float | None,
    ) -> None:
        self.cfg, self.out_dir, self.info = cfg, out_dir, info
        self.device = info.device
        self.resume, self.max_minutes = resume, max_minutes
        self.should_stop = stop_checker(stop)
        tcfg = cfg["training"]
        self.max_steps = int(tcfg["max_steps"])
        self.total_steps = self.max_steps  # lowered when a time budget ends the run early
        self.seed = int(tcfg["rng_seed_model_pt"])
        self.amp_dtype = amp_dtype_for(tcfg["precision"], self.device)
        self.step = 0
        self.best_val: float | None = None
        self.last_val: float | None = None
        self.saved_step = -1
        self.budget_hit = False
        self.semi: SemiSupervised | None = None
        self.init_from: Path | None = None

    # ----------------------------------------------------------------- setup
    def _setup(self) -> str:
        cfg, tcfg, info = self.cfg, self.cfg["training"], self.info
        if tcfg["num_threads"]:
            torch.set_num_threads(int(tcfg["num_threads"]))
        elif info.is_distributed and self.device.type == "cpu":
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // info.world_size))
        parts = build_parts(cfg, info, self.seed, self.max_steps)
        self.keypoint_names = parts.keypoint_names
        self.steps_per_epoch, self.unfreeze_step = parts.steps_per_epoch, parts.unfreeze_step
        self.model, self.prefixes, self.losses = parts.model, parts.prefixes, parts.losses
        self.semi, self.optimizer = parts.semi, parts.optimizer
        self.base_lr, self.milestones, self.gamma = parts.base_lr, parts.milestones, parts.gamma
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

        warm = ""
        if self.init_from is not None and not self.resume:
            start = warm_start(self.init_from, cfg, self.keypoint_names, self.model)
            self.unfreeze_step = 0  # the head is trained: no backbone warm-up needed
            self.base_lr *= warm_start_module.LR_SCALE
            warm = "; " + start.describe()
        if self.resume:
            point = restore_run(
                self.out_dir, cfg, self.keypoint_names, self.model, self.optimizer, self.scaler
            )
            self.step, self.best_val, self.last_val = point.step, point.best_val, point.last_val
            if point.warm_started:  # a warm-started run resumes as it began
                self.unfreeze_step = 0
                self.base_lr *= warm_start_module.LR_SCALE
            self.saved_step = self.step
        self.backbone_frozen = self.step < self.unfreeze_step  # set before DDP is built
        for param in backbone_parameters(self.model):
            param.requires_grad_(not self.backbone_frozen)
        if info.is_distributed and self.device.type == "cuda" and not tcfg["freeze_batchnorm"]:
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.net = self._wrap()

        sampler = StepBatchSampler(
            parts.n_train, parts.global_batch, self.seed, info.rank, info.world_size,
            self.step, self.total_steps,
        )  # fmt: skip
        self.train_loader, self.val_loader = labeled_loaders(
            cfg, parts.datasets, sampler, self.device
        )
        if info.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.out_dir / CONFIG_NAME)
        return parts.describe(self.device, info) + warm

    def _wrap(self) -> nn.Module:
        """The module the step calls: the model, or DDP around it (rebuilt when the set of
        parameters that need gradients changes)."""
        if not self.info.is_distributed:
            return self.model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    def _set_backbone_frozen(self, frozen: bool) -> None:
        if frozen == self.backbone_frozen:
            return
        for param in backbone_parameters(self.model):
            param.requires_grad_(not frozen)
        self.backbone_frozen = frozen
        self.net = self._wrap()

    # ----------------------------------------------------------------- loop
    def events(self) -> Iterator[TrainEvent]:
        message = self._setup()
        if self.step >= self.total_steps:
            yield self._event("start", message=message)
            yield self._event(
                "done", checkpoint=self._ckpt_path(), message="already trained to max_steps"
            )
            return
        start_time, start_step = time.perf_counter(), self.step
        epoch_losses: dict[str, list[float]] = {}
        batches = iter(self.train_loader)
        clips = self.semi.clips(self.step, self.total_steps) if self.semi else None
        try:
            yield self._event("start", message=message)
            while self.step < self.total_steps:
                if not self.info.is_distributed and self.should_stop():
                    yield self._stopped()
                    return
                batch = next(batches)
                clip = next(clips) if clips is not None else None
                self._set_backbone_frozen(self.step < self.unfreeze_step)
                lr = learning_rate_at(self.step, self.base_lr, self.milestones, self.gamma)
                losses = self._train_step(batch, clip, lr)
                if losses is None:  # a distributed stop request
                    yield self._stopped()
                    return
                self.step += 1
                for name, value in losses.items():
                    epoch_losses.setdefault(name, []).append(value)
                elapsed = time.perf_counter() - start_time
                eta = elapsed / (self.step - start_step) * (self.total_steps - self.step)
                yield self._event("step", losses=losses, lr=lr, eta_s=eta)

                if self.max_minutes is not None and self.step < self.total_steps:
                    over = elapsed > 60 * self.max_minutes
                    if distributed.any_flags(self.info, [over])[0]:  # all ranks end together
                        self.total_steps = self.step
                        self.budget_hit = True
                end_of_epoch = self.step % self.steps_per_epoch == 0
                if end_of_epoch or self.step == self.total_steps:
                    yield from self._end_of_epoch(epoch_losses, lr)
                    epoch_losses = {}
        except (GeneratorExit, KeyboardInterrupt):
            if self.step != self.saved_step:
                self._save()  # closed by the consumer: leave a usable checkpoint behind
            raise
        note = f"time budget of {self.max_minutes} min reached" if self.budget_hit else ""
        yield self._event(
            "done", val_pixel_error=self.last_val, checkpoint=self._ckpt_path(), message=note
        )

    def _train_step(
        self, batch: dict[str, Any], clip: dict[str, Any] | None, lr: float
    ) -> dict[str, float] | None:
        """One optimiser step; the weighted losses, or None if a process asked to stop."""
        ratio = backbone_lr_ratio(self.step, self.unfreeze_step, self.steps_per_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * ratio if group.get("name") == "backbone" else lr
        self.net.train()
        if self.cfg["training"]["freeze_batchnorm"]:
            freeze_batchnorm(self.net)
        batch = step.to_device(batch, self.device)
        clip = step.to_device(clip, self.device) if clip is not None else None
        images = clip["images"] if clip is not None else None
        outputs = step.forward(self.net, batch, images, self.amp_dtype, self.device)
        anneal = self.semi.anneal(self.step // self.steps_per_epoch) if self.semi else 0.0
        unsup = list(self.semi.losses) if self.semi else []
        terms = step.loss_terms(outputs, batch, self.losses, unsup, anneal, self.prefixes, clip)
        total = torch.stack(list(terms.values())).sum()
        stop_now = self.info.is_distributed and self.should_stop()
        stop_now, diverged = distributed.any_flags(
            self.info, [stop_now, not bool(torch.isfinite(total))]
        )
        if diverged:
            raise self._diverged(float(total.detach()))
        if stop_now:
            return None
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        values = {name: float(v.detach()) for name, v in terms.items()}
        values["total"] = float(total.detach())
        if self.semi is not None:
            values["anneal"] = anneal
        return values

    def _end_of_epoch(
        self, epoch_losses: dict[str, list[float]], lr: float
    ) -> Iterator[TrainEvent]:
        epoch = self.step // self.steps_per_epoch
        every = max(1, int(self.cfg["training"]["check_val_every_n_epoch"]))
        final = self.step == self.total_steps
        if self.val_loader is not None and (epoch % every == 0 or final):
            errors, _, _ = pixel_errors(self.model, self.val_loader, self.device)
            self.last_val = float(np.nanmean(errors)) if np.isfinite(errors).any() else None
            yield self._event("validation", val_pixel_error=self.last_val)
        improved = self.last_val is not None and (
            self.best_val is None or self.last_val < self.best_val
        )
        if improved:
            self.best_val = self.last_val
        path = self._save(best=improved or self.val_loader is None)
        if self.info.is_main:
            row = {"epoch": epoch, "step": self.step, "lr": lr}
            row.update({name: float(np.mean(v)) for name, v in epoch_losses.items()})
            row["val_pixel_error"] = self.last_val if self.last_val is not None else ""
            ck.append_metrics(self.out_dir, row)
            yield self._event("checkpoint", checkpoint=path, val_pixel_error=self.last_val)

    def _stopped(self) -> TrainEvent:
        path = self._save() if self.step != self.saved_step else self._ckpt_path()
        return self._event(
            "stopped",
            checkpoint=path,
            val_pixel_error=self.last_val,
            message=f"stopped at step {self.step}; resume with resume=True / --resume",
        )

    def _diverged(self, value: float) -> TrainingDivergedError:
        kept = self.out_dir / ck.LAST_CKPT
        where = (
            f"The last good checkpoint (step {self.saved_step}) is kept at {kept}."
            if self.saved_step >= 0 and kept.exists()
            else "No checkpoint was written before it."
        )
        return TrainingDivergedError(
            self.out_dir,
            f"the training loss became {value} at step {self.step + 1}; training stopped.",
            f"{where} Lower training.optimizer_params.learning_rate, check the labels for "
            "wild values, or set training.precision to '32'.",
        )

    # ----------------------------------------------------------------- outputs
    def _event(self, kind: EventKind, **kwargs: Any) -> TrainEvent:
        return TrainEvent(
            kind, self.step, self.step // self.steps_per_epoch, self.total_steps, **kwargs
        )

    def _ckpt_path(self) -> Path | None:
        return self.out_dir / ck.LAST_CKPT if self.info.is_main else None

    def _save(self, best: bool = False) -> Path | None:
        """Write last.ckpt (and best.ckpt) atomically on rank 0; never non-finite weights."""
        self.saved_step = self.step
        if not self.info.is_main:
            return None
        state = self.model.state_dict()
        if not all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point()):
            raise self._diverged(float("nan"))
        ckpt = {
            "format": ck.CHECKPOINT_FORMAT,
            "state_dict": state,
            "config": self.cfg,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": {
                "name": "multisteplr",
                "base_lr": self.base_lr,
                "milestones": self.milestones,
                "gamma": self.gamma,
            },
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "step": self.step,
            "epoch": self.step // self.steps_per_epoch,
            "total_steps": self.max_steps,
            "rng": ck.get_rng_state(),
            "keypoint_names": list(self.keypoint_names),
            "val_pixel_error": self.last_val,
            "best_val_pixel_error": self.best_val,
            "torch_version": str(torch.__version__),
            "pca": self.semi.pca_state() if self.semi is not None else {},
            "init_from": str(self.init_from) if self.init_from is not None else "",
        }
        return ck.write_checkpoint(ckpt, self.out_dir, best=best)
