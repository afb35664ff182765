"""Train with a Lightning Pose config as it is: its trainer keys mapped onto our loop.

Lightning Pose counts training in epochs and hands PyTorch Lightning its trainer settings
(``max_epochs``, ``min_epochs``, ``early_stop_patience``, ``log_every_n_steps``,
``num_gpus``). Our loop counts optimiser steps. :func:`training_plan` turns those keys into
ours (an epoch is one pass over the training frames, as in Lightning Pose), lists what it did
as notes, and :meth:`TrainingPlan.watch` applies early stopping and the logging interval to
the training events.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_lightning_pose.data.splits import split_indices
from napari_lightning_pose.io import labels as labels_io

# Lightning Pose backbones that are a torchvision ResNet-50 with other pretrained weights.
_RESNET50_VARIANTS = (
    "resnet50_animal_ap10k",
    "resnet50_animal_apose",
    "resnet50_contrastive",
    "resnet50_human_jhmdb",
    "resnet50_human_res_rle",
    "resnet50_human_top_res",
    "resnet50_human_hand",
)
# Lightning Pose keys kept in the config but without an effect here.
_UNUSED = (
    "ckpt_every_n_epochs",
    "uniform_heatmaps_for_nan_keypoints",
    "accumulate_grad_batches",
    "limit_train_batches",
    "profiler",
)


@dataclass
class TrainingPlan:
    """A config ready for ``train.train`` plus what Lightning Pose's trainer keys ask for.

    Attributes
    ----------
    cfg : dict
        The config with ``training.max_steps``/``steps_per_epoch``/milestones in steps.
    notes : list of str
        One line per key that was translated, or accepted without effect.
    steps_per_epoch : int
        Optimiser steps in one epoch.
    early_stop_patience : int or None
        Stop after this many validations without a better validation pixel error.
    min_steps : int
        No early stop before this step (``min_epochs``).
    log_every_n_steps : int
        Forward only every n-th step event (the progress display and its loss readout).
    device : str or None
        ``"cpu"`` when ``num_gpus`` is 0, else None (CUDA when available).
    stop : threading.Event
        Set by :meth:`watch` when early stopping ends the run; pass it as ``train(stop=)``.
    """

    cfg: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    steps_per_epoch: int = 1
    early_stop_patience: int | None = None
    min_steps: int = 0
    log_every_n_steps: int = 1
    device: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def watch(self, events: Iterator[Any]) -> Iterator[Any]:
        """Pass ``events`` on, thinning step events and setting ``stop`` on early stopping."""
        best: float | None = None
        since_best = 0
        for event in events:
            kind = getattr(event, "kind", "")
            if kind == "validation" and event.val_pixel_error is not None:
                if best is None or event.val_pixel_error < best:
                    best, since_best = event.val_pixel_error, 0
                else:
                    since_best += 1
                patience = self.early_stop_patience
                if patience is not None and since_best >= patience:
                    if event.step >= self.min_steps and not self.stop.is_set():
                        self.notes.append(
                            f"early stopping at step {event.step}: no better validation "
                            f"error in {since_best} validations (early_stop_patience)."
                        )
                        self.stop.set()
            if kind == "step" and self.log_every_n_steps > 1:
                total = getattr(event, "total_steps", None)
                if event.step % self.log_every_n_steps and event.step != total:
                    continue
            yield event


def is_lightning_pose_config(cfg: Mapping[str, Any]) -> bool:
    """True when the config uses Lightning Pose's epoch-based trainer keys."""
    return any(k in cfg.get("training", {}) for k in ("max_epochs", "min_epochs", "num_gpus"))


def count_train_frames(cfg: Mapping[str, Any]) -> int:
    """Training frames of the project, split as ``data.labeled.build_datasets`` splits them."""
    data, tcfg = cfg["data"], cfg["training"]
    if data.get("view_names"):  # every view's labeled frame is a sample
        from napari_lightning_pose.data.multiview import (
            keep_frames,
            read_view_labels,
            split_frames,
        )

        found = read_view_labels(cfg, data["keypoint_names"] or None)
        if not found.frame_keys:
            return 0
        train = split_frames(found.frame_keys, tcfg)["train"]
        seed = int(tcfg["rng_seed_data_pt"])
        return len(keep_frames(train, found.frame_keys, tcfg["train_frames"], seed))
    csv_path = Path(data["data_dir"]) / data["csv_file"]
    names = data["keypoint_names"] or None
    n = len(labels_io.drop_unlabeled(labels_io.read_labels(csv_path, names)))
    if n < 1:
        return 0
    n_train = len(split_indices(n, tcfg["train_prob"], tcfg["val_prob"], 0)["train"])
    keep = tcfg["train_frames"]
    return min(n_train, round(keep * n_train) if keep <= 1 else int(keep))


