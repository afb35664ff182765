"""Project config: defaults, Lightning Pose keys, and clear errors naming file and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.io.config import (
    default_config,
    load_config,
    save_config,
    validate_config,
)

SAMPLE = Path(__file__).resolve().parents[3] / "resources" / "mirror-mouse" / "config.yaml"


def _write(tmp_path: Path, cfg: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_sample_config_loads_with_absolute_dirs() -> None:
    cfg = load_config(SAMPLE)
    assert cfg["data"]["num_keypoints"] == 17
    assert Path(cfg["data"]["data_dir"]) == SAMPLE.parent.resolve()
    assert Path(cfg["data"]["video_dir"]) == SAMPLE.parent.resolve() / "videos"
    assert cfg["data"]["mirrored_column_matches"][0] == [0, 1, 2, 3, 4, 5, 6]


def test_save_load_round_trip(tmp_path: Path) -> None:
    cfg = default_config()
    cfg["data"]["keypoint_names"] = ["nose", "tail"]
    cfg["data"]["skeleton"] = [["nose", "tail"]]
    path = save_config(cfg, tmp_path / "config.yaml")
    back = load_config(path)
    assert back["data"]["keypoint_names"] == ["nose", "tail"]
    assert back["data"]["num_keypoints"] == 2


def test_unknown_key_lists_valid_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, {"data": {"keypoint_namez": ["a"]}})
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message
    assert "unknown key 'data.keypoint_namez'" in message
    assert "keypoint_names" in message and "image_resize_dims" in message


def test_unknown_section_lists_sections(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Valid keys: data, training, model, losses"):
        load_config(_write(tmp_path, {"trainin": {}}))


def test_wrong_type_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, {"training": {"train_batch_size": "eight"}})
    with pytest.raises(ConfigError, match=r"'training\.train_batch_size' must be int, got str"):
        load_config(path)


def test_bool_is_not_an_int() -> None:
    with pytest.raises(ConfigError, match="train_batch_size"):
        validate_config({"training": {"train_batch_size": True}})


def test_lightning_pose_only_sections_pass_through() -> None:
    cfg = validate_config({"dali": {"base": {"train": {"sequence_length": 32}}}})
    assert cfg["dali"]["base"]["train"]["sequence_length"] == 32


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"keypoint_names": ["a", "a"]}, "duplicate names"),
        ({"keypoint_names": ["a", "b"], "num_keypoints": 3}, "num_keypoints is 3"),
        ({"keypoint_names": ["a"], "skeleton": [["a", "z"]]}, "'z', which is not in"),
        (
            {"keypoint_names": ["a"], "image_resize_dims": {"height": 100, "width": 64}},
            "multiple of 32",
        ),
        ({"keypoint_names": ["a", "b"], "mirrored_column_matches": [[0], [5]]}, "indices in"),
    ],
)
def test_impossible_values(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_config({"data": data})


def test_missing_config_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="napari-lightning-pose init"):
        load_config(tmp_path / "nothing.yaml")


def test_invalid_config_is_not_saved(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("data: {}\n")
    cfg = default_config()
    cfg["training"]["train_prob"] = 2.0
    with pytest.raises(ConfigError):
        save_config(cfg, path)
    assert path.read_text() == "data: {}\n"
