"""Training: the loop as a generator of progress events, checkpoints, schedules, the step.

``train(cfg, out_dir)`` builds the datasets (``data.labeled`` and, with unsupervised losses,
``data.unlabeled``), the model (``models``) and the losses (``losses.factory``) from a
project config and runs Adam with a step learning-rate schedule. It yields a
:class:`TrainEvent` at the start, after every step, after each validation, after each
checkpoint, and at the end ("done") or on a stop request ("stopped").

What a run writes to ``out_dir`` (rank 0 only under ``torchrun``):

- ``config.yaml``: the run's config (``training.max_steps`` and ``rng_seed_model_pt`` filled
  in), so the run can be repeated;
- ``last.ckpt``: written atomically every epoch, on stop and at the end;
- ``best.ckpt``: the checkpoint with the lowest validation pixel error so far (the same as
  ``last.ckpt`` when the project has no validation frames);
- ``metrics.csv``: one row per epoch (mean of every loss by name, learning rate,
  validation pixel error).

Reproducibility: the data split comes from ``training.rng_seed_data_pt``; model
initialisation, batch order, unlabeled clip choice and augmentation from
``training.rng_seed_model_pt`` (``seed`` overrides it). What step ``s`` sees depends only on
(seed, s) (``training.sampling``, ``data.unlabeled``), so a resumed run continues exactly
and a DDP run sees the same global batches as a single process. On the CPU the same seed
gives bit-identical runs; CUDA kernels may differ in the last bits.

An epoch is ``training.steps_per_epoch`` steps, or one pass over the training frames when
that is unset. Modules:

- ``loop``: :func:`train` and the run's state;
- ``setup``: datasets, model, losses, optimizer and loaders a run is built from;
- ``resume``: restoring a run from ``last.ckpt``;
- ``step``: forward and the total loss by name;
- ``semi``: the unlabeled clips, unsupervised losses and anneal schedule of a run;
- ``checkpoints``: writing, reading and loading checkpoints (prediction imports this);
- ``schedules``: learning-rate milestones, backbone freezing, loss annealing;
- ``sampling``: batch order as a function of (seed, step);
- ``evaluation``: float32 pixel errors on labeled frames;
- ``precision``: autocast dtypes.

Importing the package imports no torch: its names are loaded on first use (PEP 562), so
the window can unpickle a job's :class:`TrainEvent` (``training.events``) and check run
folders without torch, which only the job's own process imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from napari_lightning_pose.errors import CheckpointError, TrainingDivergedError
from napari_lightning_pose.io.run_layout import BEST_CKPT, LAST_CKPT, METRICS_CSV
from napari_lightning_pose.training.events import StopSignal, TrainEvent

if TYPE_CHECKING:
    from napari_lightning_pose.training.checkpoints import (
        CHECKPOINT_FORMAT,
        load_checkpoint,
        read_checkpoint,
    )
    from napari_lightning_pose.training.loop import train

#: name -> the module that defines it (each imports torch)
_LAZY = {
    "CHECKPOINT_FORMAT": "checkpoints",
    "load_checkpoint": "checkpoints",
    "read_checkpoint": "checkpoints",
    "train": "loop",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BEST_CKPT",
    "CHECKPOINT_FORMAT",
    "LAST_CKPT",
    "METRICS_CSV",
    "CheckpointError",
    "StopSignal",
    "TrainEvent",
    "TrainingDivergedError",
    "load_checkpoint",
    "read_checkpoint",
    "train",
]
