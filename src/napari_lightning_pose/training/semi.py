"""Semi-supervised parts of a run: unlabeled clips, unsupervised losses, anneal schedule."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

from napari_lightning_pose import distributed


class SemiSupervised:
    """Placeholder until the unlabeled stream lands."""

    def __init__(self) -> None:
        self.losses: list = []

    def clips(self, start_step: int, total_steps: int) -> Iterator[torch.Tensor]:
        raise NotImplementedError

    def anneal(self, epoch: int) -> float:
        return 0.0

    def pca_state(self) -> dict[str, Any]:
        return {}

    def describe(self) -> str:
        return ""


def build_semi(
    cfg: Mapping[str, Any],
    train_set: Any,
    info: distributed.DistInfo,
    seed: int,
    device: torch.device,
) -> SemiSupervised | None:
    """None: no unsupervised losses yet."""
    return None
