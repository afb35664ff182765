"""Loading an ensemble: members must describe the same video; mistakes name the file."""

from __future__ import annotations

import numpy as np
import pytest

from napari_lightning_pose.ensemble.members import load_members
from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io.pose_csv import write_pose_csv


@pytest.fixture
def three_members(tmp_path, eks_tools):
    truth = eks_tools.truth(30, 3)
    frames = eks_tools.frames(eks_tools.members(truth, 3, 1.0), ["nose", "ear_l", "ear_r"])
    paths = []
    for i, df in enumerate(frames):
        paths.append(write_pose_csv(df, tmp_path / f"member{i}.csv"))
    return paths, frames


def test_loads_files_and_dataframes_alike(three_members):
    paths, frames = three_members
    from_files = load_members(paths)
    from_frames = load_members(frames)
    assert from_files.keypoints == ["nose", "ear_l", "ear_r"]
    assert from_files.xy.shape == (3, 30, 3, 2) and from_files.likelihood.shape == (3, 30, 3)
    np.testing.assert_allclose(from_files.xy, from_frames.xy)
    assert from_files.sources == [str(p) for p in paths]
    assert list(from_files.index) == list(range(30))


def test_single_member_is_allowed(three_members):
    paths, _ = three_members
    ens = load_members([paths[0]])
    assert ens.n_members == 1


def test_no_members(three_members):
    with pytest.raises(LabelsError, match="no ensemble members"):
        load_members([])


def test_different_lengths_name_the_file(three_members, tmp_path):
    paths, frames = three_members
    short = write_pose_csv(frames[1].iloc[:20], tmp_path / "short.csv")
    with pytest.raises(LabelsError, match=r"short\.csv has 20 frames but .* has 30") as err:
        load_members([paths[0], short])
    assert err.value.path == short


def test_different_frames_same_length(three_members, tmp_path):
    paths, frames = three_members
    shifted = frames[1].copy()
    shifted.index = shifted.index + 100
    other = write_pose_csv(shifted, tmp_path / "other_video.csv")
    with pytest.raises(LabelsError, match="row 0 is labelled 100"):
        load_members([paths[0], other])


def test_other_keypoints_are_named(three_members, tmp_path):
    paths, frames = three_members
    renamed = frames[2].rename(columns={"ear_r": "tail"}, level="bodyparts")
    bad = write_pose_csv(renamed, tmp_path / "renamed.csv")
    with pytest.raises(LabelsError, match=r"missing \['ear_r'\], extra \['tail'\]"):
        load_members([paths[0], bad])


def test_keypoint_order_is_matched_by_name(three_members):
    _, frames = three_members
    order = ["ear_r", "nose", "ear_l"]
    columns = [("m1", k, c) for k in order for c in ("x", "y", "likelihood")]
    reordered = frames[1].reindex(columns=columns)
    ens = load_members([frames[0], reordered])
    np.testing.assert_allclose(ens.xy[1], load_members([frames[1]]).xy[0])


def test_non_numeric_cell(three_members, tmp_path):
    paths, _ = three_members
    text = paths[1].read_text().splitlines()
    cells = text[5].split(",")
    cells[2] = "oops"
    text[5] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(text) + "\n")
    with pytest.raises(LabelsError, match="non-numeric value 'oops'"):
        load_members([paths[0], bad])


def test_labels_without_likelihood_are_rejected(three_members, tmp_path):
    _, frames = three_members
    labels = frames[0].drop(columns="likelihood", level="coords")
    path = write_pose_csv(labels, tmp_path / "CollectedData.csv")
    with pytest.raises(LabelsError, match="likelihood"):
        load_members([path])
    with pytest.raises(LabelsError, match="likelihood"):
        load_members([labels])


def test_missing_file(tmp_path):
    with pytest.raises(LabelsError, match="not found"):
        load_members([tmp_path / "nope.csv"])
