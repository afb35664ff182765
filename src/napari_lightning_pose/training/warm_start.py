"""Warm start: begin a new run from a trained model's weights (``train --init-from``).

After Label these adds frames, training again from scratch throws away what the models
already know. A warm start loads the head and backbone weights of an earlier run and trains
on the *current* labels (new frames included) with a fresh optimiser and a fresh learning
rate schedule, so it is a new run, unlike ``--resume``, which continues an unfinished run
with its optimiser, step and RNG state. The backbone is not frozen at the start (its
``training.unfreezing_epoch`` warm-up protects ImageNet features from an untrained head,
and this head is trained), and the learning rates are ``LR_SCALE`` (0.1) times the
config's: a trained model is fine-tuned, not retrained. The model must fit: same backbone,
model type and keypoints in the same order; otherwise the run is refused with a message
naming what differs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from napari_lightning_pose.training import checkpoints as ck

#: A warm-started run's learning rates are ``training.optimizer_params.learning_rate`` times
#: this (the schedule's shape is kept): a fresh Adam moves every weight by about the
#: learning rate in its first steps, which knocks a trained model back. Chosen with
#: ``benchmarks/warm_start_mirror_mouse.py``: at 1.0 warm-started models had not regained
#: the old model's held-out error after a fifth of the scratch steps (errors rose first);
#: at 0.1 they had (README, "Warm start vs scratch").
LR_SCALE = 0.1


@dataclass(frozen=True)
class WarmStart:
    """Where a warm-started run's weights came from."""

    checkpoint: Path
    step: int
    val_pixel_error: float | None

    def describe(self) -> str:
        """One line for the run's start event."""
        val = f", validation {self.val_pixel_error:.2f} px" if self.val_pixel_error else ""
        return f"warm start from {self.checkpoint} (trained {self.step} steps{val})"


def warm_start(
    path: str | Path,
    cfg: Mapping[str, Any],
    keypoint_names: Sequence[str],
    model: nn.Module,
) -> WarmStart:
    """Load the weights of the checkpoint at ``path`` (a ``.ckpt`` or a run folder, then
    its ``best.ckpt``, else ``last.ckpt``) into ``model``.

    Raises
    ------
    CheckpointError
        No checkpoint there, another backbone or model type, or other keypoints (the
        message names the keypoints only one side has, or says the order differs).
    """
    path = Path(path)
    if path.is_dir() and not (path / ck.BEST_CKPT).is_file() and (path / ck.LAST_CKPT).is_file():
        path = path / ck.LAST_CKPT
    ckpt, path = ck.read_checkpoint(path)
    theirs = ckpt["config"]
    for section, key in (("model", "backbone"), ("model", "model_type")):
        if cfg[section][key] != theirs[section][key]:
            raise ck.CheckpointError(
                path,
                f"was trained with {section}.{key} = {theirs[section][key]!r}, this run "
                f"uses {cfg[section][key]!r}: its weights do not fit.",
                f"Set {section}.{key} to {theirs[section][key]!r}, or train from scratch.",
            )
    old, new = list(ckpt["keypoint_names"]), list(keypoint_names)
    if old != new:
        only_old = [k for k in old if k not in new]
        only_new = [k for k in new if k not in old]
        if only_old or only_new:
            what = "; ".join(
                part
                for part in (
                    f"the model has {only_old} that the labels lack" if only_old else "",
                    f"the labels have {only_new} that the model lacks" if only_new else "",
                )
                if part
            )
        else:
            what = f"the same keypoints in another order (model: {old})"
        raise ck.CheckpointError(
            path,
            f"was trained on other keypoints than the project's labels: {what}.",
            "Warm-start only from a model of this project's keypoints, or train from scratch.",
        )
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise ck.CheckpointError(
            path,
            f"its weights do not fit this model ({str(err).splitlines()[0]}).",
            "Train from scratch.",
        ) from err
    val = ckpt.get("best_val_pixel_error") or ckpt.get("val_pixel_error")
    return WarmStart(path, int(ckpt["step"]), float(val) if val is not None else None)
