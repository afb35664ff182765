"""Unlabeled clips of consecutive video frames for the unsupervised losses.

``UnlabeledClips`` decodes clips from the project's videos (``data.video_dir``) with PyAV
(``io.video.VideoReader``: one seek to the keyframe before the clip, then a forward decode).
In DataLoader workers (started with ``spawn``, see ``WORKER_START``) each worker opens its
own container on first use, so workers never share a file position. Frames are resized
and ImageNet-normalised by ``data.transforms`` exactly as labeled frames and video
prediction are. Augmentation: one draw per clip, shared by all its frames, of the
photometric part of ``training.imgaug`` (brightness/contrast, motion blur); geometric
transforms are left out because the unsupervised losses compare predictions in original
video pixels (a rotated or flipped pose is not a pose of the PCA subspace).

Which clips step ``s`` sees is a pure function of (seed, s) (``clip_keys``): global clip
``c`` of the step comes from a generator seeded with (seed, s, c), rank ``r`` of ``W``
takes clips ``r, r + W, ...``. Resuming at step ``s`` or running under DDP therefore sees
exactly the clips an uninterrupted single process does.

Decoding a clip starts at the keyframe before it, so a random clip decodes on average half a
keyframe interval of frames it does not use (about 100 on the bundled sample). Every frame
decoded on the way is kept, resized, in a per-process cache of ``cache_bytes`` (LRU), so
later clips of the same stretch of video decode nothing; the frames are resized one by one
either way, so a clip is the same tensor from the cache as from the decoder.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from napari_lightning_pose.cache import LRUCache
from napari_lightning_pose.data.augment import Augmenter, pipeline_params
from napari_lightning_pose.data.context import CONTEXT_FRAMES
from napari_lightning_pose.data.transforms import normalize, resize_frames, resize_scale
from napari_lightning_pose.errors import ConfigError, VideoError
from napari_lightning_pose.io.video import VIDEO_SUFFIXES, VideoReader
from napari_lightning_pose.io.video_index import probe_video

#: How clip workers start: "spawn", as a forked child's FFmpeg decoder crashed (segfault)
#: when the parent had already run torch and PyAV work.
WORKER_START = "spawn"

ClipKey = tuple[int, int, int]
"""(video index, first frame, augmentation seed)."""

#: Default size of each process's cache of resized decoded frames (bytes).
CLIP_CACHE_BYTES = 256 * 2**20


class ResizedFrameCache:
    """Resized frames of one video by frame index, least recently used evicted past a budget."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = int(budget_bytes)
        self._frames: LRUCache[int, torch.Tensor] = LRUCache(budget_bytes, _tensor_bytes)

    @property
    def nbytes(self) -> int:
        """Bytes of the frames kept now."""
        return self._frames.total

    def get(self, indices: range) -> list[torch.Tensor] | None:
        """The cached frames of ``indices`` (marked as used), or None if any is missing."""
        if not all(i in self._frames for i in indices):
            return None
        return [self._frames.get(i) for i in indices]

    def put(self, i: int, frame: torch.Tensor) -> None:
        """Keep ``frame`` as frame ``i``, evicting the least recently used past the budget."""
        if i in self._frames:
            self._frames.touch(i)
            return
        self._frames.put(i, frame)


def _tensor_bytes(frame: torch.Tensor) -> int:
    return frame.element_size() * frame.nelement()


def project_videos(video_dir: str | Path) -> list[Path]:
    """The videos of ``data.video_dir``, sorted by name; VideoError when there are none."""
    folder = Path(video_dir)
    videos = (
        sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if folder.is_dir()
        else []
    )
    if not videos:
        raise VideoError(
            folder,
            "holds no video (.mp4, .avi, .mov, .mkv), but the unsupervised losses in "
            "model.losses_to_use train on unlabeled video.",
            "Put the project's videos there (data.video_dir), or set model.losses_to_use: [].",
        )
    return videos


def clip_keys(
    seed: int, step: int, n_clips: int, rank: int, world_size: int, starts: Sequence[int]
) -> list[ClipKey]:
    """This rank's clips of step ``step``: ``n_clips`` global clips, every ``world_size``-th.

    ``starts[v]`` is the number of possible first frames of video ``v``; a video is chosen
    with probability proportional to it, then a first frame uniformly.
    """
    weights = np.asarray(starts, dtype=np.float64)
    keys = []
    for c in range(rank, n_clips, world_size):
        rng = np.random.default_rng([seed, step, c, 0x5E41])
        video = int(rng.choice(len(weights), p=weights / weights.sum()))
        first = int(rng.integers(0, int(starts[video])))
        keys.append((video, first, int(rng.integers(0, 2**62))))
    return keys


class StepClipSampler(Sampler[list[ClipKey]]):
    """Batches of clip keys for steps ``start_step .. total_steps - 1`` (see ``clip_keys``)."""

    def __init__(
        self,
        seed: int,
        n_clips: int,
        rank: int,
        world_size: int,
        starts: Sequence[int],
        start_step: int,
        total_steps: int,
    ) -> None:
        self.seed, self.n_clips, self.rank, self.world_size = seed, n_clips, rank, world_size
        self.starts = list(starts)
        self.start_step, self.total_steps = start_step, total_steps

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)

    def __iter__(self) -> Iterator[list[ClipKey]]:
        for step in range(self.start_step, self.total_steps):
            yield clip_keys(self.seed, step, self.n_clips, self.rank, self.world_size, self.starts)