def training_plan(cfg: Mapping[str, Any], steps_given: bool = False) -> TrainingPlan:
    """Translate a (Lightning Pose) config's trainer keys into our step-based settings.

    Parameters
    ----------
    cfg
        A config from ``io.config.load_config``.
    steps_given
        The caller sets the step count itself (``train --steps``): ``max_epochs`` is then
        only noted.

    Returns
    -------
    TrainingPlan
        For a config without Lightning Pose trainer keys, ``cfg`` unchanged and no notes.
    """
    cfg = copy.deepcopy(dict(cfg))
    plan = TrainingPlan(cfg)
    tcfg, mcfg = cfg["training"], cfg["model"]
    notes = plan.notes
    backbone = mcfg["backbone"]
    if backbone in _RESNET50_VARIANTS:
        mcfg["backbone"] = "resnet50"
        notes.append(
            f"model.backbone {backbone}: a ResNet-50 started from model.backbone_weights "
            f"({mcfg['backbone_weights']}); Lightning Pose's {backbone} weights are not "
            "available here."
        )
    if tcfg["imgaug"] == "dlc-top-down":
        tcfg["imgaug"] = "dlc"
        notes.append("training.imgaug dlc-top-down: the dlc augmentations, without flips.")
    if not is_lightning_pose_config(cfg):
        return plan

    n_train = count_train_frames(cfg)
    batch = max(1, min(int(tcfg["train_batch_size"]), max(n_train, 1)))
    spe = int(tcfg["steps_per_epoch"] or max(1, n_train // batch))
    tcfg["steps_per_epoch"] = spe
    plan.steps_per_epoch = spe
    max_epochs = tcfg.get("max_epochs")
    if max_epochs is not None and not steps_given:
        tcfg["max_steps"] = int(max_epochs) * spe
        notes.append(
            f"training.max_epochs {max_epochs}: {tcfg['max_steps']} steps "
            f"({spe} per epoch: {n_train} training frames, batch {batch})."
        )
    elif max_epochs is not None:
        notes.append(f"training.max_epochs {max_epochs}: replaced by the step count given.")
    sched = tcfg["lr_scheduler_params"]["multisteplr"]
    if sched["milestones"] and all(m >= 1 for m in sched["milestones"]):
        sched["milestones"] = [int(m) * spe for m in sched["milestones"]]
        notes.append(f"lr milestones (epochs in Lightning Pose): steps {sched['milestones']}.")
    min_epochs = tcfg.get("min_epochs") or 0
    plan.min_steps = int(min_epochs) * spe
    patience = tcfg.get("early_stop_patience")
    enabled = tcfg.get("early_stopping")
    if patience is not None and enabled is not False:
        plan.early_stop_patience = int(patience)
        notes.append(
            f"early stopping: after {patience} validations (every "
            f"{tcfg['check_val_every_n_epoch']} epochs) without a better pixel error, not "
            f"before epoch {min_epochs}."
        )
    log_every = tcfg.get("log_every_n_steps")
    if log_every:
        plan.log_every_n_steps = int(log_every)
        notes.append(
            f"training.log_every_n_steps {log_every}: progress updated every {log_every} steps."
        )
    gpus = tcfg.get("num_gpus")
    if gpus == 0:
        plan.device = "cpu"
        notes.append("training.num_gpus 0: training on the CPU.")
    elif gpus is not None and gpus > 1:
        notes.append(
            f"training.num_gpus {gpus}: launch with `torchrun --nproc_per_node={gpus} -m "
            "napari_lightning_pose.cli train ...` to train on that many GPUs (DDP)."
        )
    unused = [k for k in _UNUSED if tcfg.get(k) is not None]
    if unused:
        notes.append(f"accepted without effect here: training.{', training.'.join(unused)}.")
    return plan
