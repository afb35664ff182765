"""SLEAP files: labels become a project, predictions become ensemble members."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_lightning_pose.cli import main
from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.interop.sleap import import_sleap_labels, sleap_predictions
from napari_lightning_pose.io import pose_csv
from napari_lightning_pose.io.pose_csv import read_pose_csv
from napari_lightning_pose.labeling.project import Project


@pytest.mark.parametrize("embed", [True, False])
def test_init_from_sleap(slp_tools, tmp_path: Path, embed: bool, capsys) -> None:
    slp = slp_tools.make(tmp_path / "session.slp", embed=embed)
    if not embed:  # frames come from the referenced video
        assert not any(p.suffix == ".png" for p in tmp_path.iterdir())
    out = tmp_path / "ours"
    assert main(["init", str(out), "--from-sleap", str(slp.path)]) == 0
    assert "imported 3 labeled frames" in capsys.readouterr().out
    project = Project.open(out)
    assert project.keypoint_names == ["red", "green"]
    assert project.skeleton == [("red", "green")]
    labels = project.read_labels(check_bounds=True)
    assert list(labels.index) == [f"labeled-data/session/img{f:05d}.png" for f in (1, 4, 7)]
    values = pose_csv.coords_array(labels)
    np.testing.assert_allclose(values[0], slp.xy[1])
    assert np.isnan(values[1, 1]).all() and np.isfinite(values[1, 0]).all()  # NaN but "visible"
    assert np.isnan(values[2, 0]).all() and np.isfinite(values[2, 1]).all()  # invisible
    image = np.asarray(Image.open(out / labels.index[0]))
    assert image.shape == (80, 96, 3)
    red_x, red_y = np.round(slp.xy[1, 0]).astype(int)
    assert image[red_y, red_x, 0] > 200  # the red blob is where the label says


def test_several_animals_ask_which_track(slp_tools, tmp_path: Path) -> None:
    slp = slp_tools.make(tmp_path / "two.slp", n_animals=2)
    with pytest.raises(LabelsError, match=r"frame 1 has 2 animals.*--track NAME.*mouse0, mouse1"):
        import_sleap_labels(slp.path, tmp_path / "ours")
    assert not (tmp_path / "ours").exists()
    result = import_sleap_labels(slp.path, tmp_path / "ours", track="mouse1")
    labels = Project.open(result.config).read_labels()
    np.testing.assert_allclose(pose_csv.coords_array(labels)[0], slp.xy[1] + 5)


def test_predictions_become_ensemble_members(slp_tools, tmp_path: Path, capsys) -> None:
    slps = [slp_tools.make(tmp_path / f"model{i}.slp", predictions=True) for i in range(2)]
    members = tmp_path / "members"
    assert main(["import-predictions", *(str(s.path) for s in slps), "--out", str(members)]) == 0
    csvs = sorted(members.glob("*.csv"))
    assert [c.name for c in csvs] == ["model0.csv", "model1.csv"]
    df = read_pose_csv(csvs[0], required_coords=("x", "y", "likelihood"))
    assert list(df.index) == list(range(12))
    np.testing.assert_allclose(pose_csv.coords_array(df)[:, :, :2], slps[0].xy)
    np.testing.assert_allclose(pose_csv.coords_array(df, ("likelihood",)), 0.9)
    smoothed = tmp_path / "smoothed.csv"
    assert main(["smooth", *map(str, csvs), "--out", str(smoothed), "--smoothing", "1"]) == 0
    assert smoothed.is_file()


def test_predictions_of_several_animals_need_a_track(slp_tools, tmp_path: Path) -> None:
    slp = slp_tools.make(tmp_path / "two.slp", n_animals=2, predictions=True)
    with pytest.raises(LabelsError, match="--track"):
        sleap_predictions(slp.path)
    df = sleap_predictions(slp.path, track="mouse0")
    np.testing.assert_allclose(pose_csv.coords_array(df)[:, :, :2], slp.xy)
