"""The labeling widget, driven like a user does: real clicks and keys on the napari canvas."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import yaml
from qtpy.QtCore import Qt

from napari_lightning_pose.io.labels import read_labels
from napari_lightning_pose.io.pose_csv import coords_array
from napari_lightning_pose.viewer.layer_styles import keypoint_colors

Key = Qt.Key


def _config(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _points_on(widget, frame: int) -> dict[str, np.ndarray]:
    """keypoint -> (y, x) of the labels layer's points on ``frame``."""
    layer = widget.points_layer
    on = np.rint(layer.data[:, 0]).astype(int) == frame
    names = layer.features["keypoint"].astype(str).to_numpy()[on]
    return dict(zip(names, layer.data[on, 1:], strict=True))


def _rounded_segment(points) -> tuple:
    """A segment ((y0, x0), (y1, x1)) rounded to 0.01 px, comparable as a set element."""
    return tuple((round(float(y), 2), round(float(x), 2)) for y, x in points)


def _list_texts(widget) -> list[str]:
    return [widget.keypoint_list.item(i).text() for i in range(widget.keypoint_list.count())]


def test_opening_the_sample_shows_frames_points_list_and_counts(labeling, sample_project):
    viewer, widget = labeling
    cfg = _config(sample_project)
    labels = read_labels(sample_project.parent / "CollectedData.csv")
    assert widget.frames_layer.data.shape[:3] == (52, 406, 396)  # img00..img51
    assert viewer.dims.current_step[0] == 0
    assert len(widget.points_layer.data) == int(np.isfinite(coords_array(labels)[..., 0]).sum())
    assert _list_texts(widget) == cfg["data"]["keypoint_names"]  # img00 has no labels yet
    assert widget.keypoint_list.currentRow() == 0
    assert widget.counts_label.text() == "labeled frames 50/52, keypoints 0/17"
    assert widget.points_layer.mode == "add"


def test_context_neighbours_are_not_frames_to_label(make_napari_viewer, sample_copy):
    from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget

    viewer = make_napari_viewer()
    widget = LabelingWidget(viewer)
    assert widget.load_project(sample_copy / "config.yaml")
    # img00 and img51 are only there as neighbours for the context model
    assert widget.state.images == [f"labeled-data/img{i:02d}.png" for i in range(1, 51)]
    assert widget.counts_label.text() == "labeled frames 50/50, keypoints 17/17"


def test_a_click_places_the_current_keypoint_and_moves_to_the_next(labeling, click):
    viewer, widget = labeling
    click(viewer, 50, 60)
    placed = _points_on(widget, 0)
    assert list(placed) == ["paw1LH_top"]
    np.testing.assert_allclose(placed["paw1LH_top"], [50, 60], atol=1.0)
    assert widget.current_keypoint == "paw2LF_top"
    assert widget.keypoint_list.currentRow() == 1
    assert _list_texts(widget)[0] == "paw1LH_top  ✓"
    assert widget.counts_label.text() == "labeled frames 50/52, keypoints 1/17"
    click(viewer, 80, 100)
    assert set(_points_on(widget, 0)) == {"paw1LH_top", "paw2LF_top"}
    assert widget.current_keypoint == "paw3RF_top"


def test_clicking_a_keypoint_again_replaces_it(labeling, click, press):
    viewer, widget = labeling
    click(viewer, 50, 60)
    press(viewer, Key.Key_Up)  # back to paw1LH_top
    assert widget.current_keypoint == "paw1LH_top"
    click(viewer, 120, 200)
    placed = _points_on(widget, 0)
    assert list(placed) == ["paw1LH_top"]
    np.testing.assert_allclose(placed["paw1LH_top"], [120, 200], atol=1.0)


def test_choosing_a_keypoint_in_the_list_makes_the_next_click_place_it(labeling, click):
    viewer, widget = labeling
    widget.keypoint_list.setCurrentRow(6)  # what a click on "nose_top" in the list does
    click(viewer, 30, 380)
    assert list(_points_on(widget, 0)) == ["nose_top"]


