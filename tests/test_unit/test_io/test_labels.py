"""Labels CSV: exact round trips, safe saving, project keypoints, editing and bad input."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io import labels as L
from napari_lightning_pose.io import pose_csv
from napari_lightning_pose.io.image_paths import image_path, parse_image_path
from napari_lightning_pose.io.label_checks import check_labels_in_bounds, count_labels

KEYPOINTS = ["nose", "ear_l", "ear_r"]


@pytest.fixture
def small_labels() -> pd.DataFrame:
    """Three frames of three keypoints; the second frame has the left ear missing."""
    values = np.array(
        [
            [[10.5, 20.25], [30.0, 40.0], [50.0, 60.0]],
            [[11.0, 21.0], [np.nan, np.nan], [51.0, 61.0]],
            [[12.0, 22.0], [32.0, 42.0], [52.0, 62.0]],
        ]
    )
    images = [image_path("mouse1", f) for f in (3, 17, 250)]
    return pose_csv.make_pose_frame(values, KEYPOINTS, index=images, scorer="me")


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ round trip
@pytest.mark.shared_data
def test_mirror_mouse_csv_round_trips_byte_identical(mirror_mouse: Path, tmp_path: Path) -> None:
    src = mirror_mouse / "CollectedData.csv"
    df = L.read_labels(src)
    assert len(df) == 90
    assert len(pose_csv.keypoint_names(df)) == 17
    assert int(df.isna().sum().sum()) == 268
    out = L.write_labels(df, tmp_path / "CollectedData.csv")
    assert filecmp.cmp(src, out, shallow=False)


def test_bundled_sample_csv_round_trips_byte_identical(
    bundled_sample: Path, tmp_path: Path
) -> None:
    src = bundled_sample / "CollectedData.csv"
    df = L.read_labels(src)
    assert len(df) == 50
    assert list(df.index[:2]) == ["labeled-data/img01.png", "labeled-data/img02.png"]
    out = L.write_labels(df, tmp_path / "labels.csv")
    assert filecmp.cmp(src, out, shallow=False)
    again = L.read_labels(out)
    pd.testing.assert_frame_equal(again, df)


def test_written_values_and_nans_read_back_exactly(
    small_labels: pd.DataFrame, tmp_path: Path
) -> None:
    path = L.write_labels(small_labels, tmp_path / "CollectedData.csv")
    back = L.read_labels(path, KEYPOINTS)
    np.testing.assert_array_equal(pose_csv.coords_array(back), pose_csv.coords_array(small_labels))
    assert list(back.index) == list(small_labels.index)
    assert pose_csv.scorer_name(back) == "me"


# ----------------------------------------------------------------------- project keypoints
def test_same_keypoints_in_another_order_are_reordered(
    small_labels: pd.DataFrame, tmp_path: Path
) -> None:
    path = L.write_labels(small_labels, tmp_path / "c.csv")
    order = ["ear_r", "nose", "ear_l"]
    df = L.read_labels(path, order)
    assert pose_csv.keypoint_names(df) == order
    np.testing.assert_array_equal(
        pose_csv.coords_array(df), pose_csv.coords_array(small_labels)[:, [2, 0, 1]]
    )


def test_other_keypoints_than_the_project_are_refused_with_names(
    small_labels: pd.DataFrame, tmp_path: Path
) -> None:
    path = L.write_labels(small_labels, tmp_path / "c.csv")
    with pytest.raises(LabelsError) as err:
        L.read_labels(path, ["nose", "ear_l", "tail"])
    message = str(err.value)
    assert str(path) in message
    assert "'tail'" in message  # missing from the file
    assert "'ear_r'" in message  # extra in the file
    assert "data.keypoint_names" in message  # how to fix


# ---------------------------------------------------------------------------- safe saving
def test_failed_write_leaves_the_old_file_intact(
    small_labels: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = L.write_labels(small_labels, tmp_path / "CollectedData.csv")
    before = path.read_bytes()

    def half_write_then_fail(df: pd.DataFrame, target) -> None:
        Path(target).write_text("scorer,me\nbodyparts,no", encoding="utf-8")
        raise OSError("disk full")

    monkeypatch.setattr(pose_csv, "_write", half_write_then_fail)
    changed = L.set_frame_labels(small_labels, small_labels.index[0], {"nose": (1.0, 1.0)})
    with pytest.raises(OSError, match="disk full"):
        L.write_labels(changed, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_backups_rotate_and_keep_the_last_versions(
    small_labels: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "CollectedData.csv"
    versions = []
    df = small_labels
    for i in range(5):
        df = L.set_frame_labels(df, df.index[0], {"nose": (float(i), float(i))})
        L.write_labels(df, path, backups=3)
        versions.append(path.read_bytes())
    assert path.read_bytes() == versions[4]
    assert (tmp_path / "CollectedData.csv.bak1").read_bytes() == versions[3]
    assert (tmp_path / "CollectedData.csv.bak2").read_bytes() == versions[2]
    assert (tmp_path / "CollectedData.csv.bak3").read_bytes() == versions[1]
    assert not (tmp_path / "CollectedData.csv.bak4").exists()


def test_write_refuses_duplicate_rows_and_leaves_file(
    small_labels: pd.DataFrame, tmp_path: Path
) -> None:
    path = L.write_labels(small_labels, tmp_path / "c.csv")
    before = path.read_bytes()
    doubled = pd.concat([small_labels, small_labels.iloc[[0]]])
    with pytest.raises(LabelsError, match="duplicate rows"):
        L.write_labels(doubled, path)
    assert path.read_bytes() == before


# ------------------------------------------------------------------------------ bad input
def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(LabelsError, match="file not found") as err:
        L.read_labels(tmp_path / "nope.csv")
    assert "nope.csv" in str(err.value)


def test_duplicate_image_rows_are_refused(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "dup.csv",
        [
            "scorer,me,me",
            "bodyparts,nose,nose",
            "coords,x,y",
            "labeled-data/v/img00001.png,1,2",
            "labeled-data/v/img00001.png,3,4",
        ],
    )
    with pytest.raises(LabelsError) as err:
        L.read_labels(path)
    assert "duplicate rows" in str(err.value)
    assert "labeled-data/v/img00001.png" in str(err.value)
    assert "dup.csv" in str(err.value)


def test_non_numeric_cell_is_named(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "text.csv",
        [
            "scorer,me,me",
            "bodyparts,nose,nose",
            "coords,x,y",
            "labeled-data/v/img00001.png,1,2",
            "labeled-data/v/img00002.png,abc,4",
        ],
    )
    with pytest.raises(LabelsError) as err:
        L.read_labels(path)
    message = str(err.value)
    assert "'abc'" in message and "img00002" in message and "nose/x" in message


def test_x_without_y_is_refused(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "half.csv",
        ["scorer,me,me", "bodyparts,nose,nose", "coords,x,y", "labeled-data/img1.png,5,"],
    )
    with pytest.raises(LabelsError, match="only one of x and y"):
        L.read_labels(path)


def test_predictions_csv_is_not_labels(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "pred.csv",
        ["scorer,m,m,m", "bodyparts,nose,nose,nose", "coords,x,y,likelihood", "0,1,2,0.9"],
    )
    with pytest.raises(LabelsError, match="predictions"):
        L.read_labels(path)


def test_labels_outside_the_image_are_listed(small_labels: pd.DataFrame) -> None:
    sizes = {im: (100, 100) for im in small_labels.index}
    check_labels_in_bounds(small_labels, sizes)  # all inside
    sizes[small_labels.index[2]] = (50, 45)  # height 50, width 45: ear_r (52, 62) is out
    with pytest.raises(LabelsError) as err:
        check_labels_in_bounds(small_labels, sizes, "CollectedData.csv")
    message = str(err.value)
    assert "CollectedData.csv" in message
    assert "1 label(s)" in message
    assert "img00250.png ear_r" in message
    assert "x=52" in message


def test_bounds_border_is_half_a_pixel() -> None:
    df = pose_csv.make_pose_frame(np.array([[[-0.5, 9.5]]]), ["a"], index=["labeled-data/a.png"])
    check_labels_in_bounds(df, (10, 10))
    df.iloc[0, 0] = -0.6
    with pytest.raises(LabelsError):
        check_labels_in_bounds(df, (10, 10))


# ------------------------------------------------------------------------------- editing
def test_image_paths_round_trip_through_parse() -> None:
    assert image_path("mouse1", 42) == "labeled-data/mouse1/img00042.png"
    assert image_path(None, 7, digits=2) == "labeled-data/img07.png"
    assert parse_image_path("labeled-data/mouse1/img00042.png") == ("mouse1", 42)
    assert parse_image_path("labeled-data/img01.png") == (None, 1)
    assert parse_image_path("labeled-data\\cam2\\img123456.png") == ("cam2", 123456)
    assert parse_image_path("labeled-data/cam2/frame.png") == ("cam2", None)


def test_set_frame_labels_updates_one_frame_and_adds_new_ones(
    small_labels: pd.DataFrame,
) -> None:
    first = small_labels.index[0]
    out = L.set_frame_labels(small_labels, first, {"ear_l": (1.0, 2.0), "nose": None})
    np.testing.assert_array_equal(
        L.frame_labels(out, first), [[np.nan, np.nan], [1.0, 2.0], [50.0, 60.0]]
    )
    np.testing.assert_array_equal(L.frame_labels(small_labels, first)[0], [10.5, 20.25])
    new = image_path("mouse2", 5)
    out = L.set_frame_labels(out, new, np.array([[1, 2], [3, 4], [5, 6]]))
    assert list(out.index) == [*small_labels.index, new]
    np.testing.assert_array_equal(L.frame_labels(out, new), [[1, 2], [3, 4], [5, 6]])
    with pytest.raises(KeyError, match="tail"):
        L.set_frame_labels(out, new, {"tail": (1, 1)})


def test_merge_keeps_every_row_and_replaces_the_new_ones(small_labels: pd.DataFrame) -> None:
    # new labels come in another keypoint order, for one existing and one new frame
    order = ["ear_r", "ear_l", "nose"]
    changed, added = small_labels.index[1], image_path("mouse1", 999)
    new = L.empty_labels(order, [changed, added])
    new = L.set_frame_labels(new, changed, {"ear_l": (7.0, 8.0)})
    new = L.set_frame_labels(new, added, {"nose": (1.0, 1.0)})
    merged = L.merge_labels(small_labels, new)
    assert pose_csv.keypoint_names(merged) == KEYPOINTS
    assert list(merged.index) == [*small_labels.index, added]
    np.testing.assert_array_equal(
        L.frame_labels(merged, small_labels.index[0]),
        L.frame_labels(small_labels, small_labels.index[0]),
    )
    # the row is replaced: nose, cleared in the new table, is cleared
    np.testing.assert_array_equal(
        L.frame_labels(merged, changed), [[np.nan, np.nan], [7.0, 8.0], [np.nan, np.nan]]
    )


def test_update_labels_file_merges_into_the_csv(
    small_labels: pd.DataFrame, tmp_path: Path
) -> None:
    path = L.write_labels(small_labels, tmp_path / "CollectedData.csv")
    new = L.set_frame_labels(L.empty_labels(KEYPOINTS), "labeled-data/b/img00001.png", {})
    merged = L.update_labels_file(path, new, KEYPOINTS)
    on_disk = L.read_labels(path)
    assert len(on_disk) == 4
    pd.testing.assert_frame_equal(on_disk, merged)
    assert (tmp_path / "CollectedData.csv.bak1").exists()
    before = path.read_bytes()
    with pytest.raises(LabelsError, match="the labels to add have") as err:
        L.update_labels_file(path, L.empty_labels(["nose"], ["x.png"]))
    assert str(path) in str(err.value)
    with pytest.raises(LabelsError, match="that the project does not"):
        L.update_labels_file(path, L.empty_labels(["nose"], ["x.png"]), ["nose"])
    assert path.read_bytes() == before


def test_add_and_drop_frames(small_labels: pd.DataFrame) -> None:
    out = L.add_frames(small_labels, [small_labels.index[0], "labeled-data/x/img00001.png"])
    assert len(out) == 4
    assert out.iloc[3].isna().all()
    assert list(L.drop_unlabeled(out).index) == list(small_labels.index)
    assert list(L.drop_frames(out, [small_labels.index[1], "absent"]).index) == [
        small_labels.index[0],
        small_labels.index[2],
        "labeled-data/x/img00001.png",
    ]


def test_count_labels(small_labels: pd.DataFrame) -> None:
    counts = count_labels(L.add_frames(small_labels, ["labeled-data/x/img00001.png"]))
    assert counts.frames == 4
    assert counts.labeled_frames == 3
    assert counts.complete_frames == 2
    assert counts.labeled_keypoints == 8
    assert counts.total_keypoints == 12
    assert counts.per_keypoint == {"nose": 3, "ear_l": 2, "ear_r": 3}
    assert str(counts) == "3/4 frames labeled (2 complete), 8/12 keypoints"


def test_empty_labels_write_and_read_back(tmp_path: Path) -> None:
    df = L.empty_labels(KEYPOINTS)
    assert len(df) == 0
    path = L.write_labels(df, tmp_path / "empty.csv")
    back = L.read_labels(path, KEYPOINTS)
    assert len(back) == 0
    assert pose_csv.keypoint_names(back) == KEYPOINTS


def test_flat_lightning_pose_layout_reads(bundled_sample: Path, tmp_path: Path) -> None:
    shutil.copy(bundled_sample / "CollectedData.csv", tmp_path / "c.csv")
    df = L.read_labels(tmp_path / "c.csv")
    assert {parse_image_path(p)[0] for p in df.index} == {None}
    assert [parse_image_path(p)[1] for p in df.index] == list(range(1, 51))


def test_all_empty_first_row_survives_a_round_trip(tmp_path: Path) -> None:
    # frames picked for labeling but not labeled yet are all-NaN rows, possibly the first one
    images = [image_path("v", 0), image_path("v", 9)]
    df = L.set_frame_labels(L.empty_labels(KEYPOINTS, images), images[1], {"nose": (1.0, 2.0)})
    back = L.read_labels(L.write_labels(df, tmp_path / "c.csv"), KEYPOINTS)
    assert list(back.index) == images
    pd.testing.assert_frame_equal(back, df)


def test_deeplabcut_split_index_columns_are_joined(tmp_path: Path) -> None:
    # DeepLabCut >= 2.2 writes the image path as three index columns
    path = write_csv(
        tmp_path / "CollectedData_me.csv",
        [
            "scorer,,,me,me,me,me",
            "bodyparts,,,nose,nose,ear_l,ear_l",
            "coords,,,x,y,x,y",
            "labeled-data,mouse1,img001.png,,,,",
            "labeled-data,mouse1,img002.png,1.5,2.5,3,4",
        ],
    )
    df = L.read_labels(path, ["nose", "ear_l"])
    assert list(df.index) == ["labeled-data/mouse1/img001.png", "labeled-data/mouse1/img002.png"]
    np.testing.assert_array_equal(L.frame_labels(df, df.index[1]), [[1.5, 2.5], [3, 4]])
    assert parse_image_path(df.index[1]) == ("mouse1", 2)


def test_multi_animal_deeplabcut_labels_are_refused(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "ma.csv",
        [
            "scorer,me,me",
            "individuals,mouse1,mouse1",
            "bodyparts,nose,nose",
            "coords,x,y",
            "labeled-data/v/img1.png,1,2",
        ],
    )
    with pytest.raises(LabelsError, match="multi-animal") as err:
        L.read_labels(path)
    assert "ma.csv" in str(err.value)
