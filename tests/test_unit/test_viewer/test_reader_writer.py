"""napari reader, writer and sample data for labels: what a user opens, edits and saves."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pytest
from napari.layers import Image, Layer, Points, Shapes

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io import labels as L
from napari_lightning_pose.io import pose_csv
from napari_lightning_pose.labeling.project import Project
from napari_lightning_pose.viewer.layer_styles import keypoint_colors
from napari_lightning_pose.viewer.reader import get_labels_reader, is_labels_csv
from napari_lightning_pose.viewer.sample_data import mirror_mouse_sample
from napari_lightning_pose.viewer.writer import write_labels


def open_layers(path: Path) -> list[Layer]:
    reader = get_labels_reader(str(path))
    assert reader is not None
    return [Layer.create(*data) for data in reader(str(path))]


def save(layer: Points, path: Path) -> list[str]:
    data, attributes, _ = layer.as_layer_data_tuple()
    return write_labels(str(path), data, attributes)


def test_reader_takes_labels_csvs_only(bundled_sample: Path, tmp_path: Path) -> None:
    assert is_labels_csv(bundled_sample / "CollectedData.csv")
    dlc = tmp_path / "CollectedData_me.csv"  # DeepLabCut >= 2.2: three index columns
    dlc.write_text("scorer,,,me,me\nbodyparts,,,a,a\ncoords,,,x,y\nlabeled-data,v,i.png,1,2\n")
    assert is_labels_csv(dlc)
    predictions = tmp_path / "pred.csv"
    predictions.write_text("scorer,m,m,m\nbodyparts,a,a,a\ncoords,x,y,likelihood\n0,1,2,0.5\n")
    table = tmp_path / "table.csv"
    table.write_text("a,b\n1,2\n")
    for other in (predictions, table, tmp_path / "absent.csv", bundled_sample / "config.yaml"):
        assert get_labels_reader(str(other)) is None


def test_reader_gives_frames_and_coloured_keypoints(sample_copy: Path) -> None:
    (sample_copy / "config.yaml").unlink()  # the CSV alone, without its project
    frames, points = open_layers(sample_copy / "CollectedData.csv")
    assert isinstance(frames, Image) and frames.data.shape == (50, 406, 396)
    assert isinstance(points, Points)
    df = L.read_labels(sample_copy / "CollectedData.csv")
    names = pose_csv.keypoint_names(df)
    assert set(points.features.columns) >= {"keypoint", "frame", "image"}
    # every point is where the CSV says, in napari's (frame, y, x) order
    for (frame, y, x), name in zip(points.data, points.features["keypoint"], strict=True):
        image = df.index[int(frame)]
        np.testing.assert_array_equal(L.frame_labels(df, image)[names.index(name)], [x, y])
    colours = keypoint_colors(names)
    first = points.features["keypoint"].iloc[0]
    np.testing.assert_allclose(points.face_color[0], colours[first], atol=1e-6)


def test_reader_uses_the_project_config_beside_the_csv(sample_copy: Path) -> None:
    project = Project.open(sample_copy)
    _, points, skeleton = open_layers(project.csv_path)
    assert points.metadata["keypoint_names"] == project.keypoint_names
    assert points.metadata["skeleton"] == [list(e) for e in project.skeleton]
    assert isinstance(skeleton, Shapes) and skeleton.nshapes > 0


def test_reader_refuses_a_csv_with_other_keypoints_than_its_project(sample_copy: Path) -> None:
    df = L.read_labels(sample_copy / "CollectedData.csv")
    renamed = df.rename(columns={"nose_top": "snout"}, level="bodyparts")
    L.write_labels(renamed, sample_copy / "CollectedData.csv", backups=0)
    reader = get_labels_reader(str(sample_copy / "CollectedData.csv"))
    with pytest.raises(LabelsError, match=r"\['snout'\]"):
        reader(str(sample_copy / "CollectedData.csv"))


def test_saving_an_unchanged_layer_reproduces_the_file(sample_copy: Path, tmp_path: Path) -> None:
    _, points, _ = open_layers(sample_copy / "CollectedData.csv")
    assert save(points, tmp_path / "out.csv") == [str(tmp_path / "out.csv")]
    assert filecmp.cmp(sample_copy / "CollectedData.csv", tmp_path / "out.csv", shallow=False)


def test_edits_in_the_layer_are_saved(sample_copy: Path) -> None:
    csv = sample_copy / "CollectedData.csv"
    _, points, _ = open_layers(csv)
    points.data[0] = [0, 50.0, 60.0]  # drag the first point (frame 0)
    points.data = points.data
    name = points.features["keypoint"].iloc[0]
    points.selected_data = {len(points.data) - 1}
    last_name = points.features["keypoint"].iloc[-1]
    last_frame = int(points.data[-1, 0])
    points.remove_selected()  # delete the last point
    save(points, csv)
    df = L.read_labels(csv)
    names = pose_csv.keypoint_names(df)
    np.testing.assert_array_equal(L.frame_labels(df, df.index[0])[names.index(name)], [60, 50])
    assert np.isnan(L.frame_labels(df, df.index[last_frame])[names.index(last_name)]).all()
    assert len(df) == 50
    assert (sample_copy / "CollectedData.csv.bak1").exists()


def test_writer_keeps_rows_the_layer_does_not_show(sample_copy: Path) -> None:
    csv = sample_copy / "CollectedData.csv"
    _, points, _ = open_layers(csv)
    extra = L.set_frame_labels(
        L.read_labels(csv), "labeled-data/other/img00001.png", {"nose_top": (1.0, 2.0)}
    )
    L.write_labels(extra, csv)  # e.g. another session added a frame meanwhile
    save(points, csv)
    df = L.read_labels(csv)
    assert len(df) == 51 and df.index[-1] == "labeled-data/other/img00001.png"


@pytest.mark.parametrize(
    ("break_layer", "message"),
    [
        ("duplicate", "more than one"),
        ("outside", "outside their image"),
        ("no_images", "which image each frame is"),
    ],
)
def test_writer_refuses_bad_layers_and_leaves_the_file(
    sample_copy: Path, break_layer: str, message: str
) -> None:
    csv = sample_copy / "CollectedData.csv"
    before = csv.read_bytes()
    _, points, _ = open_layers(csv)
    if break_layer == "duplicate":
        points.feature_defaults["keypoint"] = points.features["keypoint"].iloc[0]
        points.add([[0, 10.0, 10.0]])
    elif break_layer == "outside":
        points.data[0] = [0, 10.0, 5000.0]
        points.data = points.data
    else:
        points.metadata = {}
        points.features = points.features.drop(columns=["image"])
    with pytest.raises(LabelsError, match=message):
        save(points, csv)
    assert csv.read_bytes() == before


def test_writer_refuses_to_overwrite_labels_of_other_keypoints(
    sample_copy: Path, tmp_path: Path
) -> None:
    other = L.write_labels(L.empty_labels(["a", "b"], ["x.png"]), tmp_path / "other.csv")
    before = other.read_bytes()
    _, points, _ = open_layers(sample_copy / "CollectedData.csv")
    with pytest.raises(LabelsError, match=r"other\.csv"):
        save(points, other)
    assert other.read_bytes() == before


def test_sample_data_has_the_video_and_the_labels() -> None:
    layers = [Layer.create(*data) for data in mirror_mouse_sample()]
    frames, points, skeleton, video = layers
    assert video.data.shape == (994, 406, 396, 3) and video.rgb and not video.visible
    assert frames.data.shape == (50, 406, 396) and frames.visible
    assert len(points.data) > 0 and points.metadata["keypoint_names"][0] == "paw1LH_top"
    assert skeleton.nshapes > 0
    frame = video.data[812]
    assert frame.shape == (406, 396, 3) and frame.dtype == np.uint8


def test_open_edit_save_in_a_viewer(make_napari_viewer, sample_copy: Path) -> None:
    csv = sample_copy / "CollectedData.csv"
    viewer = make_napari_viewer()
    layers = viewer.open(str(csv), plugin="napari-lightning-pose")
    points = next(layer for layer in layers if isinstance(layer, Points))
    points.data[3] = [points.data[3, 0], 100.0, 120.0]
    points.data = points.data
    viewer.layers.selection = {points}
    saved = viewer.layers.save(str(csv), selected=True, plugin="napari-lightning-pose")
    assert saved == [str(csv)]
    df = L.read_labels(csv)
    frame, name = int(points.data[3, 0]), points.features["keypoint"].iloc[3]
    names = pose_csv.keypoint_names(df)
    np.testing.assert_array_equal(
        L.frame_labels(df, df.index[frame])[names.index(name)], [120, 100]
    )
    assert len(df) == 50


def _cell(df, image: str, keypoint: str) -> np.ndarray:
    names = pose_csv.keypoint_names(df)
    return L.frame_labels(df, image)[names.index(keypoint)]


def _move_on_first_frame(points: Points, keypoint: str, x: float, y: float) -> None:
    """Move ``keypoint``'s point of frame 0 in the layer, as a drag would."""
    feats = points.features
    i = int(np.flatnonzero((feats["frame"] == 0) & (feats["keypoint"] == keypoint))[0])
    data = points.data.copy()
    data[i, 1:] = (y, x)  # napari order: frame, y, x
    points.data = data