def test_save_writes_the_clicked_coordinates_and_keeps_a_backup(labeling, click, qtbot):
    viewer, widget = labeling
    csv = widget.labels_path
    before = csv.read_bytes()
    original = read_labels(csv)
    click(viewer, 50, 60)
    click(viewer, 80, 100)
    assert widget.dirty
    qtbot.mouseClick(widget.save_button, Qt.MouseButton.LeftButton)
    assert not widget.dirty
    saved = read_labels(csv)
    row = coords_array(saved.loc[["labeled-data/img00.png"]])[0]
    np.testing.assert_allclose(row[:2], [[60, 50], [100, 80]], atol=1.0)
    assert np.isnan(row[2:]).all()
    # every other row is unchanged, and the rows keep their order
    assert list(saved.index) == list(original.index)
    others = original.index.drop("labeled-data/img00.png")
    np.testing.assert_array_equal(
        coords_array(saved.loc[others]), coords_array(original.loc[others])
    )
    assert csv.with_name(csv.name + ".bak1").read_bytes() == before


def test_not_visible_is_written_as_nan_and_shown_in_the_list(labeling, press):
    viewer, widget = labeling
    widget.go_to_frame(1)  # img01, fully labeled
    widget.set_current_keypoint("nose_top")
    assert "nose_top" in _points_on(widget, 1)
    press(viewer, Key.Key_N)
    assert "nose_top" not in _points_on(widget, 1)
    assert _list_texts(widget)[6] == "nose_top  (not visible)"
    assert widget.counts_label.text() == "labeled frames 50/52, keypoints 17/17"
    assert widget.save()
    row = read_labels(widget.labels_path).loc["labeled-data/img01.png"]
    assert np.isnan(row.xs("nose_top", level="bodyparts")).all()
    assert np.isfinite(row.xs("paw1LH_top", level="bodyparts")).all()


def test_next_missing_frame_jumps_to_frames_with_keypoints_to_do(labeling, press):
    viewer, widget = labeling
    widget.go_to_frame(1)
    press(viewer, Key.Key_M)
    assert viewer.dims.current_step[0] == 51  # img51: next unlabeled after img01 (wrapping)
    press(viewer, Key.Key_M)
    assert viewer.dims.current_step[0] == 0  # img00
    press(viewer, Key.Key_M, Qt.KeyboardModifier.ShiftModifier)
    assert viewer.dims.current_step[0] == 51
    # deleting a label makes its frame one with missing labels
    widget.go_to_frame(5)
    widget.set_current_keypoint("paw1LH_top")
    press(viewer, Key.Key_Delete)
    assert "paw1LH_top" not in _points_on(widget, 5)
    widget.go_to_frame(1)
    press(viewer, Key.Key_M)
    assert viewer.dims.current_step[0] == 5
    assert widget.current_keypoint == "paw1LH_top"  # the first one still to do


def test_next_missing_frame_stays_put_when_everything_is_done(labeling, press):
    viewer, widget = labeling
    for frame in (0, 51):
        widget.go_to_frame(frame)
        for _ in range(17):
            press(viewer, Key.Key_N)
    assert widget.counts_label.text().startswith("labeled frames 52/52")
    widget.go_to_frame(3)
    press(viewer, Key.Key_M)
    assert viewer.dims.current_step[0] == 3


def test_arrow_keys_change_keypoint_and_frame(labeling, press):
    viewer, widget = labeling
    press(viewer, Key.Key_Down)
    assert widget.current_keypoint == "paw2LF_top"
    press(viewer, Key.Key_Up)
    press(viewer, Key.Key_Up)
    assert widget.current_keypoint == "obsLow_bot"  # wraps to the last
    press(viewer, Key.Key_Right)
    assert viewer.dims.current_step[0] == 1
    assert widget.frame_label.text().endswith("labeled-data/img01.png")
    press(viewer, Key.Key_Left)
    assert viewer.dims.current_step[0] == 0


def test_delete_removes_the_selected_point(labeling, click, press):
    viewer, widget = labeling
    widget.go_to_frame(2)
    layer = widget.points_layer
    frames = np.rint(layer.data[:, 0]).astype(int)
    names = layer.features["keypoint"].astype(str).to_numpy()
    index = int(np.flatnonzero((frames == 2) & (names == "tailBase_bot"))[0])
    before = len(_points_on(widget, 2))
    layer.selected_data = {index}
    press(viewer, Key.Key_Backspace)
    assert "tailBase_bot" not in _points_on(widget, 2)
    assert len(_points_on(widget, 2)) == before - 1
    assert widget.save()
    row = read_labels(widget.labels_path).loc["labeled-data/img02.png"]
    assert np.isnan(row.xs("tailBase_bot", level="bodyparts")).all()


