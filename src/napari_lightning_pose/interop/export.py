"""Smoothed trajectories to the analysis side: movement's dataset (netCDF) and NWB.

Input is a prediction table: the EKS output of ``smooth`` (x, y, likelihood and the
``x_posterior_var``/``y_posterior_var`` columns, see ``ensemble.smooth``) or a plain
``x, y, likelihood`` prediction CSV. The posterior variance travels with the positions:

- movement: a ``poses`` dataset (``position`` (time, space, keypoints, individuals),
  ``confidence``) plus the data variables ``position_variance`` (same dims as position) and,
  when present, ``ensemble_variance``; written with xarray's ``to_netcdf``.
- NWB: an ndx-pose ``PoseEstimation`` (one ``PoseEstimationSeries`` per keypoint, likelihood
  as confidence, the skeleton) in the ``behavior`` processing module, and the posterior
  variance as a ``TimeSeries`` ``PosteriorVariance`` of shape (time, keypoints, 2) beside it.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_lightning_pose.errors import LabelsError, import_optional
from napari_lightning_pose.io import pose_csv
from napari_lightning_pose.io.atomic import atomic_path

SPACE = ("x", "y")
VARIANCE_COORDS = ("x_posterior_var", "y_posterior_var")
ENSEMBLE_VARIANCE_COORDS = ("x_ens_var", "y_ens_var")


def read_trajectories(path: str | Path) -> pd.DataFrame:
    """Read a smoothed (or plain) prediction CSV indexed by frame number."""
    path = Path(path)
    df = pose_csv.read_pose_csv(path, required_coords=("x", "y", "likelihood"))
    try:
        df.index = df.index.astype(int)
    except (TypeError, ValueError) as err:
        raise LabelsError(
            path,
            "is not a prediction table: its rows must be frame numbers.",
            "Export a smoothed or predicted CSV (a labels CSV has image paths as rows).",
        ) from err
    return df


def _coords(df: pd.DataFrame, coords: Sequence[str]) -> np.ndarray | None:
    have = set(df.columns.get_level_values("coords"))
    if not set(coords) <= have:
        return None
    return pose_csv.coords_array(df, coords)  # (time, keypoints, len(coords))


def to_movement_dataset(
    df: pd.DataFrame, fps: float | None = None, individual: str = "individual_0"
) -> Any:
    """A movement ``poses`` dataset of one individual, with the variances as data variables."""
    load_poses = import_optional("movement.io.load_poses", "A movement dataset")

    names = pose_csv.keypoint_names(df)
    xy = _coords(df, SPACE)
    like = _coords(df, ("likelihood",))[..., 0]
    position = np.transpose(xy, (0, 2, 1))[..., None]  # (time, space, keypoints, 1)
    ds = load_poses.from_numpy(
        position,
        like[..., None],
        individual_names=[individual],
        keypoint_names=names,
        fps=fps,
        source_software="napari-lightning-pose",
    )
    for var, coords, what in (
        ("position_variance", VARIANCE_COORDS, "EKS posterior variance of position"),
        ("ensemble_variance", ENSEMBLE_VARIANCE_COORDS, "variance across ensemble members"),
    ):
        values = _coords(df, coords)
        if values is not None:
            ds[var] = (ds["position"].dims, np.transpose(values, (0, 2, 1))[..., None])
            ds[var].attrs.update(units="pixels^2", long_name=what)
    return ds


def export_movement(csv_path: str | Path, out: str | Path, fps: float | None = None) -> Path:
    """Write a prediction CSV as a movement dataset in netCDF (``.nc``), atomically."""
    ds = to_movement_dataset(read_trajectories(csv_path), fps)
    ds.attrs = {k: v for k, v in ds.attrs.items() if v is not None}  # netCDF has no None
    ds.attrs["source_file"] = str(Path(csv_path).resolve())
    out = Path(out)
    import_optional("h5netcdf", "Writing a movement netCDF file")
    with atomic_path(out) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    return out


def export_nwb(
    csv_path: str | Path,
    out: str | Path,
    fps: float,
    skeleton: Sequence[Sequence[str]] = (),
    session_description: str = "pose estimation with napari-lightning-pose",
    original_video: str | None = None,
) -> Path:
    """Write a prediction CSV to an NWB file through ndx-pose (with posterior variance).

    Parameters
    ----------
    csv_path
        Smoothed (or plain) prediction CSV.
    out
        The ``.nwb`` file to write (atomically).
    fps
        Frame rate of the video: NWB series need timing.
    skeleton
        Pairs of keypoint names (the project's ``data.skeleton``).
    session_description, original_video
        Recorded in the file.
    """
    import_optional("pynwb", "NWB export")
    import_optional("ndx_pose", "NWB export")
    from ndx_pose import PoseEstimation, PoseEstimationSeries, Skeleton, Skeletons
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    df = read_trajectories(csv_path)
    names = pose_csv.keypoint_names(df)
    xy = _coords(df, SPACE)
    like = _coords(df, ("likelihood",))[..., 0]
    nwb = NWBFile(
        session_description=session_description,
        identifier=str(uuid.uuid4()),
        session_start_time=datetime.datetime.now(datetime.timezone.utc),
    )
    index = {n: i for i, n in enumerate(names)}
    edges = np.array([[index[a], index[b]] for a, b in skeleton], dtype="uint8").reshape(-1, 2)
    skel = Skeleton(name="skeleton", nodes=names, edges=edges)
    series = [
        PoseEstimationSeries(
            name=name,
            description=f"{name} position (pixels, image coordinates)",
            data=xy[:, k],
            unit="pixels",
            reference_frame="(0, 0) is the centre of the top-left pixel",
            rate=float(fps),
            confidence=like[:, k],
            confidence_definition="likelihood: the heatmap's peak value (EKS: ensemble's)",
        )
        for k, name in enumerate(names)
    ]
    pose = PoseEstimation(
        name="PoseEstimation",
        pose_estimation_series=series,
        description="Lightning Pose model predictions, smoothed by EKS when variances exist",
        original_videos=[original_video] if original_video else None,
        scorer=pose_csv.scorer_name(df),
        source_software="napari-lightning-pose",
        skeleton=skel,
    )
    behavior = nwb.create_processing_module("behavior", "pose estimation")
    behavior.add(Skeletons(skeletons=[skel]))
    behavior.add(pose)
    variance = _coords(df, VARIANCE_COORDS)
    if variance is not None:
        behavior.add(
            TimeSeries(
                name="PosteriorVariance",
                data=variance,
                unit="pixels^2",
                rate=float(fps),
                description="EKS posterior variance of x and y, shape (time, keypoints, 2); "
                f"keypoints in this order: {', '.join(names)}",
            )
        )
    out = Path(out)
    with atomic_path(out) as tmp, NWBHDF5IO(str(tmp), "w") as io:
        io.write(nwb)
    return out
