"""The labeled-frame dataset on the bundled sample project, its split, cache and input checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from napari_lightning_pose.data import labeled
from napari_lightning_pose.data.labeled import LabeledFrames, build_datasets
from napari_lightning_pose.data.splits import split_indices
from napari_lightning_pose.data.transforms import (
    image_to_heatmap,
    keypoints_to_original,
    to_model_input,
)
from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io.config import load_config


@pytest.fixture
def sample_cfg(bundled_sample: Path) -> dict:
    return load_config(bundled_sample / "config.yaml")


def _labels(project: Path) -> pd.DataFrame:
    return pd.read_csv(project / "CollectedData.csv", header=[0, 1, 2], index_col=0)


# ---------------------------------------------------------------------------------- split
@pytest.mark.parametrize(
    ("n", "train_prob", "val_prob", "sizes"),
    [(100, 0.8, 0.1, (80, 10, 10)), (20, 0.8, 0.1, (16, 2, 2)), (7, 1.0, 0.0, (7, 0, 0))],
)
def test_split_is_disjoint_covering_and_sized_by_probabilities(n, train_prob, val_prob, sizes):
    split = split_indices(n, train_prob, val_prob, seed=0)
    parts = [split["train"], split["val"], split["test"]]
    assert tuple(len(p) for p in parts) == sizes
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(n))


def test_split_depends_on_the_seed_only() -> None:
    a, b, c = (split_indices(50, 0.8, 0.1, seed=s) for s in (3, 3, 4))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["train"], c["train"])


# ------------------------------------------------------------------------------- dataset
def test_sample_project_items_have_documented_shapes(sample_cfg: dict) -> None:
    datasets = build_datasets(sample_cfg)
    assert {k: len(v) for k, v in datasets.items()} == {"train": 40, "val": 5, "test": 5}
    item = datasets["train"][0]
    assert item["images"].shape == (3, 256, 256) and item["images"].dtype == torch.float32
    assert item["keypoints"].shape == (17, 2)
    assert item["heatmaps"].shape == (17, 64, 64)
    assert isinstance(item["index"], int)
    assert item["image_path"].startswith("labeled-data/img")
    assert datasets["train"].keypoint_names == sample_cfg["data"]["keypoint_names"]


def test_keypoints_and_images_are_resized_consistently(sample_cfg, bundled_sample) -> None:
    """Without augmentation an item is the CSV row and PNG, resized the way predict does."""
    dataset = build_datasets(sample_cfg)["val"]
    labels = _labels(bundled_sample)
    for i in range(len(dataset)):
        item = dataset[i]
        truth = labels.loc[item["image_path"]].to_numpy(dtype=float).reshape(17, 2)
        np.testing.assert_allclose(item["scale"].numpy(), [256 / 396, 256 / 406], rtol=1e-6)
        back = keypoints_to_original(item["keypoints"].double().numpy(), item["scale"].numpy())
        np.testing.assert_allclose(back, truth, atol=1e-3)
        assert np.array_equal(np.isnan(back), np.isnan(truth))
        png = np.array(Image.open(bundled_sample / item["image_path"]).convert("RGB"))
        assert torch.allclose(item["images"], to_model_input(png, (256, 256))[0], atol=1e-5)


def test_heatmap_targets_peak_at_labels_and_are_empty_when_missing(sample_cfg) -> None:
    dataset = build_datasets(sample_cfg)["train"]
    n_missing = 0
    for i in range(len(dataset)):
        item = dataset[i]
        for k, kp in enumerate(item["keypoints"]):
            heatmap = item["heatmaps"][k]
            if torch.isnan(kp).any():
                n_missing += 1
                assert float(heatmap.sum()) == 0.0
                continue
            iy, ix = np.unravel_index(int(heatmap.argmax()), heatmap.shape)
            expected = image_to_heatmap(kp.numpy(), 4)
            assert abs(ix - expected[0]) <= 0.5 + 1e-4 and abs(iy - expected[1]) <= 0.5 + 1e-4
    assert n_missing > 0  # the sample has occluded keypoints; the test must see some


def test_training_items_are_augmented_and_reproducible(sample_cfg) -> None:
    train = build_datasets(sample_cfg)["train"]
    torch.manual_seed(0)
    first = train[0]
    second = train[0]
    torch.manual_seed(0)
    again = train[0]
    assert not torch.equal(first["images"], second["images"])  # a new draw each time
    assert torch.equal(first["images"], again["images"])
    assert torch.equal(
        torch.nan_to_num(first["keypoints"], 1e6), torch.nan_to_num(again["keypoints"], 1e6)
    )


def test_images_are_decoded_once(sample_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = []
    real_open = Image.open

    def counting_open(path, *args, **kwargs):
        opened.append(Path(path).name)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(labeled.Image, "open", counting_open)
    datasets = build_datasets(sample_cfg)
    loader = torch.utils.data.DataLoader(datasets["train"], batch_size=8, num_workers=0)
    for _ in range(3):  # three epochs
        for batch in loader:
            assert batch["images"].shape == (8, 3, 256, 256)
    for name in ("val", "test"):
        for i in range(len(datasets[name])):
            datasets[name][i]
    assert sorted(opened) == sorted(set(opened))  # no image opened twice
    assert len(opened) == 50


def test_dataloader_workers_produce_batches(sample_cfg) -> None:
    loader = torch.utils.data.DataLoader(
        build_datasets(sample_cfg)["train"], batch_size=4, num_workers=2
    )
    batch = next(iter(loader))
    assert batch["images"].shape == (4, 3, 256, 256)
    assert batch["heatmaps"].shape == (4, 17, 64, 64)
    assert len(batch["image_path"]) == 4


def test_train_frames_keeps_a_subset_of_the_training_split(sample_cfg) -> None:
    full = build_datasets(sample_cfg)
    sample_cfg["training"]["train_frames"] = 5
    frames = LabeledFrames(sample_cfg)
    few = build_datasets(sample_cfg, frames=frames)
    assert len(few["train"]) == 5
    assert set(few["train"].indices) <= set(full["train"].indices)
    assert np.array_equal(few["val"].indices, full["val"].indices)


def test_unlabeled_rows_are_left_out(sample_copy: Path) -> None:
    labels = _labels(sample_copy)
    labels.iloc[3] = np.nan
    labels.to_csv(sample_copy / "CollectedData.csv")
    frames = LabeledFrames(load_config(sample_copy / "config.yaml"))
    assert len(frames) == 49
    assert labels.index[3] not in frames.image_paths


# --------------------------------------------------------------------------- bad input
def test_missing_image_raises_labels_error_naming_it(sample_copy: Path) -> None:
    (sample_copy / "labeled-data" / "img05.png").unlink()
    with pytest.raises(LabelsError, match="missing") as info:
        build_datasets(load_config(sample_copy / "config.yaml"))
    assert "img05.png" in str(info.value)


def test_undecodable_image_raises_labels_error(sample_copy: Path) -> None:
    (sample_copy / "labeled-data" / "img07.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(LabelsError, match="cannot decode") as info:
        build_datasets(load_config(sample_copy / "config.yaml"))
    assert "img07.png" in str(info.value)


def test_keypoints_differing_from_config_raise_labels_error(sample_copy: Path) -> None:
    cfg = load_config(sample_copy / "config.yaml")
    cfg["data"]["keypoint_names"] = [*cfg["data"]["keypoint_names"][:-1], "tail_tip"]
    with pytest.raises(LabelsError) as info:
        build_datasets(cfg)
    message = str(info.value)
    assert "CollectedData.csv" in message and "tail_tip" in message and "obsLow_bot" in message


def test_label_outside_its_image_raises_labels_error(sample_copy: Path) -> None:
    labels = _labels(sample_copy)
    labels.iloc[0, 0] = 1000.0  # x of the first keypoint, image is 396 wide
    labels.to_csv(sample_copy / "CollectedData.csv")
    with pytest.raises(LabelsError, match="outside"):
        build_datasets(load_config(sample_copy / "config.yaml"))


@pytest.mark.parametrize(("n", "members", "train_prob"), [(90, 5, 0.8), (50, 9, 0.7), (7, 3, 0.6)])
def test_holdout_folds_cover_every_row(n, members, train_prob):
    """Members of a folds ensemble hold out different rows, every row by at least one when
    members x (1 - train_prob) >= 1, each with the split sizes of a plain split."""
    plain = split_indices(n, train_prob, 0.1, seed=4)
    folds = [split_indices(n, train_prob, 0.1, 4, (m, members)) for m in range(members)]
    held = set()
    for split in folds:
        assert {k: len(v) for k, v in split.items()} == {k: len(v) for k, v in plain.items()}
        assert sorted(np.concatenate(list(split.values()))) == list(range(n))
        held |= set(split["val"]) | set(split["test"])
    assert held == set(range(n))
    assert len({tuple(s["test"]) for s in folds}) == members
    assert (
        split_indices(n, train_prob, 0.1, 4, (1, members))["test"].tolist()
        == folds[1]["test"].tolist()
    )


def test_a_bad_holdout_fold_is_refused(tmp_path):
    from napari_lightning_pose.errors import ConfigError
    from napari_lightning_pose.io.config import validate_config

    for fold in ([3, 3], [0], [-1, 2]):
        with pytest.raises(ConfigError, match="holdout_fold"):
            validate_config({"training": {"holdout_fold": fold}})
    assert validate_config({"training": {"holdout_fold": [2, 3]}})["training"]["holdout_fold"] == [
        2,
        3,
    ]
