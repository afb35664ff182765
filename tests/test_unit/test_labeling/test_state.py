"""LabelState: what is labeled, what to click next, counts and the table written to the CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_lightning_pose.io.labels import read_labels
from napari_lightning_pose.io.pose_csv import coords_array, make_pose_frame
from napari_lightning_pose.labeling.state import (
    KeypointStatus,
    LabelState,
    find_label_images,
    frames_to_label,
)

KP = ["nose", "left", "right"]
IMAGES = [f"labeled-data/v/img0000{i}.png" for i in (1, 2, 3)]


def _labels(rows: dict[str, list[list[float]]]) -> pd.DataFrame:
    values = np.array(list(rows.values()), dtype=float)
    return make_pose_frame(values, KP, index=list(rows), scorer="alice")


def test_csv_rows_become_labeled_or_not_visible_and_all_empty_rows_stay_unlabeled() -> None:
    nan = np.nan
    labels = _labels(
        {
            IMAGES[1]: [[1, 2], [nan, nan], [5, 6]],  # left occluded
            IMAGES[2]: [[nan, nan]] * 3,  # picked, not labeled yet
        }
    )
    state = LabelState.from_labels(labels, IMAGES, KP)
    assert state.status(1, 0) == KeypointStatus.LABELED
    assert state.status(1, 1) == KeypointStatus.NOT_VISIBLE
    assert state.status(2, 1) == KeypointStatus.UNLABELED
    assert state.status(0, 0) == KeypointStatus.UNLABELED  # no row at all
    assert state.scorer == "alice"
    np.testing.assert_array_equal(state.xy[1, 2], [5, 6])


def test_next_unlabeled_keypoint_skips_decided_ones_and_wraps() -> None:
    state = LabelState.empty(IMAGES, KP)
    assert state.next_unlabeled_keypoint(0, after=-1) == 0
    state.set_placed(np.array([0]), np.array([1]), np.array([[3.0, 4.0]]))
    assert state.next_unlabeled_keypoint(0, after=0) == 2
    state.mark_not_visible(0, 2)
    assert state.next_unlabeled_keypoint(0, after=1) == 0  # wraps round to the start
    state.set_placed(np.array([0, 0]), np.array([0, 1]), np.array([[1.0, 1.0], [3.0, 4.0]]))
    assert state.next_unlabeled_keypoint(0, after=0) is None


def test_next_incomplete_frame_goes_both_ways_and_none_when_all_done() -> None:
    state = LabelState.empty(IMAGES, KP)
    state.set_placed(np.zeros(3, int), np.arange(3), np.ones((3, 2)))  # frame 0 complete
    assert state.next_incomplete_frame(0, step=1) == 1
    assert state.next_incomplete_frame(0, step=-1) == 2
    assert state.next_incomplete_frame(2, step=1) == 1  # wraps past the complete frame 0
    for f in (1, 2):
        for k in range(3):
            state.mark_not_visible(f, k)
    assert state.next_incomplete_frame(1) is None


def test_counts_complete_frames_and_decided_keypoints_of_the_frame() -> None:
    state = LabelState.empty(IMAGES, KP)
    state.set_placed(np.array([0, 0, 1]), np.array([0, 1, 0]), np.ones((3, 2)))
    state.mark_not_visible(0, 2)
    counts = state.counts(1)
    assert (counts.frames_done, counts.frames_total) == (1, 3)
    assert (counts.keypoints_done, counts.keypoints_total) == (1, 3)
    assert counts.text() == "labeled frames 1/3, keypoints 1/3"


def test_placing_a_point_clears_not_visible_and_clear_forgets_both() -> None:
    state = LabelState.empty(IMAGES, KP)
    state.mark_not_visible(1, 0)
    state.set_placed(np.array([1]), np.array([0]), np.array([[7.0, 8.0]]))
    assert state.status(1, 0) == KeypointStatus.LABELED
    state.clear(1, 0)
    assert state.status(1, 0) == KeypointStatus.UNLABELED
    # set_placed replaces every position: an empty layer means no points anywhere
    state.set_placed(np.zeros(0, int), np.zeros(0, int), np.zeros((0, 2)))
    assert not state.placed().any()


def test_set_placed_ignores_points_outside_the_project() -> None:
    state = LabelState.empty(IMAGES, KP)
    state.set_placed(np.array([5, 0]), np.array([0, 7]), np.ones((2, 2)))
    assert not state.placed().any()


def test_to_labels_keeps_csv_rows_in_order_adds_new_frames_and_writes_nan() -> None:
    nan = np.nan
    labels = _labels(
        {
            IMAGES[2]: [[1, 2], [3, 4], [5, 6]],
            "labeled-data/gone/img00009.png": [[9, 9], [nan, nan], [8, 8]],  # image not shown
            IMAGES[1]: [[nan, nan]] * 3,
        }
    )
    state = LabelState.from_labels(labels, IMAGES, KP)
    state.set_placed(
        np.array([2, 2, 2, 0]), np.array([0, 1, 2, 1]), np.array([[1, 2], [3, 4], [5, 6], [7, 8]])
    )
    state.mark_not_visible(2, 1)
    out = state.to_labels()
    assert list(out.index) == [IMAGES[2], "labeled-data/gone/img00009.png", IMAGES[1], IMAGES[0]]
    values = coords_array(out)
    np.testing.assert_array_equal(values[0], [[1, 2], [nan, nan], [5, 6]])  # not visible = NaN
    np.testing.assert_array_equal(values[1], [[9, 9], [nan, nan], [8, 8]])  # kept unchanged
    assert np.isnan(values[2]).all()  # the all-empty row stays
    np.testing.assert_array_equal(values[3], [[nan, nan], [7, 8], [nan, nan]])
    assert out.columns.get_level_values("scorer")[0] == "alice"


def test_untouched_frames_without_a_row_are_not_written() -> None:
    state = LabelState.empty(IMAGES, KP)
    assert len(state.to_labels()) == 0
    state.mark_not_visible(1, 0)
    assert list(state.to_labels().index) == [IMAGES[1]]


def test_bundled_sample_round_trips_unchanged(bundled_sample: Path) -> None:
    labels = read_labels(bundled_sample / "CollectedData.csv")
    images = find_label_images(bundled_sample)
    assert len(images) == 52
    kp = list(dict.fromkeys(labels.columns.get_level_values("bodyparts")))
    state = LabelState.from_labels(labels, images, kp)
    assert state.counts(1).frames_done == 50  # img01..img50; img00 and img51 have no row
    pd.testing.assert_frame_equal(state.to_labels(), labels, check_names=False)


def test_frames_to_label_are_the_rows_and_other_images_but_not_context_neighbours() -> None:
    images = [
        "labeled-data/img00.png",  # neighbour of img01 (Lightning Pose flat layout)
        "labeled-data/img01.png",
        "labeled-data/img02.png",
        "labeled-data/img03.png",  # neighbour
        "labeled-data/img09.png",  # not near a row: dropped in by hand, to label
        "labeled-data/mouse/img00098.png",  # neighbour of mouse/img00100
        "labeled-data/mouse/img00100.png",
        "labeled-data/other/img00101.png",  # another video: not a neighbour
        "labeled-data/mouse/still.png",  # no frame number
    ]
    rows = ["labeled-data/img02.png", "labeled-data/img01.png", "labeled-data/mouse/img00100.png"]
    assert frames_to_label(images, rows) == [
        "labeled-data/img01.png",
        "labeled-data/img02.png",
        "labeled-data/img09.png",
        "labeled-data/mouse/still.png",
        "labeled-data/mouse/img00100.png",
        "labeled-data/other/img00101.png",
    ]
    with_neighbours = frames_to_label(images, rows, context=0)
    assert set(with_neighbours) == set(images)
    assert with_neighbours[:5] == [f"labeled-data/img0{i}.png" for i in (0, 1, 2, 3, 9)]
    assert frames_to_label(images[:2], []) == images[:2]  # no CSV yet: every image


def test_find_label_images_finds_both_layouts_and_skips_hidden_files(tmp_path: Path) -> None:
    for rel in (
        "labeled-data/img03.png",
        "labeled-data/mouse1/img00010.png",
        "labeled-data/mouse1/.img00011.png.tmp",
        "labeled-data/mouse1/notes.txt",
        "videos/frame.png",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    assert find_label_images(tmp_path) == [
        "labeled-data/img03.png",
        "labeled-data/mouse1/img00010.png",
    ]
    assert find_label_images(tmp_path / "nothing-here") == []


@pytest.mark.parametrize(
    "path", ["./labeled-data/v/img00001.png", "labeled-data\\v\\img00001.png"]
)
def test_csv_paths_written_differently_still_match_their_image(path: str) -> None:
    labels = _labels({path: [[1, 2], [3, 4], [5, 6]]})
    state = LabelState.from_labels(labels, IMAGES, KP)
    assert state.placed()[0].all()
    assert state.other_rows is not None and len(state.other_rows) == 0


def test_adopting_the_saved_merge_brings_in_other_writers_and_keeps_marks() -> None:
    nan = np.nan
    state = LabelState.empty(IMAGES, KP)
    state.set_placed(np.array([0]), np.array([0]), np.array([[1.0, 2.0]]))  # nose on frame 0
    state.mark_not_visible(1, 2)
    saved = _labels(
        {
            IMAGES[0]: [[1, 2], [nan, nan], [nan, nan]],
            IMAGES[1]: [[nan, nan], [7, 8], [nan, nan]],  # another writer placed "left"
            "labeled-data/v/img00009.png": [[nan, nan]] * 3,  # added by select-frames
        }
    )
    assert state.adopt(saved)  # a point moved: the layer must be redrawn
    np.testing.assert_array_equal(state.xy[1, 1], [7, 8])
    # frame 0's other keypoints are still to do, not "not visible" as a reload would say
    assert state.status(0, 1) == KeypointStatus.UNLABELED
    assert state.status(1, 2) == KeypointStatus.NOT_VISIBLE
    assert list(state.to_labels().index) == list(saved.index)
    assert not state.adopt(state.to_labels())
