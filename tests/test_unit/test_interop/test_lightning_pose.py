"""A Lightning Pose project trains as it is: its epoch-based trainer keys drive our loop."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from napari_lightning_pose.cli import main
from napari_lightning_pose.interop.lightning_pose import training_plan
from napari_lightning_pose.io.config import ConfigNote, load_config


def _load(config: Path) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfigNote)
        return load_config(config)


def test_epochs_become_steps(lp_example, bundled_sample: Path, tmp_path: Path) -> None:
    plan = training_plan(_load(lp_example.project(bundled_sample, tmp_path)))
    tcfg = plan.cfg["training"]
    # 50 labeled frames, train_prob 0.8 -> 40 training frames = two batches of 16 per epoch
    assert plan.steps_per_epoch == 2 and tcfg["steps_per_epoch"] == 2
    assert tcfg["max_steps"] == 600  # max_epochs 300
    assert tcfg["lr_scheduler_params"]["multisteplr"]["milestones"] == [300, 400, 500]
    assert plan.early_stop_patience == 3 and plan.min_steps == 600
    assert plan.log_every_n_steps == 1
    assert plan.cfg["model"]["backbone"] == "resnet50"  # resnet50_animal_ap10k's network
    assert any("resnet50_animal_ap10k" in n for n in plan.notes)


def test_steps_given_win_over_max_epochs(lp_example, bundled_sample: Path, tmp_path: Path) -> None:
    cfg = _load(lp_example.project(bundled_sample, tmp_path))
    cfg["training"]["train_batch_size"] = 4  # 40 frames -> 10 steps per epoch
    plan = training_plan(cfg, steps_given=True)
    assert plan.steps_per_epoch == 10
    assert plan.cfg["training"]["max_steps"] == cfg["training"]["max_steps"]
    assert plan.cfg["training"]["lr_scheduler_params"]["multisteplr"]["milestones"] == [
        1500,
        2000,
        2500,
    ]
    assert plan.min_steps == 3000


def test_our_own_configs_are_left_alone(bundled_sample: Path) -> None:
    cfg = load_config(bundled_sample / "config.yaml")
    plan = training_plan(cfg)
    assert plan.cfg == cfg and plan.notes == []


def _events(errors: list[float], step0: int = 0) -> list[SimpleNamespace]:
    out = []
    for i, err in enumerate(errors):
        step = step0 + 10 * (i + 1)
        out.append(SimpleNamespace(kind="step", step=step, total_steps=1000))
        out.append(SimpleNamespace(kind="validation", step=step, val_pixel_error=err))
    return out


def test_early_stopping_after_patience_validations(bundled_sample: Path) -> None:
    plan = training_plan(load_config(bundled_sample / "config.yaml"))
    plan.early_stop_patience, plan.min_steps = 3, 0
    seen = list(plan.watch(iter(_events([5.0, 4.0, 4.5, 4.2]))))
    assert len(seen) == 8 and not plan.stop.is_set()  # two validations without improvement
    list(plan.watch(iter(_events([5.0, 4.0, 4.5, 4.2, 4.1]))))
    assert plan.stop.is_set() and "early stopping at step 50" in plan.notes[-1]


def test_no_early_stop_before_min_epochs(bundled_sample: Path) -> None:
    plan = training_plan(load_config(bundled_sample / "config.yaml"))
    plan.early_stop_patience, plan.min_steps = 1, 100
    list(plan.watch(iter(_events([5.0, 6.0, 7.0]))))
    assert not plan.stop.is_set()


def test_log_every_n_steps_thins_step_events(bundled_sample: Path) -> None:
    plan = training_plan(load_config(bundled_sample / "config.yaml"))
    plan.log_every_n_steps = 4
    steps = [SimpleNamespace(kind="step", step=s, total_steps=10) for s in range(1, 11)]
    assert [e.step for e in plan.watch(iter(steps))] == [4, 8, 10]


def _offline_resnet50(monkeypatch) -> None:
    """Stand in for the ImageNet download (this machine is offline) with a random ResNet-50."""
    import torchvision

    from napari_lightning_pose.models import backbones

    def fake(name: str) -> dict[str, torch.Tensor]:
        return getattr(torchvision.models, name)(weights=None).state_dict()

    monkeypatch.setattr(backbones, "torchvision_imagenet_state_dict", fake)


def _train_as_is(config: Path, tmp_path: Path, monkeypatch, capsys) -> str:
    _offline_resnet50(monkeypatch)
    out = tmp_path / "model"
    code = main(["train", "--config", str(config), "--steps", "2", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (out / "last.ckpt").is_file()
    return captured.err


@pytest.mark.slow
def test_example_config_on_the_sample(
    lp_example, bundled_sample: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """The sample's first 20 frames are too few for the example's PCA loss: a clear message;
    the same config without that loss trains."""
    from napari_lightning_pose.io import labels as labels_io

    config = lp_example.project(bundled_sample, tmp_path)
    csv = config.parent / "CollectedData.csv"
    labels_io.write_labels(labels_io.read_labels(csv).iloc[:20], csv)
    _offline_resnet50(monkeypatch)
    args = ["train", "--config", str(config), "--steps", "2", "--out", str(tmp_path / "m")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "note: model.backbone resnet50_animal_ap10k" in err  # the config was accepted
    assert "using the config's folder" in err
    assert "too few labeled poses to fit the pca_singleview PCA" in err.split("error:")[1]
    text = config.read_text().replace('losses_to_use: ["pca_singleview"]', "losses_to_use: []")
    config.write_text(text)
    err = _train_as_is(config, tmp_path, monkeypatch, capsys)
    assert "note: training.max_epochs 300: replaced by the step count given" in err


@pytest.mark.slow
@pytest.mark.shared_data
def test_example_config_trains_as_it_is_on_mirror_mouse(
    lp_example, mirror_mouse: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    err = _train_as_is(lp_example.project(mirror_mouse, tmp_path), tmp_path, monkeypatch, capsys)
    assert "early stopping: after 3 validations" in err


def test_file_open_of_a_lightning_pose_project_csv(
    lp_example, bundled_sample: Path, tmp_path: Path
) -> None:
    from napari_lightning_pose.io import labels as labels_io
    from napari_lightning_pose.viewer.reader import get_labels_reader

    config = lp_example.project(bundled_sample, tmp_path)
    csv = config.parent / "CollectedData.csv"
    names = _load(config)["data"]["keypoint_names"]
    df = labels_io.read_labels(csv)
    labels_io.write_labels(labels_io.match_keypoints(df, names[::-1]), csv)  # other order
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfigNote)
        layers = get_labels_reader(str(csv))(str(csv))
    meta = layers[1][1]["metadata"]
    assert Path(meta["root"]) == config.parent.resolve()  # the project's config was used
    assert meta["keypoint_names"] == names  # the config's order, not the CSV's
    assert len(layers[0][0]) == 50


# ------------------------------------------------------ Lightning Pose multi-view (issue 23)
LP_SPLIT_CONFIG = (
    Path(__file__).parents[2]
    / "fixtures"
    / "lightning_pose"
    / ("config_mirror-mouse-example_split.yaml")
)


def _lp_split_project(bundled_sample: Path, tmp_path: Path) -> Path:
    """The sample split into Lightning Pose's top / bot layout (top.csv, bot.csv), with
    Lightning Pose's own two-view example config, unchanged, as its config.yaml."""
    import shutil

    from napari_lightning_pose.interop.mirror_split import split_mirrored_project

    root = tmp_path / "lp-split"
    split_mirrored_project(bundled_sample, root, views=("top", "bot"), max_video_frames=40)
    for view in ("top", "bot"):
        (root / f"CollectedData_{view}.csv").rename(root / f"{view}.csv")
    shutil.copy(LP_SPLIT_CONFIG, root / "config.yaml")
    return root / "config.yaml"