def test_writer_keeps_cells_another_writer_changed_in_rows_the_layer_shows(
    sample_copy: Path,
) -> None:
    # The labels CSV is open as a layer (File > Open) while the labeling dock, a terminal or a
    # script changes a label on a frame the layer also shows; then the user moves another
    # point in the layer and saves it: both changes must be in the file.
    csv = sample_copy / "CollectedData.csv"
    _, points, _ = open_layers(csv)
    df = L.read_labels(csv)
    image, names = str(df.index[0]), pose_csv.keypoint_names(df)
    elsewhere, moved = names[0], names[1]
    L.write_labels(L.set_frame_labels(df, image, {elsewhere: (11.0, 12.0)}), csv)

    _move_on_first_frame(points, moved, 30.0, 40.0)
    save(points, csv)

    saved = L.read_labels(csv)
    np.testing.assert_allclose(_cell(saved, image, elsewhere), [11.0, 12.0])
    np.testing.assert_allclose(_cell(saved, image, moved), [30.0, 40.0])


def test_writer_reports_a_cell_both_sides_changed_and_keeps_the_layers(
    sample_copy: Path,
) -> None:
    csv = sample_copy / "CollectedData.csv"
    _, points, _ = open_layers(csv)
    df = L.read_labels(csv)
    image, names = str(df.index[0]), pose_csv.keypoint_names(df)
    L.write_labels(L.set_frame_labels(df, image, {names[1]: (5.0, 6.0)}), csv)
    _move_on_first_frame(points, names[1], 30.0, 40.0)
    with pytest.warns(UserWarning, match=r"conflict.*" + names[1]):
        save(points, csv)
    np.testing.assert_allclose(_cell(L.read_labels(csv), image, names[1]), [30.0, 40.0])


def test_a_second_save_takes_a_later_outside_change_of_a_label_saved_before(
    sample_copy: Path, recwarn
) -> None:
    # After a save, the layer's base is what it wrote: a label the user saved once and did not
    # touch again is the file's to change, so a later outside change is kept, silently.
    csv = sample_copy / "CollectedData.csv"
    _, points, _ = open_layers(csv)
    df = L.read_labels(csv)
    image, names = str(df.index[0]), pose_csv.keypoint_names(df)
    _move_on_first_frame(points, names[1], 30.0, 40.0)
    save(points, csv)
    L.write_labels(L.set_frame_labels(L.read_labels(csv), image, {names[1]: (5.0, 6.0)}), csv)
    save(points, csv)
    np.testing.assert_allclose(_cell(L.read_labels(csv), image, names[1]), [5.0, 6.0])
    assert not [w for w in recwarn if "conflict" in str(w.message)]
