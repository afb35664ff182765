"""The three-header-row pose CSV: exact round trips and clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io.pose_csv import (
    coords_array,
    keypoint_names,
    make_pose_frame,
    read_pose_csv,
    write_pose_csv,
)

SAMPLE = Path(__file__).resolve().parents[3] / "resources" / "mirror-mouse" / "CollectedData.csv"


@pytest.mark.parametrize("source", ["sample", "shared"])
def test_round_trip_is_byte_identical(source: str, tmp_path: Path, request) -> None:
    if source == "sample":
        path = SAMPLE
    else:
        path = request.getfixturevalue("mirror_mouse") / "CollectedData.csv"
    df = read_pose_csv(path)
    out = write_pose_csv(df, tmp_path / "out.csv")
    assert out.read_bytes() == path.read_bytes()
    again = read_pose_csv(out)
    assert keypoint_names(again) == keypoint_names(df)
    np.testing.assert_array_equal(coords_array(again), coords_array(df))


def test_sample_has_expected_layout() -> None:
    df = read_pose_csv(SAMPLE)
    assert df.shape == (50, 34)
    assert keypoint_names(df)[:2] == ["paw1LH_top", "paw2LF_top"]
    xy = coords_array(df)
    assert xy.shape == (50, 17, 2)
    # missing labels are NaN in x and y together
    assert np.array_equal(np.isnan(xy[..., 0]), np.isnan(xy[..., 1]))


def test_predictions_with_likelihood(tmp_path: Path) -> None:
    values = np.random.default_rng(0).uniform(0, 100, size=(5, 2, 3))
    df = make_pose_frame(values, ["nose", "tail"], coords=("x", "y", "likelihood"))
    path = write_pose_csv(df, tmp_path / "pred.csv")
    back = read_pose_csv(path, required_coords=("x", "y", "likelihood"))
    np.testing.assert_allclose(coords_array(back, ("x", "y", "likelihood")), values)
    assert list(back.index) == [0, 1, 2, 3, 4]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return path


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(LabelsError, match=r"nope\.csv: file not found"):
        read_pose_csv(tmp_path / "nope.csv")


def test_non_numeric_cell_is_reported(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "scorer,me,me\nbodyparts,nose,nose\ncoords,x,y\nimg0.png,1.5,abc\n",
    )
    with pytest.raises(LabelsError, match=r"non-numeric value 'abc' in row 'img0.png'"):
        read_pose_csv(path)


def test_duplicate_rows_are_reported(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "scorer,me,me\nbodyparts,nose,nose\ncoords,x,y\nimg0.png,1,2\nimg0.png,3,4\n",
    )
    with pytest.raises(LabelsError, match="duplicate rows"):
        read_pose_csv(path)


def test_keypoint_without_y_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, "scorer,me,me\nbodyparts,nose,tail\ncoords,x,x\nimg0.png,1,2\n")
    with pytest.raises(LabelsError, match="keypoint 'nose' has no y column"):
        read_pose_csv(path)


def test_plain_csv_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "a,b\n1,2\n")
    with pytest.raises(LabelsError, match=r"bad\.csv"):
        read_pose_csv(path)


def test_make_pose_frame_checks_shape() -> None:
    with pytest.raises(ValueError, match="shape"):
        make_pose_frame(np.zeros((3, 2, 2)), ["a", "b", "c"])
