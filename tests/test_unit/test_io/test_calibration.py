"""Anipose calibration.toml: read, checked against the session's cameras, written back."""

from __future__ import annotations

import numpy as np
import pytest

from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.io.calibration import load_calibration, save_calibration

ANIPOSE = """\
[cam_0]
name = "A"
size = [ 1280, 1024,]
matrix = [ [ 1100.5, 0.0, 640.0,], [ 0.0, 1101.0, 512.0,], [ 0.0, 0.0, 1.0,],]
distortions = [ -0.21, 0.05, 0.0, 0.0, 0.0,]
rotation = [ 0.1, -0.2, 0.3,]
translation = [ 10.0, -20.0, 600.0,]

[cam_1]
name = "B"
size = [ 1280, 1024,]
matrix = [ [ 1000.0, 0.0, 640.0,], [ 0.0, 1000.0, 512.0,], [ 0.0, 0.0, 1.0,],]
distortions = [ -0.1, 0.0, 0.001, 0.0, 0.0,]
rotation = [ 1.2, 0.0, -0.4,]
translation = [ 0.0, 5.0, 580.0,]

[metadata]
adjusted = true
error = 0.42
"""


def test_reads_anipose_and_orders_cameras_as_the_session(tmp_path):
    path = tmp_path / "calibration.toml"
    path.write_text(ANIPOSE)
    cams = load_calibration(path, names=["B", "A"])
    assert [c.name for c in cams] == ["B", "A"]
    a = cams[1]
    assert a.size == (1280, 1024) and a.matrix[0, 0] == 1100.5
    np.testing.assert_array_equal(a.rotation, [0.1, -0.2, 0.3])
    np.testing.assert_array_equal(a.translation, [10.0, -20.0, 600.0])
    assert a.distortions.shape == (12,) and a.distortions[0] == -0.21
    # written and read back: the same cameras
    again = load_calibration(save_calibration(cams, tmp_path / "copy.toml"))
    for c1, c2 in zip(cams, again, strict=True):
        assert c1.name == c2.name and c1.size == c2.size
        for field in ("matrix", "distortions", "rotation", "translation"):
            np.testing.assert_array_equal(getattr(c1, field), getattr(c2, field))


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda t: t, ["['A', 'B']", "session's cameras are ['A', 'C']"]),
        (lambda t: t.split("[cam_1]")[0], ["1 camera(s)", "at least two"]),
        (lambda t: t.replace('name = "B"', 'name = "A"'), ["names a camera twice"]),
        (lambda t: t.replace("rotation = [ 1.2, 0.0, -0.4,]", ""), ["[cam_1] (B)", "rotation"]),
        (lambda t: t.replace("[ 0.1, -0.2, 0.3,]", "[ 0.1, -0.2,]"), ["rotation must be 3"]),
        (lambda t: t.replace('name = "B"', 'name = "B"\nfisheye = true'), ["fisheye"]),
        (lambda t: t.replace("size = [", "size = [[", 1), ["not a readable TOML"]),
    ],
)
def test_bad_calibrations_name_the_file_and_the_problem(tmp_path, edit, words):
    path = tmp_path / "calibration.toml"
    path.write_text(edit(ANIPOSE))
    with pytest.raises(ConfigError) as err:
        load_calibration(path, names=["A", "C"] if "session" in words[-1] else None)
    message = str(err.value)
    assert str(path) in message
    assert all(w in message for w in words), message


def test_missing_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_calibration(tmp_path / "nope.toml")
