"""The Lightning Pose loss vocabulary: weight from log_weight, epsilon-insensitive values."""

from __future__ import annotations

import math

import pytest
import torch

from napari_lightning_pose.losses.base import Loss


class _Constant(Loss):
    name = "constant"

    def compute(self, outputs, batch):
        return outputs["value"]


@pytest.mark.parametrize(
    ("log_weight", "weight"),
    [(None, 1.0), (0.0, 0.5), (5.0, 1 / (2 * math.exp(5.0))), (-1.0, math.e / 2)],
)
def test_weight_follows_lightning_pose_formula(log_weight, weight) -> None:
    loss = _Constant(log_weight=log_weight)
    assert loss.weight == pytest.approx(weight)
    assert float(loss({"value": torch.tensor(2.0)}, {})) == pytest.approx(2.0 * weight)


def test_epsilon_zeroes_values_below_it() -> None:
    loss = _Constant(epsilon=1.0)
    values = torch.tensor([0.2, 1.0, 3.0])
    assert loss.rectify(values).tolist() == pytest.approx([0.0, 0.0, 2.0])
    assert _Constant().rectify(values).tolist() == pytest.approx(values.tolist())
