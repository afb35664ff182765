"""What a run is built from: datasets, model, losses, optimizer, schedule and loaders.

``build_parts`` makes everything a run needs before its first step, in a fixed order so
that the same seed gives the same model (the RNG is seeded first, then the data, the model,
the losses and the unlabeled clips draw from it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from napari_lightning_pose import distributed
from napari_lightning_pose.data.labeled import build_datasets
from napari_lightning_pose.data.workers import WorkerSafeLoader
from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.losses.factory import build_losses
from napari_lightning_pose.models.factory import build_model
from napari_lightning_pose.models.pose_model import head_prefixes
from napari_lightning_pose.training.checkpoints import seed_everything
from napari_lightning_pose.training.sampling import SeededDataset, StepBatchSampler
from napari_lightning_pose.training.schedules import backbone_parameters, resolve_milestones
from napari_lightning_pose.training.semi import SemiSupervised, build_semi


@dataclass
class RunParts:
    """Everything a run is built from (see :func:`build_parts`)."""

    datasets: dict[str, Any]
    keypoint_names: list[str]
    n_train: int
    global_batch: int
    steps_per_epoch: int
    model: nn.Module
    prefixes: tuple[str, ...]
    losses: nn.ModuleList
    semi: SemiSupervised | None
    optimizer: torch.optim.Optimizer
    unfreeze_step: int
    base_lr: float
    milestones: list[int]
    gamma: float

    def describe(self, device: torch.device, info: distributed.DistInfo) -> str:
        """The start event's message: frames, batch, steps per epoch, device, clips."""
        semi_note = self.semi.describe() if self.semi is not None else ""
        return (
            f"{self.n_train} training / {len(self.datasets['val'])} validation frames, batch "
            f"{self.global_batch}, {self.steps_per_epoch} steps per epoch, device {device}"
            + (f", {info.world_size} processes" if info.is_distributed else "")
            + (f"; {semi_note}" if semi_note else "")
        )


def build_parts(
    cfg: dict[str, Any], info: distributed.DistInfo, seed: int, max_steps: int
) -> RunParts:
    """Datasets, model (channels-last, on ``info.device``), losses, semi-supervised side,
    optimizer and learning-rate schedule of a run; fills ``data.keypoint_names`` in ``cfg``
    from the labels when the config leaves it empty."""
    tcfg, device = cfg["training"], info.device
    seed_everything(seed)
    datasets = build_datasets(cfg)
    keypoint_names = list(datasets["train"].keypoint_names)
    if not cfg["data"]["keypoint_names"]:
        cfg["data"]["keypoint_names"] = list(keypoint_names)
        cfg["data"]["num_keypoints"] = len(keypoint_names)
    n_train = len(datasets["train"])
    batch = global_batch_size(cfg, n_train, info.world_size)
    steps_per_epoch = int(tcfg["steps_per_epoch"] or n_train // batch)
    if steps_per_epoch < 1:
        raise ConfigError(None, "training.steps_per_epoch must be >= 1.")

    model = build_model(cfg).to(device)
    losses = nn.ModuleList(build_losses(cfg)).to(device)
    context = cfg["model"]["model_type"] == "heatmap_mhcrnn"
    semi = build_semi(cfg, datasets["train"], info, seed, context)
    # channels-last convolutions are faster on GPUs and, with oneDNN, on CPUs too
    # (EfficientNet-Lite0 training step -28 % on 2 CPU cores)
    model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(cfg, model)
    unfreeze_step = int(tcfg["unfreezing_epoch"]) * steps_per_epoch
    if unfreeze_step < 0:
        raise ConfigError(None, "training.unfreezing_epoch must be >= 0.")
    sched = tcfg["lr_scheduler_params"]["multisteplr"]
    if tcfg["lr_scheduler"].lower() not in ("multisteplr", "multistep"):
        raise ConfigError(
            None, f"training.lr_scheduler {tcfg['lr_scheduler']!r}.", "Use 'multisteplr'."
        )
    return RunParts(
        datasets, keypoint_names, n_train, batch, steps_per_epoch, model, head_prefixes(model),
        losses, semi, optimizer, unfreeze_step,
        float(tcfg["optimizer_params"]["learning_rate"]),
        resolve_milestones(list(sched["milestones"]), max_steps), float(sched["gamma"]),
    )  # fmt: skip


def global_batch_size(cfg: Mapping[str, Any], n_train: int, world_size: int) -> int:
    """``training.train_batch_size`` (at most ``n_train``), checked against the processes."""
    batch = int(cfg["training"]["train_batch_size"])
    if n_train < world_size:
        raise ConfigError(
            None, f"{n_train} training frames cannot be shared by {world_size} processes."
        )
    batch = min(batch, n_train)  # tiny projects: one batch holds every frame
    if batch % world_size:
        raise ConfigError(
            None,
            f"training.train_batch_size {batch} is not divisible by the {world_size} processes.",
            "Choose a batch size that is a multiple of --nproc_per_node.",
        )
    return batch


def make_optimizer(cfg: Mapping[str, Any], model: nn.Module) -> torch.optim.Optimizer:
    """Adam/AdamW over two parameter groups, backbone first, so each has its own rate."""
    name = cfg["training"]["optimizer"]
    lr = float(cfg["training"]["optimizer_params"]["learning_rate"])
    backbone = backbone_parameters(model)
    ids = {id(p) for p in backbone}
    rest = [p for p in model.parameters() if id(p) not in ids]
    groups = [{"params": backbone, "name": "backbone"}, {"params": rest, "name": "head"}]
    if name.lower() == "adam":
        return torch.optim.Adam(groups, lr=lr)
    if name.lower() == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ConfigError(None, f"training.optimizer {name!r}.", "Use 'Adam' or 'AdamW'.")


def labeled_loaders(
    cfg: Mapping[str, Any],
    datasets: Mapping[str, Any],
    sampler: StepBatchSampler,
    device: torch.device,
) -> tuple[DataLoader, DataLoader | None]:
    """The training loader (batches from ``sampler``) and the validation loader (or None)."""
    tcfg = cfg["training"]
    pin = device.type == "cuda"
    train = WorkerSafeLoader(
        SeededDataset(datasets["train"]),
        batch_sampler=sampler,
        num_workers=int(tcfg["num_workers"]),
        pin_memory=pin,
    )
    val = (
        DataLoader(datasets["val"], batch_size=int(tcfg["val_batch_size"]), pin_memory=pin)
        if len(datasets["val"])
        else None
    )
    return train, val
