"""Training as a generator of progress events, so the napari widget and the CLI share one loop.

``train(cfg, out_dir)`` builds the datasets (``data.labeled``), the model (``models``) and the
losses (``losses.factory``) from a project config and runs Adam with a step learning-rate
schedule. It yields a :class:`TrainEvent` at the start, after every step, after each
validation, after each checkpoint, and at the end ("done") or on a stop request ("stopped").

What a run writes to ``out_dir`` (rank 0 only under ``torchrun``):

- ``config.yaml``: the run's config (``training.max_steps`` and ``rng_seed_model_pt`` filled
  in), so the run can be repeated;
- ``last.ckpt``: written atomically every epoch, on stop and at the end;
- ``best.ckpt``: the checkpoint with the lowest validation pixel error so far (the same as
  ``last.ckpt`` when the project has no validation frames);
- ``metrics.csv``: one row per epoch (mean losses, learning rate, validation pixel error).

A checkpoint is a plain dict that ``torch.load(weights_only=True)`` reads: ``state_dict``,
``config``, ``optimizer``, ``scheduler``, ``step``, ``epoch``, ``rng`` (torch/numpy/python
generator states as tensors and ints), ``keypoint_names``, ``best_val_pixel_error``.
``load_checkpoint`` turns it back into a model.

Reproducibility: the data split comes from ``training.rng_seed_data_pt``; model
initialisation, batch order and augmentation from ``training.rng_seed_model_pt`` (``seed``
overrides it). Batch ``s`` and the augmentation of each of its frames depend only on
(seed, s), not on the number of DataLoader workers or processes, so a resumed run continues
exactly where it stopped and a DDP run sees the same global batches as a single process.
On the CPU the same seed gives bit-identical runs; CUDA kernels may differ in the last bits.

An epoch is ``training.steps_per_epoch`` steps, or one pass over the training frames when
that is unset. The learning rate is ``learning_rate * gamma**m`` where ``m`` counts the
milestones (``training.lr_scheduler_params.multisteplr.milestones``; values < 1 are
fractions of ``max_steps``) at or before the current step.

Backbone freezing, as Lightning Pose does it (``training.unfreezing_epoch``): for the first
``unfreezing_epoch`` epochs only the head trains. The backbone's weights (BatchNorm's affine
ones included, unlike Lightning's ``train_bn``) get no gradient, so its backward pass is
skipped and a step costs about 40 % of a full one on a CPU. At the unfreezing epoch the
backbone joins with 0.1 times the head's learning rate, multiplied by 1.5 every epoch until
it catches up (Lightning's ``BackboneFinetuning`` with Lightning Pose's settings), so a fresh
head's large early gradients never reach the pretrained features at full strength.
``unfreezing_epoch: 0`` trains everything at the same rate from the first step.
"""

from __future__ import annotations

import copy
import csv
import os
import random
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from napari_lightning_pose import distributed
from napari_lightning_pose.data.labeled import build_datasets
from napari_lightning_pose.data.transforms import keypoints_to_original
from napari_lightning_pose.errors import ConfigError, LightningPoseInputError
from napari_lightning_pose.io.atomic import atomic_path
from napari_lightning_pose.io.config import save_config, validate_config
from napari_lightning_pose.losses.factory import build_losses
from napari_lightning_pose.models.pose_model import build_model

CHECKPOINT_FORMAT = "napari-lightning-pose/checkpoint-1"
LAST_CKPT = "last.ckpt"
BEST_CKPT = "best.ckpt"
METRICS_CSV = "metrics.csv"

EventKind = Literal["start", "step", "validation", "checkpoint", "done", "stopped"]


class CheckpointError(LightningPoseInputError):
    """A checkpoint file is missing, unreadable, or does not match the project."""