def test_lightning_pose_two_view_config_opens_with_its_views(
    bundled_sample: Path, tmp_path: Path
) -> None:
    from napari_lightning_pose.data.labeled import build_datasets
    from napari_lightning_pose.interop.lightning_pose import count_train_frames
    from napari_lightning_pose.losses.names import pca_columns

    cfg = _load(_lp_split_project(bundled_sample, tmp_path))
    assert cfg["data"]["view_names"] == ["top", "bot"]
    sets = build_datasets(cfg)
    assert len(sets["train"]) == count_train_frames(cfg) == 80  # 40 frames x 2 views
    # its one list of mirrored_column_matches names the keypoints of the cross-camera PCA
    assert pca_columns(cfg, "pca_multiview", 7) == [list(range(7)), list(range(7, 14))]


@pytest.mark.slow
def test_lightning_pose_two_view_config_trains_as_it_is(
    bundled_sample: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    err = _train_as_is(_lp_split_project(bundled_sample, tmp_path), tmp_path, monkeypatch, capsys)
    assert "note: model.backbone resnet50_animal_ap10k" in err  # the config was accepted
    ckpt = torch.load(tmp_path / "model" / "last.ckpt", weights_only=False)
    assert tuple(ckpt["pca"]["pca_multiview"]["columns"].shape) == (2, 7)
