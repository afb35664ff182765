"""The unsupervised losses' anneal factor follows Lightning Pose's ``AnnealWeight`` callback.

Lightning Pose sets the factor at the start of every epoch: ``init_val`` up to and including
``freeze_until_epoch``, then ``init_val + increase_factor * (epoch - freeze_until_epoch)``,
capped at ``final_val``. With its mirror-mouse config (0, 0.01, 1, 0) the factor is 0 in
epoch 0, 0.01 in epoch 1 and reaches 1 at epoch 100 of its 300.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_lightning_pose.io.config import read_yaml
from napari_lightning_pose.training.semi import SemiSupervised

LP_CONFIG = (
    Path(__file__).resolve().parents[2]
    / "fixtures"
    / "lightning_pose"
    / "config_mirror-mouse-example.yaml"
)


def _semi(anneal_cfg: dict) -> SemiSupervised:
    semi = SemiSupervised.__new__(SemiSupervised)  # only the schedule is exercised
    semi.anneal_cfg = {"init_val": 0.0, "increase_factor": 0.01, "final_val": 1.0,
                       "freeze_until_epoch": 0, **anneal_cfg}  # fmt: skip
    return semi


def test_lightning_pose_mirror_mouse_schedule() -> None:
    anneal = read_yaml(LP_CONFIG)["callbacks"]["anneal_weight"]
    semi = _semi({k: v for k, v in anneal.items() if k != "attr_name"})
    assert semi.anneal(0) == 0.0
    assert semi.anneal(1) == pytest.approx(0.01)
    assert semi.anneal(50) == pytest.approx(0.5)
    assert semi.anneal(99) == pytest.approx(0.99)
    assert semi.anneal(100) == pytest.approx(1.0)
    assert semi.anneal(299) == 1.0


def test_frozen_epochs_keep_the_initial_value_then_ramp_linearly() -> None:
    semi = _semi({"init_val": 0.2, "increase_factor": 0.25, "final_val": 0.9,
                  "freeze_until_epoch": 2})  # fmt: skip
    assert [semi.anneal(e) for e in range(7)] == pytest.approx(
        [0.2, 0.2, 0.2, 0.45, 0.7, 0.9, 0.9]
    )
