"""Three-way merge of labels (pure): the editor's edits applied to the file as it is now."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_lightning_pose.io.labels import set_frame_labels
from napari_lightning_pose.io.pose_csv import make_pose_frame
from napari_lightning_pose.labeling.merge import merge_edits

KP = ["nose", "tail"]


def _labels(rows: dict[str, list[list[float]]]) -> pd.DataFrame:
    values = np.array(list(rows.values()), dtype=float).reshape(len(rows), len(KP), 2)
    return make_pose_frame(values, KP, index=pd.Index(list(rows), dtype=str))


NAN = [np.nan, np.nan]
BASE = _labels({"a.png": [[1, 2], [3, 4]], "b.png": [NAN, NAN]})


def _cell(df: pd.DataFrame, row: str, kp: str) -> list[float]:
    return df.loc[row].xs(kp, level="bodyparts").tolist()


def test_rows_added_on_disk_survive_and_the_users_edit_is_applied() -> None:
    mine = set_frame_labels(BASE, "b.png", {"nose": (10, 20)})
    theirs = pd.concat([BASE, _labels({"c.png": [NAN, NAN], "d.png": [NAN, NAN]})])
    result = merge_edits(BASE, mine, theirs)
    assert list(result.labels.index) == ["a.png", "b.png", "c.png", "d.png"]
    assert _cell(result.labels, "b.png", "nose") == [10, 20]
    assert result.added_elsewhere == ["c.png", "d.png"]
    assert result.conflicts == []


def test_cells_changed_on_disk_win_where_the_user_changed_nothing() -> None:
    mine = set_frame_labels(BASE, "a.png", {"nose": (7, 8)})
    theirs = set_frame_labels(BASE, "a.png", {"tail": (30, 40)})
    result = merge_edits(BASE, mine, theirs)
    assert _cell(result.labels, "a.png", "nose") == [7, 8]  # the user's cell
    assert _cell(result.labels, "a.png", "tail") == [30, 40]  # the file's cell
    assert result.changed_elsewhere == 1
    assert result.conflicts == []


def test_the_same_cell_changed_on_both_sides_is_a_conflict_with_both_values() -> None:
    mine = set_frame_labels(BASE, "a.png", {"nose": (7, 8)})
    theirs = set_frame_labels(BASE, "a.png", {"nose": (5, 6)})
    result = merge_edits(BASE, mine, theirs)
    assert _cell(result.labels, "a.png", "nose") == [7, 8]  # yours kept...
    [conflict] = result.conflicts  # ...and reported
    assert (conflict.image, conflict.keypoint) == ("a.png", "nose")
    assert conflict.mine == (7, 8) and conflict.theirs == (5, 6)
    assert "a.png nose" in result.report() and "x 5.0, y 6.0" in result.report()


def test_the_same_change_on_both_sides_is_no_conflict() -> None:
    mine = set_frame_labels(BASE, "a.png", {"nose": (5, 6)})
    theirs = set_frame_labels(BASE, "a.png", {"nose": (5.0000001, 6)})
    assert merge_edits(BASE, mine, theirs).conflicts == []


def test_a_label_cleared_by_the_user_stays_cleared() -> None:
    mine = set_frame_labels(BASE, "a.png", {"tail": None})
    result = merge_edits(BASE, mine, BASE)
    assert np.isnan(_cell(result.labels, "a.png", "tail")).all()
    assert result.conflicts == []


def test_new_rows_of_the_user_are_appended_after_the_files_rows() -> None:
    mine = set_frame_labels(BASE, "e.png", {"nose": (1, 1)})
    theirs = pd.concat([BASE, _labels({"c.png": [NAN, NAN]})])
    result = merge_edits(BASE, mine, theirs)
    assert list(result.labels.index) == ["a.png", "b.png", "c.png", "e.png"]


def test_a_row_removed_on_disk_stays_removed_unless_the_user_edited_it() -> None:
    theirs = BASE.drop(index=["b.png"])
    assert list(merge_edits(BASE, BASE, theirs).labels.index) == ["a.png"]
    mine = set_frame_labels(BASE, "b.png", {"nose": (1, 1)})
    result = merge_edits(BASE, mine, theirs)
    assert list(result.labels.index) == ["a.png", "b.png"]
    assert [(c.image, c.keypoint) for c in result.conflicts] == [("b.png", "nose")]


def test_a_missing_file_loses_nothing() -> None:
    mine = set_frame_labels(BASE, "a.png", {"nose": (9, 9)})
    result = merge_edits(BASE, mine, None)
    pd.testing.assert_frame_equal(result.labels, mine, check_index_type=False)


def test_the_files_keypoint_order_does_not_matter() -> None:
    mine = set_frame_labels(BASE, "a.png", {"nose": (7, 8)})
    theirs = make_pose_frame(
        BASE.droplevel(0, axis=1).loc[:, ["tail", "nose"]].to_numpy().reshape(2, 2, 2),
        ["tail", "nose"],
        index=BASE.index,
    )
    result = merge_edits(BASE, mine, theirs)
    assert _cell(result.labels, "a.png", "nose") == [7, 8]
    assert _cell(result.labels, "a.png", "tail") == [3, 4]
