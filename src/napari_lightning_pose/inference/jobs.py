"""The docks' long jobs as plain generators (no Qt): train an ensemble; predict + smooth.

The training and predict docks run these in a ``thread_worker`` and the demo runs them with a
tqdm bar, so both drive the same code. Each job checks a stop signal (a ``threading.Event``)
between steps or batches and ends cleanly: training saves ``last.ckpt`` (through the core's
stop signal), prediction leaves the earlier CSVs as they were (each is written atomically,
and an interrupted member writes nothing).

Layout in the project (``data.data_dir``):

- ``models/<model_name>/member<m>/`` one training run per ensemble member (seed ``m``);
- ``predictions/<video stem>/<member>.csv`` the members' predictions and
  ``predictions/<video stem>/<video stem>.eks.csv`` the smoothed output.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from napari_lightning_pose.errors import LightningPoseInputError, VideoError

MEMBER_PREFIX = "member"


def models_dir(cfg: Mapping[str, Any]) -> Path:
    """Where the dock trains an ensemble: ``<data_dir>/models/<model.model_name>``."""
    return Path(cfg["data"]["data_dir"]) / "models" / str(cfg["model"]["model_name"])


def predictions_dir(cfg: Mapping[str, Any], video: str | Path) -> Path:
    """Where predictions of ``video`` go: ``<data_dir>/predictions/<video stem>``."""
    return Path(cfg["data"]["data_dir"]) / "predictions" / Path(video).stem


def preload_torch() -> None:
    """Import the parts of torch that training and prediction load lazily, safely.

    torch imports ``torch._dynamo`` on first use (e.g. in the optimiser's first step), and
    that imports triton when it is installed. With Mesa's OpenGL loaded (napari's canvas
    under Xvfb, llvmpipe) loading triton's C extension crashed the process (segmentation
    fault): Mesa loads its own libLLVM with global symbols, and triton's LLVM breaks on
    them. Without a GPU triton has no use (it only compiles GPU kernels); in both cases it
    is hidden from torch (torch.compile on the GPU then runs without triton's kernels).
    Each job calls this first. It also imports torchvision (its C ops register themselves)
    and the training and prediction modules, so a job's first step pays no import.
    """
    import sys

    import torch

    from napari_lightning_pose.inference.torch_import import system_llvm_loaded

    if "triton" not in sys.modules and (not torch.cuda.is_available() or system_llvm_loaded()):
        sys.modules["triton"] = None  # `import triton` raises ImportError: torch skips it
    import torch._dynamo
    import torchvision  # noqa: F401

    import napari_lightning_pose.inference.predict
    import napari_lightning_pose.training  # noqa: F401


# ------------------------------------------------------------------------------ training
@dataclass
class EnsembleTrainEvent:
    """A training event of one member of the ensemble being trained.

    Attributes
    ----------
    member : int
        Which member (0-based; also its seed offset).
    n_members : int
        Ensemble size.
    event : TrainEvent
        The core's event (kind, step, losses, val_pixel_error, eta_s, checkpoint...).
    """

    member: int
    n_members: int
    event: Any

    @property
    def kind(self) -> str:
        """The core event's kind ("step", "validation", "done", ...)."""
        return self.event.kind

    def progress(self) -> tuple[int, int | None]:
        """(steps done over all members, steps of all members)."""
        total = self.event.total_steps
        return self.member * total + self.event.step, self.n_members * total

    def summary(self) -> dict[str, str]:
        """The member and the core event's summary, for a progress bar."""
        return {"member": f"{self.member + 1}/{self.n_members}", **self.event.summary()}

    def eta_s(self) -> float | None:
        """Seconds until the whole ensemble is trained, assuming members take equally long."""
        if self.event.eta_s is None or self.event.step == 0:
            return None
        per_step = self.event.eta_s / max(self.event.total_steps - self.event.step, 1)
        left = self.event.total_steps - self.event.step
        left += (self.n_members - self.member - 1) * self.event.total_steps
        return per_step * left if self.event.total_steps > self.event.step else None


def train_ensemble(
    cfg: Mapping[str, Any],
    out_dir: str | Path,
    n_members: int,
    *,
    steps: int | None = None,
    first_seed: int = 0,
    resume: bool = False,
    device: str | None = None,
    stop: threading.Event | None = None,
    warm: bool = False,
    folds: bool = False,
) -> Iterator[EnsembleTrainEvent]:
    """Train ``n_members`` models with seeds ``first_seed + m`` into ``out_dir/member<m>``.

    ``resume`` continues every member that has a ``last.ckpt`` (one already at its last
    step is just reported done) and starts the others. ``warm`` ("continue from the current
    models") starts each member from its own trained weights in ``out_dir/member<m>``
    (``training.warm_start``: fresh optimiser and schedule, current labels), so the
    ensemble keeps its diversity; a member without weights starts from scratch. ``folds``
    gives member ``m`` its own held-out frames (``training.holdout_fold = [m, n_members]``),
    so label QC can judge each label by members that never trained on it. When
    ``stop`` is set the running member saves ``last.ckpt`` within one step, reports
    "stopped", and no further member starts; Resume then continues where it stopped.
    """
    preload_torch()  # first: the training package imports torch
    from napari_lightning_pose.training import BEST_CKPT, LAST_CKPT, train

    if n_members < 1:
        raise LightningPoseInputError(None, f"ensemble size is {n_members}; it must be >= 1.")
    out_dir = Path(out_dir)
    for m in range(n_members):
        run_dir = out_dir / f"{MEMBER_PREFIX}{m}"
        again = resume and (run_dir / LAST_CKPT).is_file()
        has_weights = any((run_dir / n).is_file() for n in (BEST_CKPT, LAST_CKPT))
        init = run_dir if warm and not again and has_weights else None
        fold = [m, n_members] if folds and n_members > 1 else None
        if init is not None or again:  # a continued member keeps the frames it held out
            fold = _trained_fold(run_dir, fold)
        member_cfg = {**cfg, "training": {**cfg["training"], "holdout_fold": fold}}
        events = train(
            member_cfg,
            run_dir,
            steps=steps,
            seed=first_seed + m,
            resume=again,
            device=device,
            stop=stop,
            init_from=init,
        )
        last = None
        for event in events:
            last = event
            yield EnsembleTrainEvent(m, n_members, event)
        if last is None or last.kind == "stopped" or (stop is not None and stop.is_set()):
            return


def _trained_fold(run_dir: Path, default: list[int] | None) -> list[int] | None:
    """The ``training.holdout_fold`` a run trained with (its ``config.yaml``), else
    ``default``: weights that saw a frame must not be taken to have held it out."""
    from napari_lightning_pose.errors import ConfigError
    from napari_lightning_pose.io.config import CONFIG_NAME
    from napari_lightning_pose.io.yaml_reading import read_yaml_mapping

    try:
        training = read_yaml_mapping(run_dir / CONFIG_NAME).get("training")
    except ConfigError:  # no readable config.yaml
        return default
    return training.get("holdout_fold") if isinstance(training, dict) else default


# --------------------------------------------------------------------- predict + smooth
@dataclass
class PredictSmoothEvent:
    """Progress of :func:`predict_and_smooth`.

    ``kind`` is "batch" (a batch of one member's prediction), "member_done", "smoothing",
    "done" (``smoothed_csv`` and ``member_csvs`` set) or "stopped".
    """

    kind: Literal["batch", "member_done", "smoothing", "done", "stopped"]
    member: int
    n_members: int
    frames_done: int = 0
    n_frames: int = 0
    member_csvs: list[Path] = field(default_factory=list)
    smoothed_csv: Path | None = None
    message: str = ""
    #: multi-camera sessions (``inference.session_jobs``): each view's (and "3d") smoothed CSV
    camera_csvs: dict[str, Path] = field(default_factory=dict)

    def progress(self) -> tuple[int, int | None]:
        """(frames predicted over all members, frames of all members)."""
        if self.kind in ("smoothing", "done"):
            return self.n_members * self.n_frames, self.n_members * self.n_frames
        return self.member * self.n_frames + self.frames_done, self.n_members * self.n_frames

    def summary(self) -> dict[str, str]:
        """The member being predicted, for a progress bar."""
        return {"member": f"{self.member + 1}/{self.n_members}"}


def find_members(path: str | Path) -> list[Path]:
    """The checkpoints of an ensemble: ``path`` is a ``.ckpt``, a run folder (its
    ``best.ckpt``, else ``last.ckpt``) or a folder of run folders (each one's)."""
    from napari_lightning_pose.errors import CheckpointError
    from napari_lightning_pose.io.run_layout import BEST_CKPT, LAST_CKPT

    path = Path(path)
    if path.is_file():
        return [path]

    def ckpt_of(folder: Path) -> Path | None:
        for name in (BEST_CKPT, LAST_CKPT):
            if (folder / name).is_file():
                return folder / name
        return None

    if path.is_dir():
        own = ckpt_of(path)
        if own is not None:
            return [own]
        found = [c for c in (ckpt_of(d) for d in sorted(path.iterdir()) if d.is_dir()) if c]
        if found:
            return found
    raise CheckpointError(
        path,
        "holds no trained model (no best.ckpt / last.ckpt in it or in its sub-folders).",
        "Train an ensemble first (Train dock) or pick the folder it trained into.",
    )


def check_members(checkpoints: Sequence[Path]) -> dict[str, Any]:
    """Check that all members predict the same keypoints; return the first one's config.

    Raises
    ------
    CheckpointError
        A member is unreadable or was trained on other keypoints than the first.
    """
    from napari_lightning_pose.training import CheckpointError, read_checkpoint

    first, first_path = read_checkpoint(checkpoints[0])
    names = list(first["keypoint_names"])
    for ckpt_path in checkpoints[1:]:
        ckpt, path = read_checkpoint(ckpt_path)
        if list(ckpt["keypoint_names"]) != names:
            raise CheckpointError(
                path,
                f"was trained on keypoints {list(ckpt['keypoint_names'])}, but {first_path} on "
                f"{names}; an ensemble must predict the same keypoints.",
                "Pick members trained on the same project (the same labels file).",
            )
    return first["config"]


def check_video_size(cfg: Mapping[str, Any], video: str | Path) -> None:
    """Raise ``VideoError`` when the video's frames are not the size the models trained on.

    The network would see the animal at another scale than in training, and predictions
    would be poor without any error; better to say so before predicting.
    """
    from napari_lightning_pose.io.video import VideoReader

    dims = cfg["data"].get("image_orig_dims") or {}
    with VideoReader(video) as reader:
        height, width = reader.shape[1:3]
    want = (dims.get("height"), dims.get("width"))
    if None not in want and (height, width) != tuple(want):
        raise VideoError(
            video,
            f"frames are {width} x {height} px, but the models were trained on "
            f"{want[1]} x {want[0]} px frames (data.image_orig_dims).",
            "Predict a video from the same camera setup, or label frames of this one and "
            "train on them.",
        )


def predict_and_smooth(
    checkpoints: Sequence[str | Path],
    video: str | Path,
    out_dir: str | Path,
    *,
    device: str | None = None,
    smoothing: str | float = "auto",
    stop: threading.Event | None = None,
) -> Iterator[PredictSmoothEvent]:
    """Predict ``video`` with each member into ``out_dir/<member>.csv``, then run EKS.

    EKS is multi-view over ``data.mirrored_column_matches`` when the config has two or more
    views, single-view otherwise; the result is written to ``out_dir/<video stem>.eks.csv``.
    With one member there is nothing to fuse: the "done" event has no smoothed CSV.

    Raises
    ------
    CheckpointError
        Members unreadable or trained on different keypoints.
    VideoError
        The video cannot be read, or its frame size differs from training.
    """
    preload_torch()  # first: the prediction module imports torch
    from napari_lightning_pose.ensemble.smooth import smooth_ensemble, write_smoothed_csv
    from napari_lightning_pose.inference.predict import predict_video

    checkpoints = [Path(c) for c in checkpoints]
    video, out_dir = Path(video), Path(out_dir)
    cfg = check_members(checkpoints)
    check_video_size(cfg, video)
    names = member_names(checkpoints)
    n = len(checkpoints)
    done: list[Path] = []
    for m, (ckpt, name) in enumerate(zip(checkpoints, names, strict=True)):
        out_csv = out_dir / f"{name}.csv"
        events = predict_video(ckpt, video, out_csv, device=device)
        try:
            for event in events:
                if stop is not None and stop.is_set():
                    yield PredictSmoothEvent("stopped", m, n, member_csvs=list(done))
                    return
                yield PredictSmoothEvent("batch", m, n, event.frames_done, event.n_frames)
        finally:
            events.close()  # stops the decoding thread; an unfinished CSV is never written
        done.append(out_csv)
        yield PredictSmoothEvent("member_done", m, n, event.n_frames, event.n_frames, list(done))
    n_frames = event.n_frames
    if n < 2:
        yield PredictSmoothEvent("done", n - 1, n, n_frames, n_frames, done, None, "one member")
        return
    yield PredictSmoothEvent("smoothing", n - 1, n, n_frames, n_frames, list(done))
    views = cfg["data"].get("mirrored_column_matches") or None
    result = smooth_ensemble(
        done, smoothing=smoothing, views=views if views and len(views) >= 2 else None
    )
    smoothed = write_smoothed_csv(result, out_dir / f"{video.stem}.eks.csv")
    yield PredictSmoothEvent("done", n - 1, n, n_frames, n_frames, done, smoothed)


def member_names(checkpoints: Sequence[Path]) -> list[str]:
    """A file name per member: its run folder's name, numbered when two share one."""
    names = [c.parent.name or f"{MEMBER_PREFIX}{i}" for i, c in enumerate(checkpoints)]
    if len(set(names)) < len(names):
        names = [f"{MEMBER_PREFIX}{i}" for i in range(len(names))]
    return names
