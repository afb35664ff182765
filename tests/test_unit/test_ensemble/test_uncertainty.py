"""Uncertainty read-outs for the QC view: error scale per keypoint, worst frames first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_lightning_pose.ensemble.smooth import EKS_COORDS
from napari_lightning_pose.ensemble.uncertainty import (
    ensemble_std,
    most_uncertain_frames,
    posterior_std,
)
from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io.pose_csv import make_pose_frame


@pytest.fixture
def table():
    """An EKS table of 50 frames (index 100..149) and keypoints a, b with known variances."""
    values = np.ones((50, 2, len(EKS_COORDS)))
    xvar, yvar = EKS_COORDS.index("x_posterior_var"), EKS_COORDS.index("y_posterior_var")
    values[:, :, xvar] = 1.0
    values[:, :, yvar] = 3.0  # std 2 px everywhere ...
    values[10, 1, xvar] = 61.0  # ... except b at row 10 (std 8), a at rows 11 and 30
    values[11, 0, yvar] = 35.0  # std 6
    values[30, 0, xvar] = 46.0  # std 7
    values[40, 1, :] = np.nan  # b not smoothed in row 40
    return make_pose_frame(values, ["a", "b"], EKS_COORDS, index=pd.RangeIndex(100, 150))


def test_posterior_std_is_the_rms_position_error(table):
    std = posterior_std(table)
    assert list(std.columns) == ["a", "b"] and list(std.index) == list(range(100, 150))
    assert std.loc[100, "a"] == pytest.approx(2.0)
    assert std.loc[110, "b"] == pytest.approx(8.0)
    assert np.isnan(std.loc[140, "b"])
    assert ensemble_std(table).loc[100, "a"] == pytest.approx(np.sqrt(2.0))


def test_worst_frames_first_with_their_worst_keypoint(table):
    ranked = most_uncertain_frames(table, n=3)
    assert ranked["frame"].tolist() == [110, 130, 111]
    assert ranked["keypoint"].tolist() == ["b", "a", "a"]
    np.testing.assert_allclose(ranked["posterior_std"], [8.0, 7.0, 6.0])


def test_min_gap_spreads_the_list(table):
    ranked = most_uncertain_frames(table, n=3, min_gap=5)
    assert ranked["frame"].tolist()[:2] == [110, 130]
    assert 111 not in ranked["frame"].tolist()


def test_only_chosen_keypoints(table):
    ranked = most_uncertain_frames(table, n=2, keypoints=["a"])
    assert ranked["frame"].tolist() == [130, 111]
    with pytest.raises(LabelsError, match="unknown keypoints"):
        most_uncertain_frames(table, keypoints=["tail"])


def test_more_requested_than_frames(table):
    assert len(most_uncertain_frames(table, n=500)) == 50


def test_table_without_variances_is_refused(table):
    plain = table.loc[:, table.columns.get_level_values("coords").isin(["x", "y"])]
    with pytest.raises(LabelsError, match="x_posterior_var"):
        posterior_std(plain)
