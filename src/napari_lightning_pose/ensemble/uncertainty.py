"""Read uncertainty out of a smoothed table: per-keypoint error scale and the worst frames.

The QC view colours each keypoint by :func:`posterior_std` and offers the frames from
:func:`most_uncertain_frames` for relabelling. Both work on the EKS table (from
:func:`~napari_lightning_pose.ensemble.smooth.smooth_ensemble` or read back from a CSV), so
they need no Qt and no model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from napari_lightning_pose.errors import LabelsError


def _coord(frame: pd.DataFrame, coord: str) -> pd.DataFrame:
    """One coordinate column per keypoint (frames x keypoints)."""
    coords = frame.columns.get_level_values("coords")
    if coord not in set(coords):
        raise LabelsError(
            None,
            f"the table has no {coord!r} columns.",
            "Pass the output of smooth_ensemble (or a CSV written by `smooth`).",
        )
    sub = frame.loc[:, coords == coord]
    sub.columns = sub.columns.get_level_values("bodyparts")
    return sub


def posterior_std(frame: pd.DataFrame) -> pd.DataFrame:
    """Posterior standard deviation of each keypoint's position, in pixels.

    ``sqrt(x_posterior_var + y_posterior_var)``: the root-mean-square distance between the
    smoothed and the true position expected under the model.

    Parameters
    ----------
    frame : pandas.DataFrame
        EKS table with ``x_posterior_var`` and ``y_posterior_var`` columns.

    Returns
    -------
    pandas.DataFrame
        Shape (frames, keypoints), indexed like ``frame``, one column per keypoint.
    """
    return np.sqrt(_coord(frame, "x_posterior_var") + _coord(frame, "y_posterior_var"))


def ensemble_std(frame: pd.DataFrame) -> pd.DataFrame:
    """Ensemble spread of each keypoint, ``sqrt(x_ens_var + y_ens_var)`` (frames, keypoints)."""
    return np.sqrt(_coord(frame, "x_ens_var") + _coord(frame, "y_ens_var"))


def most_uncertain_frames(
    frame: pd.DataFrame,
    n: int = 20,
    keypoints: Sequence[str] | None = None,
    min_gap: int = 0,
) -> pd.DataFrame:
    """Frames ranked by their most uncertain keypoint, worst first.

    Parameters
    ----------
    frame : pandas.DataFrame
        EKS table.
    n : int
        How many frames to return (fewer if the video is shorter).
    keypoints : sequence of str, optional
        Only consider these keypoints (default all).
    min_gap : int
        Skip frames closer than this (in rows) to a frame already chosen, so the list
        spreads over the video instead of naming one bad stretch many times.

    Returns
    -------
    pandas.DataFrame
        Columns ``frame`` (the table's index label), ``keypoint`` (the worst one) and
        ``posterior_std`` (px), sorted by ``posterior_std`` descending.
    """
    std = posterior_std(frame)
    if keypoints is not None:
        unknown = [k for k in keypoints if k not in std.columns]
        if unknown:
            raise LabelsError(None, f"unknown keypoints {unknown}.")
        std = std.loc[:, list(keypoints)]
    values = std.to_numpy()
    finite = np.isfinite(values)
    worst = np.where(finite, values, -np.inf).max(axis=1)
    which = np.where(finite, values, -np.inf).argmax(axis=1)
    order = np.argsort(-worst, kind="stable")
    order = order[np.isfinite(worst[order])]
    chosen: list[int] = []
    for row in order:
        if len(chosen) >= n:
            break
        if min_gap and any(abs(int(row) - c) < min_gap for c in chosen):
            continue
        chosen.append(int(row))
    return pd.DataFrame(
        {
            "frame": std.index[chosen],
            "keypoint": std.columns[which[chosen]],
            "posterior_std": worst[chosen],
        }
    )


def to_movement_dataset(frame: pd.DataFrame, fps: float | None = None):
    """A ``movement`` poses dataset of the smoothed trajectories, with the variances attached.

    The position and confidence come from ``x, y, likelihood``; ``posterior_var`` and
    ``ensemble_var`` (dims ``time, space, keypoints, individuals``) and ``ensemble_median``
    are added as data variables. Needs the optional ``movement`` package.
    """
    import xarray as xr

    from napari_lightning_pose.errors import import_optional

    load_poses = import_optional("movement.io.load_poses", "A movement dataset")

    from napari_lightning_pose.ensemble.smooth import poses_only

    ds = load_poses.from_dlc_style_df(poses_only(frame), fps=fps, source_software="LightningPose")
    dims = ("time", "space", "keypoints", "individuals")
    for name, (cx, cy) in {
        "posterior_var": ("x_posterior_var", "y_posterior_var"),
        "ensemble_var": ("x_ens_var", "y_ens_var"),
        "ensemble_median": ("x_ens_median", "y_ens_median"),
    }.items():
        arr = np.stack([_coord(frame, cx).to_numpy(), _coord(frame, cy).to_numpy()], axis=1)
        ds[name] = xr.DataArray(arr[..., None], dims=dims, coords={d: ds.coords[d] for d in dims})
    return ds
