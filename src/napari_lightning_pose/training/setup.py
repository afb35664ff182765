"""Pieces a run is built from: batch size, optimizer, labeled loaders, output folder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.training.sampling import SeededDataset, StepBatchSampler
from napari_lightning_pose.training.schedules import backbone_parameters


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
    train = DataLoader(
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
