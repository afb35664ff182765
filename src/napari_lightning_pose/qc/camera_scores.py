"""Outlier scores of a multi-camera result: each frame judged by its worst camera and, with a
calibration, by how badly the cameras agree in 3-D (reprojection error).

Each camera's smoothed table is scored on its own, exactly as one video is
(:func:`.scores.outlier_scores`: posterior SD, ensemble spread, jumps, EKS residual, each a
bounded part of ``combined``). A frame's keypoint then takes, score by score, the worst
camera's value, and its ``combined`` is the worst camera's; ``OutlierScores.views`` names
that camera, so the queue says where to look.

``reprojection_error``: the cameras' ensemble medians of a keypoint are triangulated (linear
least squares on undistorted points, :func:`..ensemble.projection.triangulate`) and the 3-D
point projected back into every camera; the score is the largest distance, in px, between a
camera's median and that projection. It is large where one camera's prediction cannot be the
same 3-D point as the others' (a swapped or misplaced keypoint in one view) even when that
camera's ensemble agrees with itself. It enters ``combined`` as one more bounded part
(:func:`.scores.contribution`): ``sqrt(worst_camera ** 2 + part ** 2)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io.calibration import Camera
from napari_lightning_pose.qc.scores import OutlierScores, contribution, scores_from_files

REPROJECTION = "reprojection_error"


def reprojection_error(
    cameras: Sequence[Camera], pixels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Largest reprojection error over cameras (T, K) in px, and which camera has it (T, K).

    ``pixels`` (V, T, K, 2) are each camera's points (NaN: not seen). NaN where fewer than
    two cameras saw the keypoint; the camera index is -1 there.
    """
    from napari_lightning_pose.ensemble.projection import project, triangulate

    pixels = np.asarray(pixels, dtype=float)
    if len(cameras) != len(pixels) or len(cameras) < 2:
        raise ValueError(f"{len(cameras)} calibrated cameras for {len(pixels)} views.")
    points = triangulate(cameras, pixels)
    errors = np.stack(
        [
            np.linalg.norm(project(cam, points) - pixels[v], axis=-1)
            for v, cam in enumerate(cameras)
        ]
    )  # NaN where the camera or the triangulation is missing
    seen = np.isfinite(errors)
    filled = np.where(seen, errors, -np.inf)
    which = np.where(seen.any(axis=0), filled.argmax(axis=0), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # keypoints seen by no camera
        worst = np.nanmax(errors, axis=0)
    return worst, which


def _aligned(table: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    return table.reindex(index=like.index, columns=like.columns)


def _worst(tables: Sequence[pd.DataFrame]) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise largest value over tables (NaN-skipping) and the index of its table."""
    stack = np.stack([t.to_numpy(dtype=float) for t in tables])
    filled = np.where(np.isfinite(stack), stack, -np.inf)
    best = filled.max(axis=0)
    return np.where(np.isfinite(best), best, np.nan), filled.argmax(axis=0)


def combine_cameras(
    per_camera: Mapping[str, OutlierScores],
    reprojection: pd.DataFrame | None = None,
    reprojection_views: pd.DataFrame | None = None,
) -> OutlierScores:
    """One set of scores for a multi-camera result: each score and ``combined`` the worst
    camera's; ``reprojection`` (frames, keypoints; px), when given, added as one more score
    (``reprojection_views``: the camera furthest off, named where that part weighs most).

    Raises
    ------
    LabelsError
        Cameras whose tables have different keypoints.
    """
    cams = list(per_camera)
    first = per_camera[cams[0]]
    for cam in cams[1:]:
        if set(per_camera[cam].keypoints) != set(first.keypoints):
            raise LabelsError(
                None,
                f"camera {cam!r} has keypoints {per_camera[cam].keypoints}, camera "
                f"{cams[0]!r} {first.keypoints}.",
                "Smooth the cameras together (`smooth --cameras`).",
            )
    like = first.combined
    scores: dict[str, pd.DataFrame] = {}
    parts: dict[str, pd.DataFrame] = {}
    for name in first.scores:
        if all(name in s.scores for s in per_camera.values()):
            value, _ = _worst([_aligned(s.scores[name], like) for s in per_camera.values()])
            part, _ = _worst([_aligned(s.contributions[name], like) for s in per_camera.values()])
            scores[name] = pd.DataFrame(value, index=like.index, columns=like.columns)
            parts[name] = pd.DataFrame(part, index=like.index, columns=like.columns)
    combined, which = _worst([_aligned(s.combined, like) for s in per_camera.values()])
    views = np.asarray(cams, dtype=object)[which]
    notes = list(dict.fromkeys(n for s in per_camera.values() for n in s.notes))
    notes.insert(0, f"each frame judged by its worst of {len(cams)} cameras.")
    if reprojection is not None:
        repro = _aligned(reprojection, like).astype(float)
        part = contribution(repro)
        scores[REPROJECTION], parts[REPROJECTION] = repro, part
        extra = part.to_numpy()
        if reprojection_views is not None:
            off = _aligned(reprojection_views, like).to_numpy()
            views = np.where(np.nan_to_num(extra) > np.nan_to_num(combined), off, views)
        both = np.sqrt(np.nan_to_num(combined) ** 2 + np.nan_to_num(extra) ** 2)
        both[np.isnan(combined) & np.isnan(extra)] = np.nan
        combined = both
    else:
        notes.append("no calibration found: no reprojection error.")
    return OutlierScores(
        scores,
        pd.DataFrame(combined, index=like.index, columns=like.columns),
        notes,
        parts,
        views=pd.DataFrame(views, index=like.index, columns=like.columns),
    )


def _medians(table: pd.DataFrame, keypoints: Sequence[str]) -> np.ndarray:
    """(T, K, 2) ensemble medians of a smoothed table (its x, y without them)."""
    from napari_lightning_pose.io.pose_csv import coords_array

    coords = set(table.columns.get_level_values("coords"))
    names = ("x_ens_median", "y_ens_median") if "x_ens_median" in coords else ("x", "y")
    values = coords_array(table, names)
    order = [
        list(dict.fromkeys(table.columns.get_level_values("bodyparts"))).index(k)
        for k in keypoints
    ]
    return values[:, order]


def camera_scores_from_files(
    smoothed_csvs: Mapping[str, str | Path],
    member_csvs: Mapping[str, Sequence[str | Path]] | None = None,
    calibration: str | Path | None = None,
) -> OutlierScores:
    """:func:`combine_cameras` of each camera's :func:`.scores.scores_from_files`, with the
    reprojection error when the rig's ``calibration.toml`` is given (cameras by name)."""
    from napari_lightning_pose.io.calibration import load_calibration
    from napari_lightning_pose.io.pose_csv import read_pose_csv

    members = member_csvs or {}
    per = {c: scores_from_files(csv, members.get(c, ())) for c, csv in smoothed_csvs.items()}
    if calibration is not None:
        cams = list(smoothed_csvs)
        rig = load_calibration(calibration, names=cams)
        keypoints = next(iter(per.values())).keypoints
        tables = [read_pose_csv(smoothed_csvs[c], required_coords=("x", "y")) for c in cams]
        worst, which = reprojection_error(rig, np.stack([_medians(t, keypoints) for t in tables]))
        reprojection = pd.DataFrame(worst, index=tables[0].index, columns=keypoints)
        names = np.asarray([*cams, ""], dtype=object)[which]  # -1 (unseen): no camera
        return combine_cameras(
            per, reprojection, pd.DataFrame(names, index=reprojection.index, columns=keypoints)
        )
    return combine_cameras(per)
