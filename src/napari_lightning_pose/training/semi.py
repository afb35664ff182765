"""Semi-supervised parts of a run: unlabeled clips, unsupervised losses, anneal schedule.

Built only when ``model.losses_to_use`` names a loss. Each step then takes
``training.unlabeled_clips_per_step`` clips (default: one per process) of
``dali.base.train.sequence_length`` frames (context models: ``dali.context.train.batch_size``
frames plus 2 on each side), chosen as a pure function of (seed, step)
(``data.unlabeled.clip_keys``). The unsupervised losses' weight is multiplied by the anneal
factor of ``callbacks.anneal_weight`` (``init_val`` 0, ``increase_factor`` 0.01,
``final_val`` 1, ``freeze_until_epoch`` 0 as in Lightning Pose, see
``training.schedules.anneal_factor``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from torch import nn

from napari_lightning_pose import distributed
from napari_lightning_pose.data.labeled import LabeledFramesDataset
from napari_lightning_pose.data.multiview import stacked_poses
from napari_lightning_pose.data.unlabeled import (
    WORKER_START,
    StepClipSampler,
    UnlabeledClips,
    clip_settings,
    project_videos,
)
from napari_lightning_pose.data.unlabeled_views import SessionClips, flatten_views
from napari_lightning_pose.data.workers import WorkerSafeLoader
from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.losses.availability import unsupervised_availability
from napari_lightning_pose.losses.factory import build_unsupervised_losses
from napari_lightning_pose.losses.names import check_loss_names
from napari_lightning_pose.losses.pca import PCAFit
from napari_lightning_pose.training.schedules import anneal_factor

ANNEAL_DEFAULTS = {"init_val": 0.0, "increase_factor": 0.01, "final_val": 1.0,
                   "freeze_until_epoch": 0}  # fmt: skip


class SemiSupervised:
    """The unsupervised side of a run: its losses, PCA fits, clips and anneal schedule."""

    def __init__(
        self,
        losses: list,
        fits: dict[str, PCAFit],
        dataset: UnlabeledClips | SessionClips,
        n_clips: int,
        seed: int,
        info: distributed.DistInfo,
        anneal_cfg: Mapping[str, Any],
        num_workers: int,
    ) -> None:
        self.losses = nn.ModuleList(losses).to(info.device)
        self.fits, self.dataset, self.n_clips = fits, dataset, n_clips
        self.seed, self.info, self.num_workers = seed, info, num_workers
        self.anneal_cfg = {**ANNEAL_DEFAULTS, **dict(anneal_cfg)}

    def clips(self, start_step: int, total_steps: int) -> Iterator[dict[str, Any]]:
        """This rank's clips for each step from ``start_step``: dicts with ``"images"``
        (C, L, 3, h, w) and ``"scale"`` (C, 2)."""
        sampler = StepClipSampler(
            self.seed, self.n_clips, self.info.rank, self.info.world_size,
            self.dataset.starts, start_step, total_steps,
        )  # fmt: skip
        loader = WorkerSafeLoader(
            self.dataset,
            batch_sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=self.info.device.type == "cuda",
            multiprocessing_context=WORKER_START if self.num_workers else None,
            persistent_workers=False,
        )
        if isinstance(self.dataset, SessionClips):  # V clips in step -> C * V clips
            return flatten_views(iter(loader), len(self.dataset.views))
        return iter(loader)

    def anneal(self, epoch: int) -> float:
        """The unsupervised losses' factor at ``epoch``."""
        a = self.anneal_cfg
        return anneal_factor(
            epoch, float(a["init_val"]), float(a["increase_factor"]), float(a["final_val"]),
            int(a["freeze_until_epoch"]),
        )  # fmt: skip

    def pca_state(self) -> dict[str, Any]:
        """The PCA fits by loss name, as checkpoint-safe tensors."""
        return {name: fit.to_state() for name, fit in self.fits.items()}

    def describe(self) -> str:
        """One line for the start event."""
        eps = ", ".join(f"{n} epsilon {f.epsilon:.2f} px" for n, f in self.fits.items())
        names = ", ".join(loss.name for loss in self.losses)
        return (
            f"unsupervised {names} on {self.n_clips} clip(s) of {self.dataset.length} frames "
            f"per step from {len(self.dataset.videos)} video(s)" + (f"; {eps}" if eps else "")
        )


