"""Scale-out helpers: which process am I under ``torchrun``, on which device, with whom.

Training and prediction scale out with PyTorch's own tools, not a home-made scheme:
``torchrun --nproc_per_node=N -m napari_lightning_pose.cli train ...`` starts N processes and
sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in each. :func:`init_distributed` reads them,
picks the device (``cuda:LOCAL_RANK`` on GPUs, the CPU otherwise) and joins the process
group (NCCL on CUDA, gloo on the CPU). Without ``torchrun`` everything here degrades to a
single process of rank 0 and no process group, so the same code path runs everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from napari_lightning_pose.errors import ConfigError

T = TypeVar("T")

ACCELERATORS = ("auto", "cpu", "gpu", "cuda")


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: its rank among ``world_size`` processes and its device.

    ``owns_group`` is True when this process created the process group (and so must
    destroy it with :func:`cleanup`).
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """True on rank 0, the one process that writes checkpoints, logs and configs."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """True when more than one process takes part (a process group is active)."""
        return self.world_size > 1


def env_ranks() -> tuple[int, int, int]:
    """Rank, world size and local rank from ``torchrun``'s environment; (0, 1, 0) without it."""
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    return rank, world_size, local_rank


def resolve_device(
    device: str | torch.device | None = None, accelerator: str = "auto", local_rank: int = 0
) -> torch.device:
    """The torch device to run on: ``device`` if given, else from ``training.accelerator``.

    ``accelerator`` is ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, or
    ``"gpu"``/``"cuda"`` (CUDA required). On CUDA, ``local_rank`` selects the GPU.
    """
    if device is not None:
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(
                None, f"device {dev} was requested but CUDA is not available.", "Use --device cpu."
            )
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", local_rank)
        return dev
    if accelerator not in ACCELERATORS:
        raise ConfigError(
            None,
            f"training.accelerator is {accelerator!r}.",
            f"Use one of: {', '.join(ACCELERATORS)}.",
        )
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            None,
            f"training.accelerator is {accelerator!r} but CUDA is not available.",
            "Set training.accelerator to 'auto' or 'cpu'.",
        )
    if accelerator != "cpu" and torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def init_distributed(
    device: str | torch.device | None = None, accelerator: str = "auto"
) -> DistInfo:
    """Join ``torchrun``'s process group (if launched by it) and choose this process's device.

    Returns a :class:`DistInfo`. Called once at the start of training; a process group that
    already exists (e.g. created by the caller) is reused and left for the caller to close.
    """
    rank, world_size, local_rank = env_ranks()
    dev = resolve_device(device, accelerator, local_rank)
    owns = False
    if world_size > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
        owns = True
    if dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return DistInfo(rank, world_size, local_rank, dev, owns)


def cleanup(info: DistInfo) -> None:
    """Leave the process group if :func:`init_distributed` created it."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait until every process reaches this point (no-op for a single process)."""
    if info.is_distributed:
        dist.barrier()


def any_flags(info: DistInfo, flags: Sequence[bool]) -> list[bool]:
    """For each flag, whether ANY process raised it, so all ranks take the same branch.

    Used every training step for "stop requested" and "loss is not finite": if one rank
    stopped alone, the others would wait forever in the next gradient all-reduce.
    """
    if not info.is_distributed:
        return [bool(f) for f in flags]
    t = torch.tensor([float(f) for f in flags], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def shard(items: Sequence[T], rank: int, world_size: int) -> list[T]:
    """The items rank ``rank`` of ``world_size`` handles: ``items[rank::world_size]``.

    Every item goes to exactly one rank and the ranks' loads differ by at most one item.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in 0..{world_size - 1}")
    return list(items[rank::world_size])