class UnlabeledClips(Dataset):
    """Clips of ``length`` consecutive frames as model-ready dicts.

    Item ``(video, first, seed)``: ``"images"`` float32 (length, 3, h, w) normalised,
    ``"scale"`` float32 (2,) original -> resized factors (x, y), ``"video"`` and
    ``"first"`` ints.

    Parameters
    ----------
    videos
        Video files.
    length
        Frames per clip.
    resize_hw
        ``data.image_resize_dims`` (height, width).
    imgaug
        ``training.imgaug``; only its photometric part is used (see module docstring).
    frame_sizes
        Allowed (height, width) of the videos, those of the labeled frames; None: any.
    """

    def __init__(
        self,
        videos: Sequence[Path],
        length: int,
        resize_hw: tuple[int, int],
        imgaug: str = "none",
        frame_sizes: set[tuple[int, int]] | None = None,
        cache_bytes: int = CLIP_CACHE_BYTES,
    ) -> None:
        self.cache_bytes = int(cache_bytes)
        self.videos = [Path(v) for v in videos]
        self.length = int(length)
        self.resize_hw = resize_hw
        self.infos = [probe_video(v) for v in self.videos]
        for info in self.infos:
            if frame_sizes and (info.height, info.width) not in frame_sizes:
                sizes = ", ".join(f"{w} x {h}" for h, w in sorted(frame_sizes))
                raise VideoError(
                    info.path,
                    f"is {info.width} x {info.height} pixels but the labeled frames are "
                    f"{sizes}; the unsupervised losses compare poses in labeled-frame pixels.",
                    "Use videos of the labeled camera setup in data.video_dir (re-encode at the "
                    "labeled size), or move this one out of it.",
                )
            if info.n_frames < self.length:
                raise VideoError(
                    info.path,
                    f"has {info.n_frames} frames, fewer than one unlabeled clip "
                    f"({self.length} frames: dali.base.train.sequence_length, plus 4 context "
                    "frames for a heatmap_mhcrnn model).",
                    "Lower dali.base.train.sequence_length (dali.context.train.batch_size for "
                    "context models) or move the short video out of data.video_dir.",
                )
        params = pipeline_params(imgaug)
        photometric = dataclasses.replace(
            params, p_rotate=0.0, p_scale=0.0, p_translate=0.0, p_flip=0.0
        )
        self.augmenter = Augmenter(photometric) if photometric != pipeline_params("none") else None
        # per process (pid) and video: a forked worker opens its own and never touches (not
        # even closes) the parent's, whose FFmpeg state does not survive a fork
        self._readers: dict[int, dict[int, VideoReader]] = {}
        self._caches: dict[int, dict[int, ResizedFrameCache]] = {}  # likewise per process

    @property
    def starts(self) -> list[int]:
        """Possible first frames of each video."""
        return [info.n_frames - self.length + 1 for info in self.infos]

    def __len__(self) -> int:
        return sum(self.starts)

    def _reader(self, v: int) -> VideoReader:
        mine = self._readers.setdefault(os.getpid(), {})
        if v not in mine:  # opened lazily: in each worker, by that worker
            mine[v] = VideoReader(self.videos[v])
        return mine[v]

    def _resized_clip(self, v: int, first: int) -> torch.Tensor:
        """Frames ``first .. first + length - 1`` of video ``v`` resized, (T, 3, h, w), 0..255."""
        if self.cache_bytes <= 0:
            return resize_frames(self._reader(v)[first : first + self.length], self.resize_hw)
        cache = self._caches.setdefault(os.getpid(), {})
        if v not in cache:
            cache[v] = ResizedFrameCache(self.cache_bytes)
        wanted = range(first, first + self.length)
        frames = cache[v].get(wanted)
        if frames is None:  # decode from the keyframe: the frames on the way come for free
            reader = self._reader(v)
            start = reader.keyframe_before(first)
            for i, frame in enumerate(reader[start : first + self.length], start):
                cache[v].put(i, resize_frames(frame[None], self.resize_hw)[0])
            frames = cache[v].get(wanted)
            if frames is None:  # the budget holds less than one clip: resize this clip only
                frames = list(resize_frames(reader[first : first + self.length], self.resize_hw))
        return torch.stack(frames)

    def __getitem__(self, key: ClipKey) -> dict[str, Any]:
        v, first, seed = key
        info = self.infos[v]
        scale = resize_scale((info.height, info.width), self.resize_hw)
        raw = self._resized_clip(v, first)
        if self.augmenter is not None:  # one draw for the whole clip
            t = raw.shape[0]
            flat, _ = self.augmenter(
                raw.flatten(0, 1), np.zeros((0, 2)), np.random.default_rng(seed)
            )
            raw = flat.unflatten(0, (t, 3))
        images = normalize(raw)
        return {
            "images": images,
            "scale": torch.as_tensor(scale, dtype=torch.float32),
            "video": v,
            "first": first,
        }

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_readers"] = {}  # each worker opens its own
        state["_caches"] = {}
        return state


def clip_settings(cfg: Mapping[str, Any], context: bool) -> tuple[int, int]:
    """(frames the losses see per clip, frames decoded per clip) from the ``dali`` section.

    Base models: ``dali.base.train.sequence_length`` (default 16) both. Context models:
    ``dali.context.train.batch_size`` (default 16) frames get predictions, and 2 more on
    each side are decoded for their windows.
    """
    dali = cfg.get("dali") or {}
    section = "context" if context else "base"
    key = "batch_size" if context else "sequence_length"
    value = ((dali.get(section) or {}).get("train") or {}).get(key, 16)
    if not isinstance(value, int) or value < 2:
        raise ConfigError(
            None, f"dali.{section}.train.{key} is {value!r}; it must be an integer >= 2."
        )
    return value, value + (CONTEXT_FRAMES - 1 if context else 0)
