"""The README's "Coming from DeepLabCut / SLEAP / Lightning Pose" commands, end to end.

Each imported project is trained a few steps, predicts a few frames and exports, so the one
command a newcomer types leads to a working pipeline.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import xarray as xr

from napari_lightning_pose.cli import main
from napari_lightning_pose.io.pose_csv import read_pose_csv

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_command(start: str) -> list[str]:
    """The README's command line that starts with ``start``, split like a shell does."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Coming from DeepLabCut / SLEAP / Lightning Pose", 1)[1]
    for line in section.splitlines():
        if line.startswith(start):
            return shlex.split(line.split("#")[0])[1:]  # without the program name
    raise AssertionError(f"README has no command starting with {start!r}")


def _train_predict_export(config: Path, video: Path, tmp_path: Path) -> None:
    """Train 2 steps, predict frames 0..7 and export to movement; assert each step worked."""
    model = tmp_path / "model"
    train = ["train", "--config", str(config), "--steps", "2", "--out", str(model)]
    assert main([*train, "--device", "cpu"]) == 0
    preds = tmp_path / "preds.csv"
    args = ["predict", "--checkpoint", str(model), "--video", str(video), "--out", str(preds)]
    assert main([*args, "--end", "8", "--device", "cpu"]) == 0
    assert list(read_pose_csv(preds, ("x", "y", "likelihood")).index) == list(range(8))
    nc = tmp_path / "preds.nc"
    assert main(["export", "movement", str(preds), "--out", str(nc), "--video", str(video)]) == 0
    assert xr.open_dataset(nc)["position"].shape[0] == 8


@pytest.mark.slow
def test_coming_from_deeplabcut(dlc_project, tmp_path: Path) -> None:
    argv = readme_command("napari-lightning-pose init myproject --from-dlc")
    argv[argv.index("myproject")] = str(tmp_path / "myproject")
    argv[argv.index("path/to/dlc-project/config.yaml")] = str(dlc_project.config)
    assert main(argv) == 0
    config = tmp_path / "myproject" / "config.yaml"
    _train_predict_export(config, tmp_path / "myproject" / "videos" / "mouseA.mp4", tmp_path)
    back = readme_command("napari-lightning-pose export dlc")
    back[back.index("myproject")] = str(tmp_path / "myproject")
    back[back.index("path/to/dlc-project")] = str(tmp_path / "dlc-again")
    assert main(back) == 0
    assert (
        tmp_path / "dlc-again" / "labeled-data" / "mouseB" / "CollectedData_Alice.h5"
    ).is_file()


@pytest.mark.slow
def test_coming_from_sleap(slp_tools, tmp_path: Path) -> None:
    slp = slp_tools.make(tmp_path / "labels.slp")
    argv = readme_command("napari-lightning-pose init myproject --from-sleap")
    argv[argv.index("myproject")] = str(tmp_path / "myproject")
    argv[argv.index("labels.slp")] = str(slp.path)
    assert main(argv) == 0
    _train_predict_export(tmp_path / "myproject" / "config.yaml", slp.video, tmp_path)


def test_readme_lightning_pose_command_is_plain_train() -> None:
    argv = readme_command("napari-lightning-pose train --config path/to/lp-project")
    assert argv == ["train", "--config", "path/to/lp-project/config.yaml"]
    # trained as it is in test_lightning_pose.py::test_example_config_trains_as_it_is_*
