"""Synchronised unlabeled clips of a multi-camera project: V clips decoded in step.

A session has one video per view (``io.views.group_sessions``); a clip key
``(session, first, seed)`` gives the same frames ``first .. first + L - 1`` of every view's
video, so the cross-camera ``pca_multiview`` can compare the views frame by frame. An item's
``"images"`` is (V, L, 3, h, w) and its ``"scale"`` (V, 2); ``flatten_views`` turns a batch of
C such clips into the C * V single-view clips the model and the per-view losses (temporal,
pca_singleview) see, in order clip-major, view-minor, with ``"views"`` = V for
``losses.pca_losses.stack_views``. Clip choice is ``data.unlabeled.clip_keys`` over sessions,
so DDP ranks and resumed runs see the same clips as one uninterrupted process.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from napari_lightning_pose.data.unlabeled import ClipKey, UnlabeledClips, project_videos
from napari_lightning_pose.io.video_index import probe_video
from napari_lightning_pose.io.views import check_frame_counts, group_sessions


class SessionClips(Dataset):
    """Clips of ``length`` frames taken at the same frames from every view of a session.

    Parameters
    ----------
    video_dir
        ``data.video_dir``; its videos grouped into sessions by view name.
    views
        ``data.view_names``.
    length, resize_hw, imgaug
        As ``data.unlabeled.UnlabeledClips``.
    frame_sizes
        Per view, the allowed (height, width) of its videos (its labeled frames'); None: any.
    """

    def __init__(
        self,
        video_dir: str | Path,
        views: Sequence[str],
        length: int,
        resize_hw: tuple[int, int],
        imgaug: str = "none",
        frame_sizes: Sequence[set[tuple[int, int]] | None] | None = None,
    ) -> None:
        sessions = group_sessions(project_videos(video_dir), views)
        if not sessions:
            from napari_lightning_pose.errors import VideoError

            raise VideoError(
                video_dir,
                f"holds no session with a video per view {list(views)}, but the unsupervised "
                "losses train on unlabeled video.",
                "Add <session>_<view>.mp4 for every view, or set model.losses_to_use: [].",
            )
        for session in sessions.values():
            check_frame_counts(session, {v: probe_video(p).n_frames for v, p in session.items()})
        self.sessions = list(sessions)
        self.views = list(views)
        sizes = frame_sizes or [None] * len(views)
        self.per_view = [
            UnlabeledClips(
                [sessions[s][view] for s in self.sessions], length, resize_hw, imgaug, size
            )
            for view, size in zip(views, sizes, strict=True)
        ]
        self.length = int(length)
        self.videos = [p for s in self.sessions for p in sessions[s].values()]

    @property
    def starts(self) -> list[int]:
        """Possible first frames of each session (the same in every view)."""
        return self.per_view[0].starts

    def __len__(self) -> int:
        return sum(self.starts)

    def __getitem__(self, key: ClipKey) -> dict[str, Any]:
        items = [clips[key] for clips in self.per_view]
        return {
            "images": torch.stack([item["images"] for item in items]),
            "scale": torch.stack([item["scale"] for item in items]),
            "video": key[0],
            "first": key[1],
        }


def flatten_views(batches: Iterator[dict[str, Any]], n_views: int) -> Iterator[dict[str, Any]]:
    """Batches of C multi-view clips as batches of C * V clips with ``"views"`` = V."""
    for batch in batches:
        out = dict(batch)
        out["images"] = batch["images"].flatten(0, 1)
        out["scale"] = batch["scale"].flatten(0, 1)
        out["views"] = n_views
        yield out