class TrainingDivergedError(LightningPoseInputError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""


@dataclass
class TrainEvent:
    """One progress report from :func:`train`.

    Attributes
    ----------
    kind : str
        ``"start"``, ``"step"`` (after each optimiser step), ``"validation"``,
        ``"checkpoint"`` (a file was written), ``"done"`` or ``"stopped"``.
    step : int
        Optimiser steps completed so far (over all resumes).
    epoch : int
        Completed epochs (``step // steps_per_epoch``).
    total_steps : int
        Steps the run will take in all (``training.max_steps`` or ``steps``).
    losses : dict[str, float]
        Weighted value of each loss at this step, by name, and their sum as ``"total"``.
    lr : float or None
        Learning rate used for this step.
    val_pixel_error : float or None
        Mean validation error in original image pixels (validation, done, stopped events).
    eta_s : float or None
        Estimated seconds until the run ends, from this run's mean step time.
    checkpoint : Path or None
        The checkpoint written (checkpoint, done, stopped events on rank 0).
    message : str
        A short human-readable note (device, why the run ended, ...).
    """

    kind: EventKind
    step: int
    epoch: int
    total_steps: int
    losses: dict[str, float] = field(default_factory=dict)
    lr: float | None = None
    val_pixel_error: float | None = None
    eta_s: float | None = None
    checkpoint: Path | None = None
    message: str = ""

    def progress(self) -> tuple[int, int | None]:
        """(steps done, total steps), for a progress bar."""
        return self.step, self.total_steps

    def summary(self) -> dict[str, str]:
        """Loss, learning rate and validation error as short strings, for a progress bar."""
        out = {}
        if "total" in self.losses:
            out["loss"] = f"{self.losses['total']:.4g}"
        if self.lr is not None:
            out["lr"] = f"{self.lr:.2g}"
        if self.val_pixel_error is not None:
            out["val_px"] = f"{self.val_pixel_error:.2f}"
        return out


class _HasIsSet(Protocol):
    def is_set(self) -> bool: ...


StopSignal = _HasIsSet | Callable[[], bool]
"""A ``threading.Event`` (anything with ``is_set()``) or a callable returning True to stop."""


# --------------------------------------------------------------------------- public API
def train(
    cfg: Mapping[str, Any],
    out_dir: str | Path,
    *,
    steps: int | None = None,
    seed: int | None = None,
    resume: bool = False,
    device: str | torch.device | None = None,
    stop: StopSignal | None = None,
    max_minutes: float | None = None,
) -> Iterator[TrainEvent]:
    """Train a pose model on the project's labeled frames, yielding progress events.

    Parameters
    ----------
    cfg
        Project config from ``io.config.load_config`` (absolute ``data.data_dir``).
    out_dir
        Folder for ``config.yaml``, ``last.ckpt``, ``best.ckpt`` and ``metrics.csv``.
    steps
        Total optimiser steps; overrides ``training.max_steps``.
    seed
        Seed for model initialisation, batch order and augmentation; overrides
        ``training.rng_seed_model_pt`` (the data split keeps ``rng_seed_data_pt``).
    resume
        Continue from ``out_dir/last.ckpt`` at its step with its optimiser and RNG state.
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default from ``training.accelerator``.
    stop
        A ``threading.Event`` (or a callable returning True) checked before every step: when
        set, the run saves ``last.ckpt`` and ends with a "stopped" event. Closing the
        generator (``gen.close()``) also saves ``last.ckpt``.
    max_minutes
        Wall-clock budget: the run ends normally ("done", with validation and checkpoint)
        after the first step that exceeds it.

    Yields
    ------
    TrainEvent
        See :class:`TrainEvent`; the last one is "done" or "stopped".

    Raises
    ------
    ConfigError, LabelsError
        Bad config, labels or images (raised before any training step).
    CheckpointError
        ``resume`` without a usable ``last.ckpt``.
    TrainingDivergedError
        The loss became NaN or infinite; ``last.ckpt`` still holds the last good weights.
    """
    cfg = validate_config(copy.deepcopy(dict(cfg)))
    tcfg = cfg["training"]
    if steps is not None:
        tcfg["max_steps"] = int(steps)
    if seed is not None:
        tcfg["rng_seed_model_pt"] = int(seed)
    if tcfg["max_steps"] < 1:
        raise ConfigError(None, f"training.max_steps is {tcfg['max_steps']}; it must be >= 1.")
    out_dir = Path(out_dir)
    info = distributed.init_distributed(device, tcfg["accelerator"])
    threads = torch.get_num_threads()  # the run may change it; the caller gets it back
    try:
        yield from _Run(cfg, out_dir, info, resume, stop, max_minutes).events()
    finally:
        distributed.cleanup(info)
        torch.set_num_threads(threads)


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
    """Load a checkpoint written by :func:`train` into a model in eval mode.

    Uses ``torch.load(weights_only=True)``: a checkpoint cannot run code when loaded.

    Parameters
    ----------
    path
        A ``.ckpt`` file (``last.ckpt`` / ``best.ckpt``), or a training output folder
        (then its ``best.ckpt``).
    device
        Where to put the model.

    Returns
    -------
    model : nn.Module
        The trained model, ``eval()`` mode, on ``device``.
    cfg : dict
        The config the model was trained with.
    meta : dict
        ``step``, ``epoch``, ``total_steps``, ``keypoint_names``, ``val_pixel_error``,
        ``best_val_pixel_error``, ``model_name`` and ``path``.

    Raises
    ------
    CheckpointError
        Missing file, not a checkpoint, or weights that do not fit the model in its config.
    """
    ckpt, path = read_checkpoint(path)
    cfg = ckpt["config"]
    build_cfg = copy.deepcopy(cfg)
    build_cfg["model"]["backbone_weights"] = None  # the checkpoint holds all the weights
    model = build_model(build_cfg)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(
            path,
            f"its weights do not fit the model its config describes: {err}",
            "Was it written by another version of napari-lightning-pose? Retrain the model.",
        ) from err
    model.to(device).eval()
    meta = {
        "step": ckpt["step"],
        "epoch": ckpt["epoch"],
        "total_steps": ckpt["total_steps"],
        "keypoint_names": list(ckpt["keypoint_names"]),
        "val_pixel_error": ckpt["val_pixel_error"],
        "best_val_pixel_error": ckpt["best_val_pixel_error"],
        "model_name": cfg["model"]["model_name"],
        "path": path,
    }
    return model, cfg, meta


def read_checkpoint(path: str | Path) -> tuple[dict[str, Any], Path]:
    """Read a checkpoint dict with ``torch.load(weights_only=True)``, checking its keys.

    A folder means its ``best.ckpt``. Returns the dict and the resolved file path.
    """
    path = Path(path)
    if path.is_dir():
        path = path / BEST_CKPT
    if not path.is_file():
        raise CheckpointError(
            path,
            "checkpoint file not found.",
            "Train a model first (`napari-lightning-pose train`) or check the path.",
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, pickle refused, not a torch file...
        raise CheckpointError(
            path,
            f"cannot be read as a checkpoint ({type(err).__name__}: {err}).",
            "It may be truncated or not a napari-lightning-pose checkpoint; use another one "
            "(e.g. last.ckpt / best.ckpt) or retrain.",
        ) from err
    needed = ("state_dict", "config", "step", "keypoint_names")
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in needed):
        raise CheckpointError(
            path,
            "is not a napari-lightning-pose checkpoint (keys state_dict, config, step, "
            "keypoint_names expected).",
            "Use a last.ckpt / best.ckpt written by `napari-lightning-pose train`.",
        )
    try:
        ckpt["config"] = validate_config(ckpt["config"], path)
    except ConfigError as err:
        raise CheckpointError(path, f"holds an invalid config: {err.problem}") from err
    return ckpt, path


def pixel_errors(
    model: nn.Module,
    loader: Iterable[dict[str, Any]],
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Predict labeled frames and measure the error in original image pixels.

    Parameters
    ----------
    model
        A model returning ``"keypoints"`` (B, K, 2) in resized pixels and ``"likelihood"``.
    loader
        Batches of a ``LabeledFramesDataset`` without augmentation.
    device
        Where the model is.
    amp_dtype
        Autocast dtype on CUDA, or None for full precision.

    Returns
    -------
    errors : np.ndarray
        (N, K) Euclidean distance between prediction and label, original pixels; NaN where
        the label is missing.
    predictions : np.ndarray
        (N, K, 3) predicted x, y (original pixels) and likelihood.
    image_paths : list[str]
        The N frames' CSV row labels, in loader order.
    """
    errors, preds, paths = [], [], []
    for batch in loader:
        e, p = batch_errors(model, batch, device, amp_dtype)
        errors.append(e)
        preds.append(p)
        paths.extend(batch["image_path"])
    if not errors:
        return np.zeros((0, 0)), np.zeros((0, 0, 3)), []
    return np.concatenate(errors), np.concatenate(preds), paths


def batch_errors(
    model: nn.Module,
    batch: Mapping[str, Any],
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Errors (B, K) and predictions (B, K, 3: x, y, likelihood) in original pixels for one
    batch of labeled frames; the model runs in eval mode and is left as it was."""
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast(device, amp_dtype):
        out = model(batch["images"].to(device))
    model.train(was_training)
    scale = batch["scale"][:, None, :].double()  # (B, 1, 2)
    pred = keypoints_to_original(out["keypoints"].double().cpu(), scale)
    true = keypoints_to_original(batch["keypoints"].double(), scale)
    errors = torch.linalg.vector_norm(pred - true, dim=-1).numpy()
    like = out["likelihood"].double().cpu()[..., None]
    return errors, torch.cat([pred, like], dim=-1).numpy()


def resolve_milestones(milestones: list[float], max_steps: int) -> list[int]:
    """Milestone steps: values < 1 are fractions of ``max_steps``, others absolute steps."""
    out = []
    for m in milestones:
        if not isinstance(m, int | float) or m < 0:
            raise ConfigError(
                None,
                f"training.lr_scheduler_params.multisteplr.milestones holds {m!r}.",
                "Use fractions of max_steps (< 1) or step numbers (>= 1).",
            )
        out.append(round(m * max_steps) if m < 1 else int(m))
    return sorted(out)


def learning_rate_at(step: int, base_lr: float, milestones: list[int], gamma: float) -> float:
    """The step schedule's learning rate for step ``step`` (0-based): base * gamma**passed."""
    return base_lr * gamma ** sum(step >= m for m in milestones)


def backbone_lr_ratio(step: int, unfreeze_step: int, steps_per_epoch: int) -> float:
    """Backbone learning rate / head learning rate at ``step`` (0-based).

    0 while the backbone is frozen (``step < unfreeze_step``), then 0.1 times 1.5 per epoch
    since unfreezing, capped at 1 (Lightning Pose's backbone fine-tuning schedule); always 1
    when ``unfreeze_step`` is 0, i.e. the backbone was never frozen.
    """
    if unfreeze_step <= 0:
        return 1.0
    if step < unfreeze_step:
        return 0.0
    epochs = (step - unfreeze_step) // max(1, steps_per_epoch)
    return min(1.0, 0.1 * 1.5**epochs)


def amp_dtype_for(precision: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``training.precision`` on ``device``; None means full float32.

    ``"auto"`` is bf16 on CUDA GPUs that support it and float32 elsewhere; ``"32"`` /
    ``"32-true"`` force float32; ``"16-mixed"`` (CUDA only, with a GradScaler) and
    ``"bf16-mixed"`` choose mixed precision.
    """
    p = str(precision).lower()
    cuda = device.type == "cuda"
    if p in ("32", "32-true", "fp32", "float32"):
        return None
    if p == "auto":
        return torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else None
    if p in ("bf16", "bf16-mixed"):
        return torch.bfloat16
    if p in ("16", "16-mixed", "fp16"):
        if not cuda:
            raise ConfigError(
                None,
                "training.precision '16-mixed' needs a CUDA GPU.",
                "Use 'auto', '32' or 'bf16-mixed' on the CPU.",
            )
        return torch.float16
    raise ConfigError(
        None,
        f"training.precision is {precision!r}.",
        "Use one of: auto, 32, 16-mixed, bf16-mixed.",
    )


# --------------------------------------------------------------------------- data order
def sample_seed(seed: int, epoch: int, position: int) -> int:
    """Augmentation seed of the frame at ``position`` of pass ``epoch``'s shuffled order."""
    return int(np.random.SeedSequence([seed, epoch, position]).generate_state(1, np.uint64)[0])


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """This rank's batches for steps ``start_step .. total_steps - 1``, as (index, seed) pairs.

    Pass ``p`` over the training frames is a permutation drawn by a ``DistributedSampler``
    (seed ``seed``, epoch ``p``). Global batch ``k`` of a pass is positions
    ``[k * B, (k + 1) * B)`` of that permutation; rank ``r`` of ``W`` takes every ``W``-th of
    them (the sampler's interleaving), ``B / W`` frames. A pass drops its last incomplete
    batch. Each frame comes with the seed for its augmentation, a function of
    (seed, pass, position), so what a step sees never depends on where a run was resumed
    or on the number of processes and workers.
    """

    def __init__(
        self,
        dataset_len: int,
        global_batch: int,
        seed: int,
        rank: int,
        world_size: int,
        start_step: int,
        total_steps: int,
    ) -> None:
        if global_batch % world_size:
            raise ValueError(f"batch {global_batch} is not divisible by {world_size} processes")
        self.n = dataset_len
        self.global_batch = global_batch
        self.per_rank = global_batch // world_size
        self.batches_per_pass = dataset_len // global_batch
        if self.batches_per_pass < 1:
            raise ValueError(f"{dataset_len} frames cannot fill a batch of {global_batch}")
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.start_step, self.total_steps = start_step, total_steps
        self._dummy = range(dataset_len)

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)

    def _pass_indices(self, p: int) -> list[int]:
        sampler = DistributedSampler(
            self._dummy,  # type: ignore[arg-type]  # only its length is used
            num_replicas=self.world_size,
            rank=self.rank,
            shuffle=True,
            seed=self.seed,
            drop_last=True,
        )
        sampler.set_epoch(p)
        return list(sampler)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        cached_pass, indices = -1, []
        for step in range(self.start_step, self.total_steps):
            p, k = divmod(step, self.batches_per_pass)
            if p != cached_pass:
                cached_pass, indices = p, self._pass_indices(p)
            batch = []
            for j in range(k * self.per_rank, (k + 1) * self.per_rank):
                position = self.rank + j * self.world_size  # place in the pass's permutation
                batch.append((indices[j], sample_seed(self.seed, p, position)))
            yield batch


class SeededDataset(Dataset):
    """Wrap a dataset whose augmentation draws from torch's RNG: item ``(i, seed)`` is
    ``dataset[i]`` drawn under ``torch.manual_seed(seed)``, leaving the caller's RNG alone."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.dataset[index]


# --------------------------------------------------------------------------- the run
class _Run:
    """State of one training run; :meth:`events` is the loop (see :func:`train`)."""

    def __init__(
        self,
        cfg: dict[str, Any],
        out_dir: Path,
        info: distributed.DistInfo,
        resume: bool,
        stop: StopSignal | None,
        max_minutes: float | None,
    ) -> None:
        self.cfg, self.out_dir, self.info = cfg, out_dir, info
        self.device = info.device
        self.resume, self.max_minutes = resume, max_minutes
        self.should_stop = _stop_checker(stop)
        tcfg = cfg["training"]
        self.max_steps = int(tcfg["max_steps"])
        self.total_steps = self.max_steps  # lowered when a time budget ends the run early
        self.seed = int(tcfg["rng_seed_model_pt"])
        self.amp_dtype = amp_dtype_for(tcfg["precision"], self.device)
        self.step = 0
        self.best_val: float | None = None
        self.last_val: float | None = None
        self.saved_step = -1
        self.budget_hit = False

    # ----------------------------------------------------------------- setup
    def _setup(self) -> str:
        cfg, tcfg, info = self.cfg, self.cfg["training"], self.info
        if tcfg["num_threads"]:
            torch.set_num_threads(int(tcfg["num_threads"]))
        elif info.is_distributed and self.device.type == "cpu":
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // info.world_size))
        _seed_everything(self.seed)

        datasets = build_datasets(cfg)
        self.keypoint_names = datasets["train"].keypoint_names
        if not cfg["data"]["keypoint_names"]:
            cfg["data"]["keypoint_names"] = list(self.keypoint_names)
            cfg["data"]["num_keypoints"] = len(self.keypoint_names)
        n_train = len(datasets["train"])
        global_batch = self._global_batch(n_train)
        self.batches_per_pass = n_train // global_batch
        self.steps_per_epoch = int(tcfg["steps_per_epoch"] or self.batches_per_pass)
        if self.steps_per_epoch < 1:
            raise ConfigError(None, "training.steps_per_epoch must be >= 1.")

        self.model = build_model(cfg).to(self.device)
        self.losses = nn.ModuleList(build_losses(cfg)).to(self.device)
        # channels-last convolutions are faster on GPUs and, with oneDNN, on CPUs too
        # (EfficientNet-Lite0 training step -28 % on 2 CPU cores)
        self.model.to(memory_format=torch.channels_last)
        self.optimizer = self._optimizer()
        self.unfreeze_step = int(tcfg["unfreezing_epoch"]) * self.steps_per_epoch
        if self.unfreeze_step < 0:
            raise ConfigError(None, "training.unfreezing_epoch must be >= 0.")
        sched = tcfg["lr_scheduler_params"]["multisteplr"]
        if tcfg["lr_scheduler"].lower() not in ("multisteplr", "multistep"):
            raise ConfigError(
                None, f"training.lr_scheduler {tcfg['lr_scheduler']!r}.", "Use 'multisteplr'."
            )
        self.base_lr = float(tcfg["optimizer_params"]["learning_rate"])
        self.milestones = resolve_milestones(list(sched["milestones"]), self.max_steps)
        self.gamma = float(sched["gamma"])
        fp16 = self.amp_dtype == torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16)

        if self.resume:
            self._restore()
        self.backbone_frozen = self.step < self.unfreeze_step  # set before DDP is built
        for param in _backbone_parameters(self.model):
            param.requires_grad_(not self.backbone_frozen)
        if info.is_distributed:
            if self.device.type == "cuda" and not tcfg["freeze_batchnorm"]:
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net: nn.Module = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        else:
            self.net = self.model

        sampler = StepBatchSampler(
            n_train,
            global_batch,
            self.seed,
            info.rank,
            info.world_size,
            self.step,
            self.total_steps,
        )
        workers = int(tcfg["num_workers"])
        pin = self.device.type == "cuda"
        self.train_loader = DataLoader(
            SeededDataset(datasets["train"]),
            batch_sampler=sampler,
            num_workers=workers,
            pin_memory=pin,
        )
        self.val_loader = (
            DataLoader(datasets["val"], batch_size=int(tcfg["val_batch_size"]), pin_memory=pin)
            if len(datasets["val"])
            else None
        )
        if info.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.out_dir / "config.yaml")
        return (
            f"{n_train} training / {len(datasets['val'])} validation frames, batch "
            f"{global_batch}, {self.steps_per_epoch} steps per epoch, device {self.device}"
            + (f", {info.world_size} processes" if info.is_distributed else "")
        )

    def _global_batch(self, n_train: int) -> int:
        ws = self.info.world_size
        batch = int(self.cfg["training"]["train_batch_size"])
        if n_train < ws:
            raise ConfigError(
                None, f"{n_train} training frames cannot be shared by {ws} processes."
            )
        batch = min(batch, n_train)  # tiny projects: one batch holds every frame
        if batch % ws:
            raise ConfigError(
                None,
                f"training.train_batch_size {batch} is not divisible by the {ws} processes.",
                "Choose a batch size that is a multiple of --nproc_per_node.",
            )
        return batch

    def _optimizer(self) -> torch.optim.Optimizer:
        """Adam/AdamW over two parameter groups, backbone first, so each has its own rate."""
        name = self.cfg["training"]["optimizer"]
        lr = float(self.cfg["training"]["optimizer_params"]["learning_rate"])
        backbone = _backbone_parameters(self.model)
        ids = {id(p) for p in backbone}
        rest = [p for p in self.model.parameters() if id(p) not in ids]
        groups = [{"params": backbone, "name": "backbone"}, {"params": rest, "name": "head"}]
        if name.lower() == "adam":
            return torch.optim.Adam(groups, lr=lr)
        if name.lower() == "adamw":
            return torch.optim.AdamW(groups, lr=lr)
        raise ConfigError(None, f"training.optimizer {name!r}.", "Use 'Adam' or 'AdamW'.")

    def _set_backbone_frozen(self, frozen: bool) -> None:
        """Stop (or restart) gradients into the backbone; re-wrap DDP, which registers the
        parameters that need gradients when it is built."""
        if frozen == self.backbone_frozen:
            return
        for param in _backbone_parameters(self.model):
            param.requires_grad_(not frozen)
        self.backbone_frozen = frozen
        if self.info.is_distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    def _restore(self) -> None:
        ckpt, path = read_checkpoint(self.out_dir / LAST_CKPT)
        mine, theirs = self.cfg, ckpt["config"]
        for section, key in (("model", "backbone"), ("model", "model_type")):
            if mine[section][key] != theirs[section][key]:
                raise CheckpointError(
                    path,
                    f"was trained with {section}.{key} = {theirs[section][key]!r}, the config "
                    f"says {mine[section][key]!r}.",
                    "Resume with the same config, or train into a new --out folder.",
                )
        if list(ckpt["keypoint_names"]) != list(self.keypoint_names):
            raise CheckpointError(
                path,
                "was trained on other keypoints than the project's labels.",
                "Train into a new --out folder.",
            )
        self.model.load_state_dict(ckpt["state_dict"])
        try:
            self.optimizer.load_state_dict(ckpt["optimizer"])
        except ValueError as err:  # e.g. written before the backbone / head groups existed
            raise CheckpointError(
                path,
                f"its optimizer state does not fit this version's optimizer ({err}).",
                "Train into a new --out folder.",
            ) from err
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.step = int(ckpt["step"])
        self.best_val = ckpt.get("best_val_pixel_error")
        self.last_val = ckpt.get("val_pixel_error")
        self.saved_step = self.step
        _set_rng_state(ckpt["rng"])

    # ----------------------------------------------------------------- loop
    def events(self) -> Iterator[TrainEvent]:
        message = self._setup()
        if self.step >= self.total_steps:
            yield self._event("start", message=message)
            yield self._event(
                "done", checkpoint=self._ckpt_path(), message="already trained to max_steps"
            )
            return
        start_time, start_step = time.perf_counter(), self.step
        epoch_losses: dict[str, list[float]] = {}
        batches = iter(self.train_loader)
        try:
            yield self._event("start", message=message)
            while self.step < self.total_steps:
                if not self.info.is_distributed and self.should_stop():
                    yield self._stopped()
                    return
                batch = next(batches)
                self._set_backbone_frozen(self.step < self.unfreeze_step)
                lr = learning_rate_at(self.step, self.base_lr, self.milestones, self.gamma)
                losses = self._train_step(batch, lr)
                if losses is None:  # a distributed stop request
                    yield self._stopped()
                    return
                self.step += 1
                for name, value in losses.items():
                    epoch_losses.setdefault(name, []).append(value)
                elapsed = time.perf_counter() - start_time
                eta = elapsed / (self.step - start_step) * (self.total_steps - self.step)
                yield self._event("step", losses=losses, lr=lr, eta_s=eta)

                if self.max_minutes is not None and self.step < self.total_steps:
                    over = elapsed > 60 * self.max_minutes
                    if distributed.any_flags(self.info, [over])[0]:  # all ranks end together
                        self.total_steps = self.step
                        self.budget_hit = True
                end_of_epoch = self.step % self.steps_per_epoch == 0
                if end_of_epoch or self.step == self.total_steps:
                    yield from self._end_of_epoch(epoch_losses, lr)
                    epoch_losses = {}
        except (GeneratorExit, KeyboardInterrupt):
            if self.step != self.saved_step:
                self._save()  # closed by the consumer: leave a usable checkpoint behind
            raise
        note = f"time budget of {self.max_minutes} min reached" if self.budget_hit else ""
        yield self._event(
            "done", val_pixel_error=self.last_val, checkpoint=self._ckpt_path(), message=note
        )

    def _train_step(self, batch: dict[str, Any], lr: float) -> dict[str, float] | None:
        """One optimiser step; the weighted losses, or None if a process asked to stop."""
        ratio = backbone_lr_ratio(self.step, self.unfreeze_step, self.steps_per_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * ratio if group.get("name") == "backbone" else lr
        self.net.train()
        if self.cfg["training"]["freeze_batchnorm"]:
            _freeze_batchnorm(self.net)
        batch = _to_device(batch, self.device)
        with autocast(self.device, self.amp_dtype):
            outputs = self.net(batch["images"])
        outputs = {k: v.float() if v.is_floating_point() else v for k, v in outputs.items()}
        terms = {loss.name: loss(outputs, batch) for loss in self.losses}
        total = torch.stack(list(terms.values())).sum()
        stop_now = self.info.is_distributed and self.should_stop()
        stop_now, diverged = distributed.any_flags(
            self.info, [stop_now, not bool(torch.isfinite(total))]
        )
        if diverged:
            raise self._diverged(float(total.detach()))
        if stop_now:
            return None
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        values = {name: float(v.detach()) for name, v in terms.items()}
        values["total"] = float(total.detach())
        return values

    def _end_of_epoch(
        self, epoch_losses: dict[str, list[float]], lr: float
    ) -> Iterator[TrainEvent]:
        epoch = self.step // self.steps_per_epoch
        every = max(1, int(self.cfg["training"]["check_val_every_n_epoch"]))
        final = self.step == self.total_steps
        if self.val_loader is not None and (epoch % every == 0 or final):
            errors, _, _ = pixel_errors(self.model, self.val_loader, self.device, self.amp_dtype)
            self.last_val = float(np.nanmean(errors)) if np.isfinite(errors).any() else None
            yield self._event("validation", val_pixel_error=self.last_val)
        improved = self.last_val is not None and (
            self.best_val is None or self.last_val < self.best_val
        )
        if improved:
            self.best_val = self.last_val
        path = self._save(best=improved or self.val_loader is None)
        if self.info.is_main:
            self._log_metrics(epoch, epoch_losses, lr)
            yield self._event("checkpoint", checkpoint=path, val_pixel_error=self.last_val)

    def _stopped(self) -> TrainEvent:
        path = self._save() if self.step != self.saved_step else self._ckpt_path()
        return self._event(
            "stopped",
            checkpoint=path,
            val_pixel_error=self.last_val,
            message=f"stopped at step {self.step}; resume with resume=True / --resume",
        )

    def _diverged(self, value: float) -> TrainingDivergedError:
        kept = self.out_dir / LAST_CKPT
        where = (
            f"The last good checkpoint (step {self.saved_step}) is kept at {kept}."
            if self.saved_step >= 0 and kept.exists()
            else "No checkpoint was written before it."
        )
        return TrainingDivergedError(
            self.out_dir,
            f"the training loss became {value} at step {self.step + 1}; training stopped.",
            f"{where} Lower training.optimizer_params.learning_rate, check the labels for "
            "wild values, or set training.precision to '32'.",
        )

    # ----------------------------------------------------------------- outputs
    def _event(self, kind: EventKind, **kwargs: Any) -> TrainEvent:
        return TrainEvent(
            kind, self.step, self.step // self.steps_per_epoch, self.total_steps, **kwargs
        )

    def _ckpt_path(self) -> Path | None:
        return self.out_dir / LAST_CKPT if self.info.is_main else None

    def _save(self, best: bool = False) -> Path | None:
        """Write last.ckpt (and best.ckpt) atomically on rank 0; never non-finite weights."""
        self.saved_step = self.step
        if not self.info.is_main:
            return None
        state = self.model.state_dict()
        if not all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point()):
            raise self._diverged(float("nan"))
        ckpt = {
            "format": CHECKPOINT_FORMAT,
            "state_dict": state,
            "config": self.cfg,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": {
                "name": "multisteplr",
                "base_lr": self.base_lr,
                "milestones": self.milestones,
                "gamma": self.gamma,
            },
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "step": self.step,
            "epoch": self.step // self.steps_per_epoch,
            "total_steps": self.max_steps,
            "rng": _get_rng_state(),
            "keypoint_names": list(self.keypoint_names),
            "val_pixel_error": self.last_val,
            "best_val_pixel_error": self.best_val,
            "torch_version": str(torch.__version__),
        }
        last = self.out_dir / LAST_CKPT
        with atomic_path(last) as tmp:
            torch.save(ckpt, tmp)
        if best:
            _replace_with_copy(last, self.out_dir / BEST_CKPT)
        return last

    def _log_metrics(self, epoch: int, epoch_losses: dict[str, list[float]], lr: float) -> None:
        path = self.out_dir / METRICS_CSV
        row = {"epoch": epoch, "step": self.step, "lr": lr}
        row.update({name: float(np.mean(v)) for name, v in epoch_losses.items()})
        row["val_pixel_error"] = self.last_val if self.last_val is not None else ""
        new = not path.exists()
        with open(path, "a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)


# --------------------------------------------------------------------------- helpers
def _replace_with_copy(src: Path, dst: Path) -> None:
    """Make ``dst`` an atomic copy of ``src``: a hard link where the file system allows
    (no second write; ``src`` is later replaced, never modified in place), else a copy."""
    with atomic_path(dst) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def _stop_checker(stop: StopSignal | None) -> Callable[[], bool]:
    if stop is None:
        return lambda: False
    if hasattr(stop, "is_set"):
        return stop.is_set
    if callable(stop):
        return lambda: bool(stop())
    raise TypeError("stop must be a threading.Event or a callable returning bool")


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device, non_blocking=True)
            if key == "images" and value.dim() == 4:
                value = value.contiguous(memory_format=torch.channels_last)
        out[key] = value
    return out


def autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    """``torch.autocast`` to ``dtype`` on ``device``, or a no-op context when dtype is None."""
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def _backbone_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters of ``model.backbone`` (none for a model without one)."""
    backbone = getattr(model, "backbone", None)
    return list(backbone.parameters()) if isinstance(backbone, nn.Module) else []


def _freeze_batchnorm(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def _seed_everything(seed: int) -> None:
    # The global generators are seeded and checkpointed for third-party code that uses them;
    # our own data order and augmentation draw from explicit seeds (see StepBatchSampler).
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002
    torch.manual_seed(seed)


def _get_rng_state() -> dict[str, Any]:
    """Generator states as tensors and plain values, so ``weights_only=True`` loads them."""
    np_state = np.random.get_state()  # noqa: NPY002
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            "MT19937",
            npst["keys"].numpy().astype(np.uint32),
            npst["pos"],
            npst["has_gauss"],
            npst["cached_gaussian"],
        )
    )
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
