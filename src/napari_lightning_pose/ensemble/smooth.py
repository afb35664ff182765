"""Fuse an ensemble's predictions of one video into smooth trajectories with uncertainty.

:func:`smooth_ensemble` is what the command line (``napari-lightning-pose smooth``) and the
QC widget call. Its output table has the reference ``ensemble-kalman-smoother`` package's
layout, so scripts written for that package keep working: three header rows, index = frame,
and per keypoint the columns ``x, y, likelihood, x_ens_median, y_ens_median, x_ens_var,
y_ens_var, x_posterior_var, y_posterior_var``.

Keypoints named in ``views`` are smoothed jointly across views (:mod:`.multiview`), all
others on their own (:mod:`.singleview`). A keypoint that no member ever predicted cannot be
smoothed: its columns are NaN, it is listed in ``SmoothResult.unsmoothed`` and a warning is
issued.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from napari_lightning_pose.ensemble.members import EnsembleMembers, Member, load_members
from napari_lightning_pose.ensemble.multiview import smooth_multiview
from napari_lightning_pose.ensemble.singleview import SmoothedKeypoints, smooth_singleview
from napari_lightning_pose.ensemble.stats import Center, EnsembleStats, ensemble_stats
from napari_lightning_pose.ensemble.tuning import SmoothingFit
from napari_lightning_pose.errors import ConfigError, LightningPoseInputError
from napari_lightning_pose.io.pose_csv import HEADER_NAMES, write_pose_csv

#: Columns per keypoint, in the reference package's order.
EKS_COORDS = (
    "x",
    "y",
    "likelihood",
    "x_ens_median",
    "y_ens_median",
    "x_ens_var",
    "y_ens_var",
    "x_posterior_var",
    "y_posterior_var",
)
#: Scorer name in the header (the reference package's, for scripts that index by it).
EKS_SCORER = "ensemble-kalman_tracker"

Smoothing = str | float | Mapping[str, float]


@dataclass(frozen=True)
class SmoothResult:
    """Smoothed trajectories of every keypoint and how they were obtained.

    Attributes
    ----------
    frame : pandas.DataFrame
        The output table (see module docstring); write it with :func:`write_smoothed_csv`.
    smoothing : dict of str to float
        Smoothing parameter used per keypoint (NaN for keypoints that were not smoothed).
    views : list of list of str or None
        The multi-view groups, ``views[v][g]`` = name of group ``g`` in view ``v``.
    unsmoothed : list of str
        Keypoints with no prediction in any frame (their columns are NaN).
    sources : list of str
        The members, in input order.
    fits : dict of str to SmoothingFit
        Likelihood search per keypoint when the smoothing parameter was chosen automatically.
    """

    frame: pd.DataFrame
    smoothing: dict[str, float]
    views: list[list[str]] | None
    unsmoothed: list[str]
    sources: list[str]
    fits: dict[str, SmoothingFit] = field(default_factory=dict)

    @property
    def keypoints(self) -> list[str]:
        """Keypoint names in column order."""
        return list(dict.fromkeys(self.frame.columns.get_level_values("bodyparts")))


def parse_views(
    views: Sequence[Sequence[int | str]], keypoints: Sequence[str], path: str | Path | None = None
) -> list[list[int]]:
    """Check multi-view groups and turn keypoint names into column indices.

    Parameters
    ----------
    views : sequence of V sequences
        ``views[v][g]``: keypoint ``g`` as seen in view ``v``, by index or by name (like
        Lightning Pose's ``mirrored_column_matches``).
    keypoints : sequence of str
        The ensemble's keypoint names.
    path : path, optional
        The config the views came from, named in errors.

    Raises
    ------
    ConfigError
        Fewer than two views, views of different lengths, unknown names, indices out of
        range, or a keypoint used twice.
    """
    if len(views) < 2:
        raise ConfigError(path, "multi-view smoothing needs at least two views.")
    if len({len(v) for v in views}) != 1 or len(views[0]) == 0:
        raise ConfigError(
            path,
            f"views must list the same number of keypoints each, got {[len(v) for v in views]}.",
        )
    out: list[list[int]] = []
    for view in views:
        idx = []
        for item in view:
            if isinstance(item, str) and not item.isdigit():
                if item not in keypoints:
                    raise ConfigError(
                        path, f"view keypoint {item!r} is not in the predictions {keypoints}."
                    )
                idx.append(list(keypoints).index(item))
            else:
                i = int(item)
                if not 0 <= i < len(keypoints):
                    raise ConfigError(
                        path, f"view index {i} is out of range for {len(keypoints)} keypoints."
                    )
                idx.append(i)
        out.append(idx)
    flat = [i for view in out for i in view]
    if len(set(flat)) != len(flat):
        raise ConfigError(path, "a keypoint appears more than once in the views.")
    return out


def _per_keypoint(smoothing: Smoothing, names: Sequence[str]) -> str | np.ndarray:
    """``"auto"`` or an array of positive values, one per name."""
    if isinstance(smoothing, str):
        if smoothing != "auto":
            raise LightningPoseInputError(
                None, f"smoothing must be 'auto' or a positive number, got {smoothing!r}."
            )
        return "auto"
    if isinstance(smoothing, Mapping):
        missing = [n for n in names if n not in smoothing]
        if missing:
            raise LightningPoseInputError(None, f"no smoothing value for keypoints {missing}.")
        values = np.array([float(smoothing[n]) for n in names])
    else:
        values = np.full(len(names), float(smoothing))
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise LightningPoseInputError(
            None, f"smoothing values must be positive numbers, got {values.tolist()}."
        )
    return values


def smooth_ensemble(
    members: Sequence[Member] | EnsembleMembers,
    smoothing: Smoothing = "auto",
    views: Sequence[Sequence[int | str]] | None = None,
    center: Center = "median",
    confidence_weighted: bool = True,
) -> SmoothResult:
    """Run the Ensemble Kalman Smoother on several models' predictions of one video.

    Parameters
    ----------
    members : sequence of path or DataFrame, or EnsembleMembers
        Prediction CSVs (x, y, likelihood per keypoint) of the same video, one per model.
    smoothing : "auto", float or mapping of keypoint name to float
        ``"auto"`` chooses ``s`` per keypoint (per group in multi-view) by maximum marginal
        likelihood; otherwise the given ``s`` (smaller = smoother, px^2 per frame).
    views : sequence of V sequences of keypoint indices or names, optional
        Multi-view groups (e.g. ``mirrored_column_matches``); keypoints not listed are
        smoothed on their own. In multi-view mode a group's ``s`` is that of its first view's
        keypoint when a mapping is given.
    center : {"median", "mean"}
        Ensemble average the smoother observes (written to ``x_ens_median``).
    confidence_weighted : bool
        Divide the ensemble variance by the mean confidence (the reference's default).

    Returns
    -------
    SmoothResult

    Raises
    ------
    LabelsError
        Members that do not describe the same video and keypoints, or unreadable files.
    ConfigError
        Invalid ``views``.
    LightningPoseInputError
        Invalid ``smoothing``.
    """
    ens = members if isinstance(members, EnsembleMembers) else load_members(members)
    groups = parse_views(views, ens.keypoints) if views is not None else []
    stats = ensemble_stats(ens.xy, ens.likelihood, center, confidence_weighted)
    return smooth_stats(ens, stats, smoothing, groups)


def smooth_stats(
    ens: EnsembleMembers,
    stats: EnsembleStats,
    smoothing: Smoothing = "auto",
    groups: Sequence[Sequence[int]] = (),
    cache: dict | None = None,
) -> SmoothResult:
    """The smoothing step of :func:`smooth_ensemble`, on ensemble statistics computed once.

    What a live smoothing slider calls (:mod:`.steer`): ``stats`` may carry corrections
    (observations with a tiny variance) in place of the ensemble's.

    Parameters
    ----------
    ens : EnsembleMembers
        The members (keypoint names, frame index, sources).
    stats : EnsembleStats
        Their statistics (``ensemble_stats``), possibly edited.
    smoothing : "auto", float or mapping of keypoint name to float
        As in :func:`smooth_ensemble`.
    groups : sequence of V sequences of keypoint indices
        Multi-view groups, already checked (:func:`parse_views`); empty for single-view.
    cache : dict, optional
        Kept between calls on the same ensemble: the table's columns that do not depend on
        the smoothing (likelihood, ensemble median and variance) are built once, from the
        ``stats`` of the first call, and copied afterwards.
    """
    names = ens.keypoints
    per_keypoint = _per_keypoint(smoothing, names)
    groups = [list(g) for g in groups]

    never_seen = [k for k in range(len(names)) if stats.n_valid[:, k].sum() == 0]
    if never_seen:
        warnings.warn(
            f"keypoints {[names[k] for k in never_seen]} have no prediction in any frame of "
            f"any member; their smoothed columns are NaN.",
            stacklevel=2,
        )
    groups = _usable_views(groups, stats.n_valid, names)

    parts: list[SmoothedKeypoints] = []
    in_views = {k for view in groups for k in view}
    if groups:
        s_views = per_keypoint if isinstance(per_keypoint, str) else per_keypoint[groups[0]]
        parts.append(smooth_multiview(stats, groups, s_views))
    single = [k for k in range(len(names)) if k not in in_views and k not in never_seen]
    s_single = per_keypoint if isinstance(per_keypoint, str) else per_keypoint[single]
    parts.append(smooth_singleview(stats, s_single, single))

    frame, used, fits = _assemble(ens, stats, parts, cache)
    return SmoothResult(
        frame=frame,
        smoothing=used,
        views=[[names[k] for k in view] for view in groups] or None,
        unsmoothed=[names[k] for k in never_seen],
        sources=list(ens.sources),
        fits=fits,
    )


def _usable_views(
    groups: list[list[int]], n_valid: np.ndarray, names: Sequence[str]
) -> list[list[int]]:
    """Drop groups never predicted in all their views at once; those go single-view.

    ``n_valid`` (T, K) counts the members that predicted each keypoint in each frame.
    """
    if not groups:
        return groups
    n_groups = len(groups[0])
    seen_together = [
        bool(np.all([n_valid[:, view[g]] > 0 for view in groups], axis=0).any())
        for g in range(n_groups)
    ]
    keep = [g for g in range(n_groups) if seen_together[g]]
    if len(keep) < n_groups:
        dropped = [[names[view[g]] for view in groups] for g in range(n_groups) if g not in keep]
        warnings.warn(
            f"multi-view groups {dropped} have no frame where all views are predicted; "
            "their keypoints are smoothed one view at a time.",
            stacklevel=3,
        )
    return [[view[g] for g in keep] for view in groups] if keep else []


def _assemble(
    ens: EnsembleMembers,
    stats: EnsembleStats,
    parts: Sequence[SmoothedKeypoints],
    cache: dict | None = None,
) -> tuple[pd.DataFrame, dict[str, float], dict[str, SmoothingFit]]:
    """Scatter the smoothed parts into the output table, in the members' keypoint order."""
    n_frames, n_kp = stats.center.shape[:2]
    if cache is not None and "values" in cache:
        values = cache["values"].copy()
    else:
        # (K, EKS_COORDS, T): frames last, so every output column is one contiguous row
        values = np.empty((n_kp, len(EKS_COORDS), n_frames))
        values[:, 2] = stats.likelihood.T
        values[:, 3:5] = stats.center.transpose(1, 2, 0)
        values[:, 5:7] = stats.variance.transpose(1, 2, 0)
        values[:, [0, 1, 7, 8]] = np.nan  # stays so for keypoints that are not smoothed
        if cache is not None:
            cache["values"] = values.copy()
    used = np.full(n_kp, np.nan)
    fits: dict[str, SmoothingFit] = {}
    for part in parts:
        values[part.keypoints, 0:2] = part.xy.transpose(1, 2, 0)
        values[part.keypoints, 7:9] = part.posterior_var.transpose(1, 2, 0)
        used[part.keypoints] = part.smoothing
        if part.fits:
            per_fit = len(part.keypoints) // len(part.fits)
            for i, k in enumerate(part.keypoints):
                fits[ens.keypoints[k]] = part.fits[i // per_fit]
    # the pose-CSV header (as make_pose_frame builds it), without copying 9 x K x T values:
    # pandas keeps the transposed (columns, frames) array as its one block
    columns = (cache or {}).get("columns")
    if columns is None:
        columns = pd.MultiIndex.from_product(
            [[EKS_SCORER], ens.keypoints, EKS_COORDS], names=HEADER_NAMES
        )
        if cache is not None:
            cache["columns"] = columns
    frame = pd.DataFrame(
        values.reshape(-1, n_frames).T, index=ens.index, columns=columns, copy=False
    )
    return frame, dict(zip(ens.keypoints, used.tolist(), strict=True)), fits


def write_smoothed_csv(result: SmoothResult | pd.DataFrame, path: str | Path) -> Path:
    """Write the smoothed table as a pose CSV (atomically; the old file survives a crash)."""
    frame = result.frame if isinstance(result, SmoothResult) else result
    return write_pose_csv(frame, path)


def poses_only(frame: pd.DataFrame) -> pd.DataFrame:
    """Just the ``x, y, likelihood`` columns: a plain prediction table.

    That is what Lightning Pose, DeepLabCut and ``movement.io.load_dataset`` read;
    they take every coordinate column as a spatial axis and so reject the full EKS table.
    """
    keep = frame.columns.get_level_values("coords").isin(["x", "y", "likelihood"])
    return frame.loc[:, keep]
