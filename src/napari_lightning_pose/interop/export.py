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

A 3-D table (``smooth --cameras ... --calibration``'s ``3d.eks.csv``: ``x, y, z`` and their
posterior variances, in the calibration's world units, no likelihood) exports the same way
with ``space = x, y, z`` (movement; confidence NaN) and (x, y, z) series (NWB). Several
tables go into one NWB file side by side (each camera's and the 3-D one), each as its own
``PoseEstimation_<name>`` with its ``PosteriorVariance_<name>``, named by the file name up to
its first dot (``top.eks.csv``: ``top``).
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
SPACE_3D = ("x", "y", "z")
VARIANCE_COORDS_3D = ("x_posterior_var", "y_posterior_var", "z_posterior_var")


def is_3d(df: pd.DataFrame) -> bool:
    """Whether a trajectory table is 3-D (has ``z`` columns)."""
    return "z" in set(df.columns.get_level_values("coords"))


def _space(df: pd.DataFrame) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """Spatial coordinates, their variance columns and the unit of a table."""
    if is_3d(df):
        return SPACE_3D, VARIANCE_COORDS_3D, "calibration units"
    return SPACE, VARIANCE_COORDS, "pixels"


def read_trajectories(path: str | Path) -> pd.DataFrame:
    """Read a smoothed (or plain) prediction CSV, or a 3-D table, indexed by frame number."""
    path = Path(path)
    df = pose_csv.read_pose_csv(path, required_coords=("x", "y"))
    if not is_3d(df):
        pose_csv.require_coords(df, ("x", "y", "likelihood"), path)
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
    """A movement ``poses`` dataset of one individual, with the variances as data variables.

    2-D (``space = x, y``, pixels) or, for a 3-D table, ``space = x, y, z`` in the
    calibration's units, with NaN confidence (the 3-D smoother reports variances instead).
    """
    load_poses = import_optional("movement.io.load_poses", "A movement dataset")

    names = pose_csv.keypoint_names(df)
    space, variance_coords, unit = _space(df)
    position = np.transpose(_coords(df, space), (0, 2, 1))[..., None]  # (time, space, kp, 1)
    like = _coords(df, ("likelihood",))
    confidence = None if like is None else like[..., 0][..., None]
    ds = load_poses.from_numpy(
        position,
        confidence,
        individual_names=[individual],
        keypoint_names=names,
        fps=fps,
        source_software="napari-lightning-pose",
    )
    for var, coords, what in (
        ("position_variance", variance_coords, "EKS posterior variance of position"),
        ("ensemble_variance", ENSEMBLE_VARIANCE_COORDS, "variance across ensemble members"),
    ):
        values = _coords(df, coords)
        if values is not None:
            ds[var] = (ds["position"].dims, np.transpose(values, (0, 2, 1))[..., None])
            ds[var].attrs.update(units=f"{unit}^2", long_name=what)
    ds["position"].attrs.update(units=unit)
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


def _pose_estimation(
    df: pd.DataFrame, name: str, fps: float, skeleton: Any, original_video: str | None
) -> tuple[Any, Any | None]:
    """One table as an ndx-pose ``PoseEstimation`` and its variance ``TimeSeries`` (or None)."""
    from ndx_pose import PoseEstimation, PoseEstimationSeries
    from pynwb import TimeSeries

    names = pose_csv.keypoint_names(df)
    space, variance_coords, unit = _space(df)
    values = _coords(df, space)
    like = _coords(df, ("likelihood",))
    frame = (
        "the calibration's world origin and axes (calibration.toml)"
        if len(space) == 3
        else "(0, 0) is the centre of the top-left pixel"
    )
    suffix = f"_{name}" if name else ""
    series = [
        PoseEstimationSeries(
            name=kp,
            description=f"{kp} position ({unit}, {'world' if len(space) == 3 else 'image'} "
            "coordinates)",
            data=values[:, k],
            unit=unit,
            reference_frame=frame,
            rate=float(fps),
            confidence=None if like is None else like[:, k, 0],
            confidence_definition=None
            if like is None
            else "likelihood: the heatmap's peak value (EKS: ensemble's)",
        )
        for k, kp in enumerate(names)
    ]
    pose = PoseEstimation(
        name=f"PoseEstimation{suffix}",
        pose_estimation_series=series,
        description=(
            "3-D EKS of several calibrated cameras"
            if len(space) == 3
            else "Lightning Pose model predictions, smoothed by EKS when variances exist"
        ),
        original_videos=[original_video] if original_video else None,
        scorer=pose_csv.scorer_name(df),
        source_software="napari-lightning-pose",
        skeleton=skeleton,
    )
    variance = _coords(df, variance_coords)
    if variance is None:
        return pose, None
    return pose, TimeSeries(
        name=f"PosteriorVariance{suffix}",
        data=variance,
        unit=f"{unit}^2",
        rate=float(fps),
        description=f"EKS posterior variance of {', '.join(space)}, shape (time, keypoints, "
        f"{len(space)}); keypoints in this order: {', '.join(names)}",
    )


def table_name(path: str | Path) -> str:
    """What a table is called inside an NWB file: its file name up to the first dot."""
    return Path(path).name.split(".", 1)[0]


def export_nwb(
    csv_path: str | Path | Sequence[str | Path],
    out: str | Path,
    fps: float,
    skeleton: Sequence[Sequence[str]] = (),
    session_description: str = "pose estimation with napari-lightning-pose",
    original_video: str | None = None,
) -> Path:
    """Write prediction CSVs to an NWB file through ndx-pose (with posterior variance).

    Parameters
    ----------
    csv_path
        Smoothed (or plain) prediction CSV, or several (each camera's and the 3-D table of a
        multi-camera session); several tables must share their keypoints.
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
    from ndx_pose import Skeleton, Skeletons
    from pynwb import NWBHDF5IO, NWBFile

    paths = [csv_path] if isinstance(csv_path, str | Path) else list(csv_path)
    tables = [read_trajectories(p) for p in paths]
    names = pose_csv.keypoint_names(tables[0])
    for path, df in zip(paths[1:], tables[1:], strict=True):
        if pose_csv.keypoint_names(df) != names:
            raise LabelsError(
                path,
                f"has keypoints {pose_csv.keypoint_names(df)}, but {paths[0]} has {names}.",
                "Export the tables of one session (the same keypoints, in the same order).",
            )
    labels = [table_name(p) for p in paths] if len(paths) > 1 else [""]
    if len(set(labels)) != len(labels):
        raise LabelsError(
            None, f"the tables' names {labels} are not distinct.", "Rename the files."
        )
    nwb = NWBFile(
        session_description=session_description,
        identifier=str(uuid.uuid4()),
        session_start_time=datetime.datetime.now(datetime.timezone.utc),
    )
    index = {n: i for i, n in enumerate(names)}
    edges = np.array([[index[a], index[b]] for a, b in skeleton], dtype="uint8").reshape(-1, 2)
    skel = Skeleton(name="skeleton", nodes=names, edges=edges)
    behavior = nwb.create_processing_module("behavior", "pose estimation")
    behavior.add(Skeletons(skeletons=[skel]))
    for label, df in zip(labels, tables, strict=True):
        pose, variance = _pose_estimation(df, label, fps, skel, original_video)
        behavior.add(pose)
        if variance is not None:
            behavior.add(variance)
    out = Path(out)
    with atomic_path(out) as tmp, NWBHDF5IO(str(tmp), "w") as io:
        io.write(nwb)
    return out
