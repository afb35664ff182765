"""Batched inference over whole videos, with decoding overlapped with the network.

``predict_video`` reads a video front to back in a producer thread that batches and
preprocesses the frames (``video_batches``), so decoding the next batch overlaps inference
on the current one; a context model computes each frame's backbone features once
(``models.context.SlidingWindows``). Each batch yields a
:class:`PredictEvent`, like training does, so the napari widget and the CLI drive the same
code.

The output is Lightning Pose's prediction CSV: three header rows (scorer = the model's
``model.model_name``, bodyparts, coords ``x, y, likelihood``), one row per frame, the frame
number as index, coordinates in ORIGINAL video pixels. It is written atomically through
``io.pose_csv.write_pose_csv`` and loads in Lightning Pose, DeepLabCut and ``movement``.

A video that stops decoding partway: the frames predicted before the bad one are written to
``<out>.partial.csv`` and a ``VideoError`` names the frame and that file
(``partial_predictions``; the requested output path is left untouched).
A video cut short (fewer frames than its header says) is treated the same way, unless
``InferenceOptions.allow_partial``: then the output is written, the file it replaces kept as
``<out>.bak1`` and the events' message says "PARTIAL". ``InferenceOptions.start/stop``
predict a frame range only (the CSV rows are those frame numbers).

``predict_videos`` runs a list of videos; under ``torchrun`` each rank takes every
``WORLD_SIZE``-th video (``distributed.shard``) on its own GPU.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from napari_lightning_pose import distributed
from napari_lightning_pose.data.transforms import (
    keypoints_to_original,
    resize_scale,
    to_model_input,
)
from napari_lightning_pose.errors import VideoError
from napari_lightning_pose.inference.partial_predictions import (
    partial_failure,
    partial_path,
)
from napari_lightning_pose.inference.predict_options import InferenceOptions
from napari_lightning_pose.inference.sessions import (
    model_views,
    predict_sessions,
    refuse_single_video,
)
from napari_lightning_pose.inference.video_batches import End, Failure, decoded_batches
from napari_lightning_pose.inference.video_metrics import fits_for_model, write_video_metrics
from napari_lightning_pose.io.pose_csv import PREDICTION_COORDS, make_pose_frame, write_pose_csv
from napari_lightning_pose.io.video import VideoReader
from napari_lightning_pose.io.video_index import VideoWarning
from napari_lightning_pose.models.context import SlidingWindows
from napari_lightning_pose.models.pose_model import best_head
from napari_lightning_pose.training.checkpoints import load_checkpoint
from napari_lightning_pose.training.precision import autocast

ModelSource = str | Path | tuple[nn.Module, dict[str, Any]]


@dataclass
class PredictEvent:
    """One progress report from :func:`predict_video`.

    Attributes
    ----------
    kind : str
        ``"start"`` (video opened), ``"batch"`` (a batch was predicted) or ``"done"``
        (the CSV was written).
    video : Path
        The video being predicted.
    frames_done : int
        Frames predicted so far.
    n_frames : int
        Frames in the video.
    frames_per_s : float or None
        Throughput so far, decoding included.
    out_csv : Path or None
        The CSV written ("done" only).
    message : str
        Notes, e.g. a warning that the file is shorter than its header says.
    """

    kind: Literal["start", "batch", "done"]
    video: Path
    frames_done: int
    n_frames: int
    frames_per_s: float | None = None
    out_csv: Path | None = None
    message: str = ""

    def progress(self) -> tuple[int, int | None]:
        """(frames done, frames in the video), for a progress bar."""
        return self.frames_done, self.n_frames

    def summary(self) -> dict[str, str]:
        """Throughput as a short string, for a progress bar."""
        return {"fps": f"{self.frames_per_s:.1f}"} if self.frames_per_s else {}


# --------------------------------------------------------------------------- public API
def predict_video(
    model: ModelSource,
    video_path: str | Path,
    out_csv: str | Path,
    *,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    options: InferenceOptions | None = None,
    one_view: bool = False,
) -> Iterator[PredictEvent]:
    """Predict every frame of a video and write a Lightning Pose prediction CSV.

    Parameters
    ----------
    model
        A checkpoint path (``training.load_checkpoint``) or a ``(model, cfg)`` pair.
    video_path
        The video to predict.
    out_csv
        Where to write the predictions (atomically; parent folders are created).
    batch_size, device
        Frames per forward pass and where to run (default: CUDA if available).
    options
        Finer control (:class:`InferenceOptions`); its batch size/device win when given.
    one_view
        A multi-camera model predicts sessions (``predict_videos``); True lets it predict
        one view's video alone (``evaluate --video``'s per-video metrics).

    Yields
    ------
    PredictEvent
        "start", one "batch" per batch, then "done" with ``out_csv``.

    Raises
    ------
    VideoError
        The video cannot be opened, or a frame cannot be decoded: the message names the
        frame, and the frames before it are in ``<out_csv stem>.partial.csv``.
    CheckpointError
        The checkpoint is missing or unreadable.
    """
    opts = options or InferenceOptions(batch_size=batch_size, device=device)
    dev = distributed.resolve_device(opts.device, "auto")
    loaded = _load(model, dev)
    if not one_view:
        refuse_single_video(loaded.cfg, video_path)
    yield from _predict_one(loaded, Path(video_path), Path(out_csv), dev, opts)


def predict_videos(
    model: ModelSource,
    videos: Sequence[str | Path],
    out_dir: str | Path,
    *,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    options: InferenceOptions | None = None,
) -> Iterator[PredictEvent]:
    """Predict several videos into ``out_dir/<video stem>.csv``, sharded across ranks.

    Under ``torchrun`` rank ``r`` of ``W`` predicts ``videos[r::W]`` on ``cuda:LOCAL_RANK``
    (or the CPU); without it one process predicts them all. No process group is needed:
    the ranks share nothing but the file system. A multi-camera model predicts sessions
    (``inference.sessions``): the videos must hold every view of each session.

    Yields
    ------
    PredictEvent
        The events of each of this rank's videos in turn.
    """
    stems = [Path(v).stem for v in videos]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise VideoError(
            None,
            f"several videos share the name {dupes[0]!r}, so their CSVs would overwrite "
            "each other.",
            "Predict them into separate --out folders.",
        )
    rank, world_size, local_rank = distributed.env_ranks()
    opts = options or InferenceOptions(batch_size=batch_size, device=device)
    dev = distributed.resolve_device(opts.device, "auto", local_rank)
    loaded = _load(model, dev)
    views = model_views(loaded.cfg)
    if views:
        one = functools.partial(_predict_one, loaded, device=dev, opts=opts)
        yield from predict_sessions(one, videos, Path(out_dir), views)
        return
    mine = distributed.shard(list(videos), rank, world_size)
    out_dir = Path(out_dir)
    for video in mine:
        out = out_dir / f"{Path(video).stem}.csv"
        yield from _predict_one(loaded, Path(video), out, dev, opts)


# --------------------------------------------------------------------------- internals
@dataclass(frozen=True)
class LoadedModel:
    """A network in eval mode, its config, and the PCA fits saved beside it.

    ``pca_states`` is the checkpoint's ``pca`` entry as saved (``PCAFit.to_state`` per loss
    name), read by the video metrics; empty for a ``(model, cfg)`` pair, whose metrics then
    fit the PCA from the project's labels. It travels here, not inside the config dict.
    """

    net: nn.Module
    cfg: dict[str, Any]
    pca_states: Mapping[str, Any] = field(default_factory=dict)


def _load(model: ModelSource, device: torch.device) -> LoadedModel:
    """The network in eval mode with its config and saved PCA fits."""
    if isinstance(model, tuple):
        net, cfg = model
        return LoadedModel(net.to(device).eval(), cfg)
    net, cfg, meta = load_checkpoint(model, device)
    return LoadedModel(net, cfg, meta["pca"])


def _prepare(net: nn.Module, device: torch.device, opts: InferenceOptions) -> nn.Module:
    if opts.use_channels_last(device):
        net = net.to(memory_format=torch.channels_last)
    if opts.compile:
        net = torch.compile(net)
    return net


def _predict_one(
    loaded: LoadedModel,
    video: Path,
    out_csv: Path,
    device: torch.device,
    opts: InferenceOptions,
) -> Iterator[PredictEvent]:
    net, cfg = loaded.net, loaded.cfg
    resize_hw = (
        int(cfg["data"]["image_resize_dims"]["height"]),
        int(cfg["data"]["image_resize_dims"]["width"]),
    )
    names = list(cfg["data"]["keypoint_names"])
    scorer = str(cfg["model"]["model_name"])
    with warnings.catch_warnings(record=True) as caught:  # passed on in the events' message
        warnings.simplefilter("always")
        reader = VideoReader(video)
    notes = [str(w.message) for w in caught]
    cut_short = any(issubclass(w.category, VideoWarning) for w in caught)
    with reader:
        rows = range(*slice(opts.start, opts.stop).indices(reader.n_frames))
        if not rows:
            raise VideoError(
                video,
                f"the frame range {opts.start}..{opts.stop} holds none of its "
                f"{reader.n_frames} frames.",
                "Choose --start/--end inside the video.",
            )
        if cut_short and opts.allow_partial:
            notes.append(f"PARTIAL: only frames 0..{reader.n_frames - 1} are predicted.")
        n = rows.stop
        height, width = reader.shape[1:3]
        scale = torch.as_tensor(resize_scale((height, width), resize_hw), dtype=torch.float64)
        values = np.full((n, len(names), len(PREDICTION_COORDS)), np.nan)
        yield PredictEvent("start", video, 0, len(rows), message=" ".join(notes))

        model = _prepare(net, device, opts)
        windows = (
            SlidingWindows(model, opts.context_head) if hasattr(net, "window_outputs") else None
        )
        if windows is not None:  # a frame range: the first window is at its first frame
            windows.next_frame = rows.start
        amp = opts.amp_dtype(device)
        channels_last = opts.use_channels_last(device)
        on_gpu = device.type == "cuda"
        done = 0
        start = time.perf_counter()
        decoding = decoded_batches(
            reader, opts.batch_size, resize_hw, not on_gpu, rows, opts.queue_batches,
            f"decode-{video.name}",
        )  # fmt: skip
        with decoding as batches:
            while True:
                item = batches.get()
                if isinstance(item, End):
                    break
                if isinstance(item, Failure):
                    kept = values[rows.start : max(done, rows.start)]
                    raise partial_failure(item.error, kept, names, scorer, out_csv, rows.start)
                indices, frames = item
                images = to_model_input(frames, resize_hw, device) if on_gpu else frames
                if channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
                with torch.inference_mode(), autocast(device, amp):
                    if windows is None:
                        kp, like = best_head(model(images))
                    else:  # context model: outputs lag the input by up to 2 frames
                        indices, (kp, like) = windows.push(images, last=done_after(indices, n))
                if len(indices):
                    kp = keypoints_to_original(kp.double().cpu(), scale)
                    values[indices, :, :2] = kp.numpy()
                    values[indices, :, 2] = like.double().cpu().numpy()
                    done = int(indices[-1]) + 1
                predicted = max(done - rows.start, 0)
                rate = predicted / max(time.perf_counter() - start, 1e-9)
                yield PredictEvent("batch", video, predicted, len(rows), rate)
        df = make_pose_frame(values[rows.start :], names, PREDICTION_COORDS, rows, scorer)
        if cut_short and not opts.allow_partial:
            raise partial_failure(
                VideoError(
                    video,
                    " ".join(n.split(": ", 1)[-1] for n in notes),
                    f"Pass --allow-partial to write them to {out_csv.name} anyway.",
                ),
                df.to_numpy().reshape(len(df), len(names), -1),
                names,
                scorer,
                out_csv,
                rows.start,
            )
        # a partial result (allow_partial) keeps the file it replaces as <out>.bak1
        write_pose_csv(df, out_csv, backups=1 if cut_short else 0)
        if opts.metrics:
            fits = fits_for_model(cfg, loaded.pca_states)
            if model_views(cfg):  # a view's poses alone: the cross-camera PCA needs them all
                fits.pop("pca_multiview", None)
            write_video_metrics(
                out_csv, values[rows.start :, :, :2], names, fits, np.asarray(rows)
            )
        rate = len(rows) / max(time.perf_counter() - start, 1e-9)
        yield PredictEvent(
            "done", video, len(rows), len(rows), rate, out_csv=out_csv, message=" ".join(notes)
        )


def done_after(indices: np.ndarray, n_frames: int) -> bool:
    """Whether a batch of frame ``indices`` ends the video."""
    return int(indices[-1]) + 1 >= n_frames


__all__ = [
    "PREDICTION_COORDS",
    "LoadedModel",
    "PredictEvent",
    "partial_path",
    "predict_video",
    "predict_videos",
]
