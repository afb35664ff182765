"""Batch order as a pure function of (seed, step), so resume and DDP stay exact.

Batch ``s`` and the augmentation of each of its frames depend only on (seed, s), not on the
number of DataLoader workers or processes, so a resumed run continues exactly where it
stopped and a DDP run sees the same global batches as a single process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler


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