def test_dragging_a_point_moves_it_and_the_move_is_saved(labeling, drag, press):
    viewer, widget = labeling
    widget.go_to_frame(1)
    y0, x0 = _points_on(widget, 1)["nose_bot"]
    press(viewer, Key.Key_S)  # napari's select mode: drag points to move them
    assert widget.points_layer.mode == "select"
    drag(viewer, (y0, x0), (y0 + 15, x0 - 20))
    np.testing.assert_allclose(_points_on(widget, 1)["nose_bot"], [y0 + 15, x0 - 20], atol=1.0)
    assert widget.dirty
    assert widget.save()
    row = read_labels(widget.labels_path).loc["labeled-data/img01.png"]
    np.testing.assert_allclose(
        row.xs("nose_bot", level="bodyparts").to_numpy(), [x0 - 20, y0 + 15], atol=1.0
    )


def test_skeleton_draws_the_edges_whose_ends_are_on_the_frame(labeling, sample_project, press):
    viewer, widget = labeling
    edges = [tuple(e) for e in _config(sample_project)["data"]["skeleton"]]
    labels = read_labels(widget.labels_path)

    def expected(image: str) -> set:
        row = labels.loc[image].droplevel(0)
        ok = {k for k in widget.keypoints if np.isfinite(row[k]).all()}
        return {
            _rounded_segment([[row[(k, "y")], row[(k, "x")]] for k in (a, b)])
            for a, b in edges
            if a in ok and b in ok
        }

    def drawn() -> set:
        # Vectors of every frame, (M, 2, 3): start (frame, y, x), step (0, dy, dx); napari
        # draws the current frame's
        vectors = widget.skeleton_layer.data
        vectors = vectors[np.rint(vectors[:, 0, 0]) == viewer.dims.current_step[0]]
        lines = np.stack([vectors[:, 0], vectors[:, 0] + vectors[:, 1]], axis=1)
        return {_rounded_segment(line[:, 1:]) for line in lines}

    assert drawn() == set()  # img00 has no labels
    widget.go_to_frame(1)
    assert drawn() == expected("labeled-data/img01.png")
    assert len(drawn()) == 12  # 15 edges; 3 end at tailBase_top, not visible on img01
    widget.set_current_keypoint("nose_top")
    press(viewer, Key.Key_N)  # live update: both nose_top edges go
    assert len(drawn()) == 10


def test_a_frame_step_leaves_the_skeleton_and_the_points_alone(labeling) -> None:
    """Stepping frames only changes what napari slices: no layer's data is rebuilt (that
    was most of a labeling frame step's time)."""
    _, widget = labeling
    rebuilt: list[str] = []
    widget.skeleton_layer.events.data.connect(lambda _e: rebuilt.append("skeleton"))
    widget.points_layer.events.data.connect(lambda _e: rebuilt.append("points"))
    for frame in (1, 2, 5, 1, 0):
        widget.go_to_frame(frame)
    assert rebuilt == []
    assert widget.frame_label.text().startswith("frame 1/52")


def test_autosave_writes_only_when_there_are_changes(labeling, click, qtbot):
    viewer, widget = labeling
    csv = widget.labels_path
    written = csv.stat().st_mtime_ns
    widget.set_autosave_interval(0.2)
    qtbot.wait(500)
    assert csv.stat().st_mtime_ns == written  # nothing to save: no write
    click(viewer, 50, 60)
    qtbot.waitUntil(lambda: not widget.dirty, timeout=5000)
    row = read_labels(csv).loc["labeled-data/img00.png"]
    np.testing.assert_allclose(row.xs("paw1LH_top", level="bodyparts"), [60, 50], atol=1.0)


def test_closing_the_viewer_saves(labeling, click):
    viewer, widget = labeling
    csv = widget.labels_path
    click(viewer, 50, 60)
    viewer.close()
    row = read_labels(csv).loc["labeled-data/img00.png"]
    np.testing.assert_allclose(row.xs("paw1LH_top", level="bodyparts"), [60, 50], atol=1.0)


def test_deleting_the_labels_layer_saves_it_first(labeling, click):
    viewer, widget = labeling
    csv = widget.labels_path
    click(viewer, 50, 60)
    viewer.layers.remove(widget.points_layer)
    assert not widget.dirty
    row = read_labels(csv).loc["labeled-data/img00.png"]
    np.testing.assert_allclose(row.xs("paw1LH_top", level="bodyparts"), [60, 50], atol=1.0)


