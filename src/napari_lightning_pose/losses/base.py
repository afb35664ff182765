"""The loss vocabulary shared with Lightning Pose: a name, an epsilon and a log_weight.

Every loss is a small ``nn.Module`` that reads the model's output dict and the batch dict and
returns one weighted scalar. ``weight = 1 / (2 exp(log_weight))`` (1.0 when ``log_weight`` is
None) as in Lightning Pose configs, and ``epsilon`` makes a loss insensitive to values below it
(``relu(value - epsilon)`` elementwise, before averaging). The training loop sums the list that
``losses.factory.build_losses`` returns and logs each loss under its ``name``.

A weight only means something next to the supervised loss. Lightning Pose's ``log_weight: 5``
(0.0034) was set against ``heatmap_mse``; ``heatmap_kl`` has 45-75x larger gradients, so under
KL the same weight gives the unsupervised losses 1-9 % of the gradient instead of about as
much as the supervised loss, and ``log_weight`` ~1 restores the balance (measured on the
mirror-mouse example: ``benchmarks/ablation_mirror_mouse.py --balance``).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Loss(nn.Module):
    """Base class: subclasses set ``name`` and implement ``compute`` (the unweighted loss).

    Parameters
    ----------
    log_weight
        Lightning Pose's log weight; None means weight 1.
    epsilon
        Elementwise values below it count as zero (see ``rectify``).
    """

    name: str = "loss"

    def __init__(self, log_weight: float | None = None, epsilon: float = 0.0) -> None:
        super().__init__()
        self.log_weight = log_weight
        self.epsilon = float(epsilon)

    @property
    def weight(self) -> float:
        """1 / (2 exp(log_weight)), or 1.0 when ``log_weight`` is None."""
        if self.log_weight is None:
            return 1.0
        return 1.0 / (2.0 * math.exp(self.log_weight))

    def rectify(self, values: torch.Tensor) -> torch.Tensor:
        """Epsilon-insensitive values: ``relu(values - epsilon)`` (unchanged when epsilon is 0)."""
        if self.epsilon == 0.0:
            return values
        return torch.relu(values - self.epsilon)

    def compute(self, outputs: dict[str, torch.Tensor], batch: dict) -> torch.Tensor:
        """The unweighted scalar loss; implemented by each subclass."""
        raise NotImplementedError

    def forward(self, outputs: dict[str, torch.Tensor], batch: dict) -> torch.Tensor:
        """The weighted scalar loss, ``weight * compute(outputs, batch)``."""
        return self.weight * self.compute(outputs, batch)
