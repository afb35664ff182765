"""Warm start (``train --init-from``): the weights are loaded, optimiser and schedule are
fresh, the current labels (new frames too) are used, other keypoints are refused, and each
ensemble member continues from its own weights."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from napari_lightning_pose.cli import main
from napari_lightning_pose.training import BEST_CKPT, LAST_CKPT, CheckpointError, train
from napari_lightning_pose.training.checkpoints import read_checkpoint


def _weights(path: Path) -> dict[str, torch.Tensor]:
    """The learned weights (batch-norm running statistics, which a forward pass in training
    mode updates even at learning rate 0, left out)."""
    state = torch.load(path, weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if "running_" not in k and "num_batches" not in k}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_warm_start_loads_head_and_backbone_with_a_fresh_schedule(tiny_cfg, tmp_path):
    first = list(train(tiny_cfg, tmp_path / "a", steps=4, seed=0))
    assert first[-1].kind == "done"
    frozen = dict(tiny_cfg, training=dict(tiny_cfg["training"]))
    frozen["training"]["optimizer_params"] = {"learning_rate": 0.0}  # weights cannot move
    events = list(train(frozen, tmp_path / "b", steps=2, seed=5, init_from=tmp_path / "a"))
    assert "warm start from" in events[0].message and str(tmp_path / "a") in events[0].message
    steps = [e for e in events if e.kind == "step"]
    assert [e.step for e in steps] == [1, 2]  # a new run: step 1, not step 5
    assert _same(_weights(tmp_path / "a" / BEST_CKPT), _weights(tmp_path / "b" / LAST_CKPT))
    # an untouched model of the same seed is different: the weights really came from "a"
    list(train(frozen, tmp_path / "c", steps=1, seed=5))
    assert not _same(_weights(tmp_path / "a" / BEST_CKPT), _weights(tmp_path / "c" / LAST_CKPT))
    saved = torch.load(tmp_path / "b" / LAST_CKPT, weights_only=True)
    assert saved["init_from"] == str(tmp_path / "a")
    assert saved["optimizer"]["state"]  # its own Adam moments, begun afresh


def test_warm_start_trains_on_the_current_labels(tiny_cfg, tmp_path):
    csv = Path(tiny_cfg["data"]["data_dir"]) / tiny_cfg["data"]["csv_file"]
    full = pd.read_csv(csv, header=[0, 1, 2], index_col=0)
    full.iloc[:8].to_csv(csv)  # the first model saw 8 labeled frames
    before = list(train(tiny_cfg, tmp_path / "a", steps=2, seed=0))
    full.to_csv(csv)  # "Label these" added 4 more
    after = list(train(tiny_cfg, tmp_path / "b", steps=2, seed=0, init_from=tmp_path / "a"))
    n_before = int(before[0].message.split(" training")[0])
    n_after = int(after[0].message.split(" training")[0])
    assert n_after > n_before


def test_other_keypoints_are_refused_by_name(tiny_cfg, tmp_path):
    list(train(tiny_cfg, tmp_path / "a", steps=1, seed=0))
    ckpt = torch.load(tmp_path / "a" / LAST_CKPT, weights_only=True)
    names = list(ckpt["keypoint_names"])
    ckpt["keypoint_names"] = [names[0], "tail"]
    torch.save(ckpt, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match=rf"\['tail'\].*\['{names[1]}'\]"):
        list(train(tiny_cfg, tmp_path / "b", steps=1, init_from=tmp_path / "other.ckpt"))
    ckpt["keypoint_names"] = names[::-1]
    torch.save(ckpt, tmp_path / "swapped.ckpt")
    with pytest.raises(CheckpointError, match="another order"):
        list(train(tiny_cfg, tmp_path / "b", steps=1, init_from=tmp_path / "swapped.ckpt"))
    assert not (tmp_path / "b" / LAST_CKPT).exists()
    with pytest.raises(CheckpointError, match="not found"):
        list(train(tiny_cfg, tmp_path / "b", steps=1, init_from=tmp_path / "nowhere"))


@pytest.mark.slow
def test_each_ensemble_member_continues_from_its_own_weights(tiny_cfg, tmp_path):
    from napari_lightning_pose.inference.jobs import train_ensemble

    out = tmp_path / "models"
    list(train_ensemble(tiny_cfg, out, 2, steps=2))
    old = [_weights(out / f"member{m}" / BEST_CKPT) for m in range(2)]
    assert not _same(old[0], old[1])
    frozen = dict(tiny_cfg, training=dict(tiny_cfg["training"]))
    frozen["training"]["optimizer_params"] = {"learning_rate": 0.0}
    events = list(train_ensemble(frozen, out, 2, steps=1, warm=True, folds=True))
    starts = [e.event for e in events if e.event.kind == "start"]
    assert all("warm start" in s.message for s in starts)
    for m in range(2):
        assert _same(old[m], _weights(out / f"member{m}" / LAST_CKPT))
        # trained on the common split: a continued member keeps it (its weights saw those
        # frames, so label QC must not take them as held out)
        ckpt, _ = read_checkpoint(out / f"member{m}" / LAST_CKPT)
        assert ckpt["config"]["training"]["holdout_fold"] is None


def test_train_cli_init_from(tiny_cfg, tmp_path, capsys):
    from napari_lightning_pose.io.config import save_config

    config = tmp_path / "config.yaml"
    save_config(tiny_cfg, config)
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "--config", str(config), "--steps", "2", "--out", str(a)]) == 0
    argv = ["train", "--config", str(config), "--steps", "2", "--out", str(b)]
    assert main([*argv, "--init-from", str(a)]) == 0
    assert "warm start from" in capsys.readouterr().err
    assert (b / LAST_CKPT).is_file()
