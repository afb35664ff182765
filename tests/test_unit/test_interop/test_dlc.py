"""DeepLabCut projects: ``init --from-dlc`` and ``export dlc`` (labels both ways)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from napari_lightning_pose.cli import main
from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.interop.dlc import import_dlc_project, read_dlc_table
from napari_lightning_pose.io import pose_csv
from napari_lightning_pose.labeling.project import Project


def test_init_from_dlc_merges_every_video_table(dlc_project, tmp_path: Path, capsys) -> None:
    out = tmp_path / "ours"
    assert main(["init", str(out), "--from-dlc", str(dlc_project.config)]) == 0
    assert "imported 9 labeled frames from 3 DeepLabCut table(s) and 1 video(s)" in (
        capsys.readouterr().out
    )
    project = Project.open(out)
    assert project.keypoint_names == ["red", "green"]
    assert project.skeleton == [("red", "green")]
    labels = project.read_labels(check_bounds=True)  # every image is there, labels inside
    assert sorted(labels.index) == sorted(dlc_project.expected)
    for image, xy in dlc_project.expected.items():
        np.testing.assert_array_equal(pose_csv.coords_array(labels.loc[[image]])[0], xy)
    assert np.isnan(pose_csv.coords_array(labels.loc[["labeled-data/mouseB/img0008.png"]])).sum()
    assert pose_csv.scorer_name(labels) == "Alice"
    assert (out / "labeled-data" / "mouseA" / "img0000.png").is_file()  # neighbours too
    assert [p.name for p in project.video_paths()] == ["mouseA.mp4"]


def test_video_sets_missing_everywhere_is_a_note(dlc_project, tmp_path: Path) -> None:
    (dlc_project.root / "videos" / "mouseA.mp4").unlink()
    result = import_dlc_project(dlc_project.config, tmp_path / "ours")
    assert result.videos == []
    assert any("mouseA.mp4" in note for note in result.notes)
    assert result.n_frames == 9


def test_train_with_a_dlc_config_says_to_import_it(dlc_project, capsys) -> None:
    assert main(["train", "--config", str(dlc_project.config)]) == 2
    err = capsys.readouterr().err
    assert "is a DeepLabCut project config" in err
    assert f"init PROJECT --from-dlc {dlc_project.config}" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [("bodyparts: [a, b\n", "is not valid YAML"), ("- a\n- b\n", "must be a YAML mapping")],
)
def test_a_broken_dlc_config_is_refused_naming_it(
    dlc_project, tmp_path: Path, text: str, message: str
) -> None:
    """The same reader (and messages) as our own configs: the file and what is wrong."""
    dlc_project.config.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        import_dlc_project(dlc_project.config, tmp_path / "ours")
    assert str(dlc_project.config) in str(err.value)
    assert not (tmp_path / "ours").exists()


def test_multi_animal_dlc_project_is_refused(dlc_project, tmp_path: Path) -> None:
    cfg = yaml.safe_load(dlc_project.config.read_text())
    cfg["multianimalproject"] = True
    dlc_project.config.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="multi-animal DeepLabCut project"):
        import_dlc_project(dlc_project.config, tmp_path / "ours")
    assert not (tmp_path / "ours").exists()


def test_export_dlc_round_trip(dlc_project, tmp_path: Path) -> None:
    ours = tmp_path / "ours"
    import_dlc_project(dlc_project.config, ours)
    back = tmp_path / "back-to-dlc"
    assert main(["export", "dlc", "--config", str(ours), "--out", str(back)]) == 0
    for video in ("mouseA", "mouseB", "mouseC"):
        folder = back / "labeled-data" / video
        assert (folder / "CollectedData_Alice.csv").is_file()
        h5 = pd.read_hdf(folder / "CollectedData_Alice.h5", key="df_with_missing")
        assert isinstance(h5.index, pd.MultiIndex) and h5.index[0][1] == video  # DLC 2.2 form
        assert list(h5.columns.names) == ["scorer", "bodyparts", "coords"]
        assert all((folder / parts[2]).is_file() for parts in h5.index)
    dlc_cfg = yaml.safe_load((back / "config.yaml").read_text())
    assert dlc_cfg["bodyparts"] == ["red", "green"] and dlc_cfg["scorer"] == "Alice"
    again = import_dlc_project(back / "config.yaml", tmp_path / "again")
    a = Project.open(ours).read_labels().sort_index()
    b = Project.open(again.config).read_labels().sort_index()
    assert list(a.index) == list(b.index)
    np.testing.assert_array_equal(pose_csv.coords_array(a), pose_csv.coords_array(b))


def test_dlc_csv_and_h5_read_the_same(dlc_project) -> None:
    folder = dlc_project.root / "labeled-data" / "mouseA"
    csv = read_dlc_table(folder / "CollectedData_Alice.csv")
    h5 = read_dlc_table(folder / "CollectedData_Alice.h5")
    assert (
        list(csv.index)
        == list(h5.index)
        == [f"labeled-data/mouseA/img{f:04d}.png" for f in (3, 17, 42)]
    )
    np.testing.assert_array_equal(csv.to_numpy(), h5.to_numpy())


def test_opening_a_dlc_csv_inside_labeled_data_finds_its_images(dlc_project) -> None:
    from napari_lightning_pose.viewer.reader import get_labels_reader

    csv = dlc_project.root / "labeled-data" / "mouseB" / "CollectedData_Alice.csv"
    reader = get_labels_reader(str(csv))
    assert reader is not None
    layers = reader(str(csv))
    stack, _, kind = layers[0]
    assert kind == "image" and len(stack) == 2
    frame = np.asarray(stack[0])
    assert frame.shape[:2] == (80, 96)
    points_meta = layers[1][1]["metadata"]
    assert Path(points_meta["root"]) == dlc_project.root.resolve()


def test_new_frames_follow_the_projects_digit_count(dlc_project, tmp_path: Path) -> None:
    from napari_lightning_pose.labeling.frames import pick_frames

    project = Project.open(import_dlc_project(dlc_project.config, tmp_path / "ours").config)
    video = project.video_paths()[0]  # mouseA, whose frames are img0003.png ...
    added = pick_frames(project, video, 3, method="uniform", context=0)
    assert added and all(Path(a).name.startswith("img") and len(Path(a).stem) == 7 for a in added)
    assert all((project.data_dir / a).is_file() for a in added)


def test_frame_digits() -> None:
    from napari_lightning_pose.io.image_paths import FRAME_DIGITS, frame_digits

    assert frame_digits(["labeled-data/v/img0108.png", "labeled-data/v/img0042.png"]) == 4
    assert frame_digits(["labeled-data/img01.png", "labeled-data/img12.png"]) == 2
    assert frame_digits(["labeled-data/v/img1234.png"]) == FRAME_DIGITS  # no padding seen
    assert frame_digits([]) == FRAME_DIGITS


def test_init_from_config_with_a_dlc_config_imports_it(dlc_project, tmp_path, capsys) -> None:
    out = tmp_path / "ours"
    assert main(["init", str(out), "--from-config", str(dlc_project.config)]) == 0
    assert "is a DeepLabCut config: importing it" in capsys.readouterr().out
    assert Project.open(out).keypoint_names == ["red", "green"]  # bodyparts kept
    assert len(Project.open(out).read_labels()) == 9