def _with_frames_needed(
    err: ConfigError,
    cfg: Mapping[str, Any],
    all_keypoints: np.ndarray,
    stacked: np.ndarray | None = None,
) -> ConfigError:
    """``err`` (a PCA loss refused for too few poses) plus how many more fully labeled frames
    each refused loss needs, counted as the Train dock counts them."""
    used = set(check_loss_names(cfg))
    short = [a for a in unsupervised_availability(cfg, all_keypoints, stacked).values()
             if a.name in used and not a.ok and a.more_frames]  # fmt: skip
    if not short:
        return err
    more = "; ".join(f"{a.name} {a.more_frames}" for a in short)
    return ConfigError(
        err.path,
        err.problem,
        f"Fully labeled frames still needed: {more} ({len(all_keypoints)} labeled now). {err.fix}",
    )


def build_semi(
    cfg: Mapping[str, Any],
    train_set: LabeledFramesDataset,
    info: distributed.DistInfo,
    seed: int,
    context: bool,
) -> SemiSupervised | None:
    """The semi-supervised side of a run, or None when ``model.losses_to_use`` is empty."""
    if not check_loss_names(cfg):
        return None
    frames = train_set.frames
    keypoints = frames.keypoints[train_set.indices]  # original pixels, training split
    stacked = all_stacked = None
    if frames.views is not None:  # the cross-camera PCA: training frames labeled in all views
        assert frames.view_of is not None and frames.frame_keys is not None
        args = frames.keypoints, frames.view_of, frames.frame_keys
        stacked = stacked_poses(*args, train_set.indices, len(frames.views))
        all_stacked = stacked_poses(*args, np.arange(len(frames)), len(frames.views))
    try:
        losses, fits = build_unsupervised_losses(cfg, keypoints, stacked)
    except ConfigError as err:
        raise _with_frames_needed(err, cfg, frames.keypoints, all_stacked) from None
    _, length = clip_settings(cfg, context)
    resize = cfg["data"]["image_resize_dims"]
    resize_hw = (int(resize["height"]), int(resize["width"]))
    dataset: UnlabeledClips | SessionClips
    if frames.views is not None:
        sizes_of = [
            {
                tuple(frames.images[i].shape[:2])
                for i in train_set.indices
                if frames.view_of[i] == v
            }
            or None
            for v in range(len(frames.views))
        ]
        dataset = SessionClips(
            cfg["data"]["video_dir"], frames.views, length, resize_hw, cfg["training"]["imgaug"],
            frame_sizes=sizes_of,  # type: ignore[arg-type]
        )  # fmt: skip
    else:
        sizes = {tuple(frames.images[i].shape[:2]) for i in train_set.indices}
        dataset = UnlabeledClips(
            project_videos(cfg["data"]["video_dir"]),
            length,
            resize_hw,
            cfg["training"]["imgaug"],
            frame_sizes=sizes,  # type: ignore[arg-type]
        )
    n_clips = cfg["training"]["unlabeled_clips_per_step"] or info.world_size
    if n_clips % info.world_size:
        raise ConfigError(
            None,
            f"training.unlabeled_clips_per_step {n_clips} is not divisible by the "
            f"{info.world_size} processes.",
            "Choose a multiple of --nproc_per_node (or leave it null: one clip per process).",
        )
    anneal = (cfg.get("callbacks") or {}).get("anneal_weight") or {}
    return SemiSupervised(
        losses, fits, dataset, int(n_clips), seed, info, anneal,
        int(cfg["training"]["num_workers"]),
    )  # fmt: skip
