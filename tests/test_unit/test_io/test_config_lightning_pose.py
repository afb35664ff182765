"""Lightning Pose's own configs open as they are: OmegaConf numbers, references, trainer keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.io.config import ConfigNote, load_config, read_yaml, validate_config


def test_numbers_are_read_as_omegaconf_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: 1e-3\nb: -2E+4\nc: 1.5e3\nd: 3\ne: '1e-3'\nf: 1e\n")
    raw = read_yaml(path)
    assert raw == {"a": 1e-3, "b": -2e4, "c": 1500.0, "d": 3, "e": "1e-3", "f": "1e"}
    assert yaml.safe_load(path.read_text())["a"] == "1e-3"  # what PyYAML alone gives


def test_example_config_opens_in_a_moved_project(
    lp_example, bundled_sample: Path, tmp_path: Path
) -> None:
    config = lp_example.project(bundled_sample, tmp_path)
    with pytest.warns(ConfigNote, match="using the config's folder"):
        cfg = load_config(config)
    root = config.parent.resolve()
    assert Path(cfg["data"]["data_dir"]) == root
    assert Path(cfg["data"]["video_dir"]) == root / "videos"
    assert cfg["training"]["optimizer_params"]["learning_rate"] == pytest.approx(1e-3)
    assert cfg["training"]["max_epochs"] == 300 and cfg["training"]["num_gpus"] == 1
    assert cfg["training"]["early_stop_patience"] == 3
    assert cfg["eval"]["test_videos_directory"] == "${data.video_dir}"  # not ours: as read
    assert cfg["callbacks"]["anneal_weight"]["final_val"] == 1.0


def test_lp_root_path_is_the_environment_variable(
    lp_example, bundled_sample: Path, tmp_path: Path, monkeypatch, recwarn
) -> None:
    lp_root = tmp_path / "lightning-pose"
    (lp_root / "data").mkdir(parents=True)
    shutil.copytree(bundled_sample, lp_root / "data" / "mirror-mouse-example")
    monkeypatch.setenv("LP_ROOT_PATH", str(lp_root))
    cfg = load_config(lp_example.config)
    data_dir = lp_root / "data" / "mirror-mouse-example"
    assert Path(cfg["data"]["data_dir"]) == data_dir
    assert Path(cfg["data"]["video_dir"]) == data_dir / "videos"
    assert not [w for w in recwarn if issubclass(w.category, ConfigNote)]


def test_references_and_env(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NLP_TEST_BATCH", "4")
    path = tmp_path / "c.yaml"
    path.write_text(
        "training:\n  train_batch_size: 8\n  val_batch_size: ${training.train_batch_size}\n"
        "model:\n  model_name: run-${training.train_batch_size}-${oc.env:NLP_TEST_BATCH,1}\n"
        "hydra:\n  run:\n    dir: outputs/${now:%Y-%m-%d}\n"
    )
    raw = read_yaml(path)
    assert raw["training"]["val_batch_size"] == 8  # a lone reference keeps its type
    assert raw["model"]["model_name"] == "run-8-4"
    assert raw["hydra"]["run"]["dir"] == "outputs/${now:%Y-%m-%d}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model:\n  model_name: ${data.nope}\n", r"\$\{data.nope\} names no key"),
        ("model:\n  model_name: ${now:%H}\n", "OmegaConf resolver"),
        ("model:\n  model_name: ${model.model_name}\n", "refers to itself"),
    ],
)
def test_bad_references_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_yaml(path)


def test_valid_keys_name_lightning_pose_sections_and_keys() -> None:
    with pytest.raises(ConfigError) as err:
        validate_config({"trainer": {}})
    assert "dali, eval, callbacks, hydra" in str(err.value)
    with pytest.raises(ConfigError) as err:
        validate_config({"training": {"max_epoch": 3}})
    assert "max_epochs" in str(err.value) and "early_stop_patience" in str(err.value)


def test_lightning_pose_keys_are_type_checked() -> None:
    with pytest.raises(ConfigError, match=r"'training\.num_gpus' must be int or null"):
        validate_config({"training": {"num_gpus": "one"}})


def test_dlc_config_is_refused_with_the_import_command(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"Task": "reach", "scorer": "Bo", "bodyparts": ["a"]}))
    with pytest.raises(ConfigError, match="init PROJECT --from-dlc"):
        load_config(path)


def test_null_losses_to_use_means_supervised() -> None:
    assert validate_config({"model": {"losses_to_use": None}})["model"]["losses_to_use"] == []
