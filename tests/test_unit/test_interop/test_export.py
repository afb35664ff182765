"""Smoothed trajectories with posterior variance load back in movement/xarray and pynwb."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from napari_lightning_pose.cli import main
from napari_lightning_pose.ensemble.smooth import EKS_COORDS
from napari_lightning_pose.io import pose_csv
from napari_lightning_pose.io.pose_csv import make_pose_frame, write_pose_csv

NAMES = ["nose", "tail"]


@pytest.fixture
def smoothed_csv(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """An EKS output table (``smooth``'s columns) with known values; frame 3's nose is NaN."""
    rng = np.random.default_rng(0)
    values = rng.uniform(1, 50, size=(20, len(NAMES), len(EKS_COORDS)))
    values[3, 0] = np.nan
    df = make_pose_frame(values, NAMES, EKS_COORDS, scorer="ensemble-kalman_tracker")
    return write_pose_csv(df, tmp_path / "smoothed.csv"), values


def test_movement_netcdf_round_trip(smoothed_csv, tmp_path: Path) -> None:
    from movement.kinematics import compute_velocity

    csv, values = smoothed_csv
    out = tmp_path / "poses.nc"
    assert main(["export", "movement", str(csv), "--out", str(out), "--fps", "30"]) == 0
    ds = xr.open_dataset(out)
    assert ds.attrs["ds_type"] == "poses" and ds.attrs["fps"] == 30
    assert list(ds.keypoints.values) == NAMES
    assert ds["position_variance"].dims == ds["position"].dims
    k = EKS_COORDS.index
    pos = ds["position"].sel(individuals="individual_0").transpose("time", "keypoints", "space")
    np.testing.assert_allclose(pos.values, values[..., [k("x"), k("y")]])
    var = ds["position_variance"].sel(individuals="individual_0")
    var = var.transpose("time", "keypoints", "space").values
    np.testing.assert_allclose(var, values[..., [k("x_posterior_var"), k("y_posterior_var")]])
    ens = ds["ensemble_variance"].sel(individuals="individual_0", space="x").values
    np.testing.assert_allclose(ens, values[..., k("x_ens_var")])
    conf = ds["confidence"].sel(individuals="individual_0").values
    np.testing.assert_allclose(conf, values[..., k("likelihood")])
    np.testing.assert_allclose(ds.time.values, np.arange(20) / 30)
    velocity = compute_velocity(ds["position"])  # movement works on it as on its own data
    assert velocity.shape == ds["position"].shape


def test_nwb_round_trip(smoothed_csv, tmp_path: Path) -> None:
    from pynwb import NWBHDF5IO

    csv, values = smoothed_csv
    out = tmp_path / "poses.nwb"
    args = ["export", "nwb", str(csv), "--out", str(out), "--fps", "25"]
    assert main(args) == 0
    with NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        behavior = nwb.processing["behavior"]
        pose = behavior["PoseEstimation"]
        assert sorted(pose.pose_estimation_series) == sorted(NAMES)
        k = EKS_COORDS.index
        for i, name in enumerate(NAMES):
            series = pose.pose_estimation_series[name]
            np.testing.assert_allclose(series.data[:], values[:, i, [k("x"), k("y")]])
            np.testing.assert_allclose(series.confidence[:], values[:, i, k("likelihood")])
            assert series.rate == 25
        variance = behavior["PosteriorVariance"].data[:]
        assert variance.shape == (20, len(NAMES), 2)
        np.testing.assert_allclose(
            variance, values[..., [k("x_posterior_var"), k("y_posterior_var")]]
        )
        assert list(pose.skeleton.nodes[:]) == NAMES


def test_nwb_records_the_project_skeleton(tmp_path: Path, sample_copy: Path) -> None:
    from pynwb import NWBHDF5IO

    from napari_lightning_pose.labeling.project import Project

    project = Project.open(sample_copy)
    names = project.keypoint_names
    values = np.ones((5, len(names), 3))
    csv = write_pose_csv(
        make_pose_frame(values, names, ("x", "y", "likelihood")), tmp_path / "p.csv"
    )
    out = tmp_path / "p.nwb"
    video = project.video_paths()[0]
    args = ["export", "nwb", str(csv), "--out", str(out), "--config", str(sample_copy)]
    assert main([*args, "--video", str(video)]) == 0
    with NWBHDF5IO(str(out), "r") as io:
        pose = io.read().processing["behavior"]["PoseEstimation"]
        edges = pose.skeleton.edges[:]
        assert [(names[a], names[b]) for a, b in edges] == project.skeleton
        assert pose.pose_estimation_series[names[0]].rate == pytest.approx(250, rel=1e-3)
        assert "PosteriorVariance" not in io.read().processing["behavior"].data_interfaces


def test_nwb_without_a_frame_rate_says_so(smoothed_csv, tmp_path: Path, capsys) -> None:
    csv, _ = smoothed_csv
    assert main(["export", "nwb", str(csv), "--out", str(tmp_path / "x.nwb")]) == 2
    assert "Pass --fps or --video" in capsys.readouterr().err


def test_labels_csv_is_not_a_trajectory(bundled_sample: Path, tmp_path: Path, capsys) -> None:
    labels = bundled_sample / "CollectedData.csv"
    assert main(["export", "movement", str(labels), "--out", str(tmp_path / "x.nc")]) == 2
    assert "likelihood" in capsys.readouterr().err
    assert pose_csv.keypoint_names(pose_csv.read_pose_csv(labels))  # still a fine labels file