def test_opening_another_project_saves_the_first(labeling, click, tmp_path):
    viewer, widget = labeling
    csv = widget.labels_path
    other = tmp_path / "second"
    shutil.copytree(csv.parent, other)
    click(viewer, 50, 60)
    assert widget.load_project(other / "config.yaml")
    assert "labeled-data/img00.png" in read_labels(csv).index
    assert [layer.name for layer in viewer.layers] == [
        "second frames",
        "second labels",
        "second skeleton",
    ]


def test_a_failed_save_is_reported_and_keeps_the_labels(labeling, click, errors):
    viewer, widget = labeling
    csv = widget.labels_path
    csv.unlink()
    csv.mkdir()  # the CSV's place is taken: the write must fail
    click(viewer, 50, 60)
    assert not widget.save()
    assert widget.dirty
    assert any(str(csv) in message for message in errors)
    assert "NOT saved" in widget.status_label.text()
    assert "paw1LH_top" in _points_on(widget, 0)
    csv.rmdir()
    assert widget.save()
    row = read_labels(csv).loc["labeled-data/img00.png"]
    np.testing.assert_allclose(row.xs("paw1LH_top", level="bodyparts"), [60, 50], atol=1.0)


def test_a_csv_with_other_keypoints_is_refused_with_the_file_named(
    make_napari_viewer, sample_project, errors
):
    from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget

    csv = sample_project.parent / "CollectedData.csv"
    csv.write_text(csv.read_text().replace("nose_top", "snout_top"))
    viewer = make_napari_viewer()
    widget = LabelingWidget(viewer)
    assert not widget.load_project(sample_project)
    assert len(viewer.layers) == 0
    assert any(str(csv) in m and "snout_top" in m for m in errors)


def test_a_project_without_frames_says_what_to_do(make_napari_viewer, tmp_path, errors):
    from napari_lightning_pose.labeling.project_setup import init_project
    from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget

    config = init_project(tmp_path / "new", ["nose", "tail"])
    viewer = make_napari_viewer()
    widget = LabelingWidget(viewer)
    assert not widget.load_project(config)
    assert len(viewer.layers) == 0
    assert any("no frames to label" in m and "Project widget" in m for m in errors)


def test_rows_of_images_that_are_gone_are_kept_on_save(make_napari_viewer, sample_project, click):
    from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget

    (sample_project.parent / "labeled-data" / "img05.png").unlink()
    viewer = make_napari_viewer(show=True)
    widget = LabelingWidget(viewer)
    assert widget.load_project(sample_project)
    assert len(widget.state.images) == 51
    before = read_labels(widget.labels_path)
    click(viewer, 50, 60)
    assert widget.save()
    after = read_labels(widget.labels_path)
    np.testing.assert_array_equal(
        coords_array(after.loc[["labeled-data/img05.png"]]),
        coords_array(before.loc[["labeled-data/img05.png"]]),
    )


def test_screenshot_shows_the_frame_with_coloured_points(labeling):
    viewer, widget = labeling
    widget.go_to_frame(1)
    shot = viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(int)
    assert shot.std() > 10  # the mouse image, not a blank canvas
    # the frames are grey: strongly coloured pixels come from the keypoints
    colourful = (shot.max(axis=-1) - shot.min(axis=-1)) > 120
    assert colourful.sum() > 50
    red = np.array(keypoint_colors(widget.keypoints)["paw1LH_top"][:3]) * 255
    assert (np.abs(shot - red).sum(axis=-1) < 60).any()
    widget.go_to_frame(0)  # nothing labeled there: no coloured points
    shot = viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(int)
    assert ((shot.max(axis=-1) - shot.min(axis=-1)) > 120).sum() == 0


def test_help_and_tooltips_name_the_shortcuts(labeling):
    _, widget = labeling
    text = widget.help_label.text()
    for key in ("Up/Down", "Left/Right", "M / Shift+M", "<b>N</b>", "<b>Delete</b>"):
        assert key in text
    assert "Up/Down" in widget.keypoint_list.toolTip()
    assert "N" in widget.not_visible_button.text()
    assert "M" in widget.missing_button.text()
    assert os.fspath(widget.labels_path) in widget.project_label.text()
