"""Outlier scores per frame and keypoint, each on its own and combined into one ranking.

Scores (all in pixels, one (frames, keypoints) table each; a score that cannot be computed
is simply absent, never faked):

``posterior_sd``
    ``sqrt(x_posterior_var + y_posterior_var)`` of the smoothed table (EKS's own uncertainty).
``ensemble_sd``
    Spread of the members' predictions, ``sqrt(var_x + var_y)`` over members. Needs at least
    two members: from the member CSVs when given, else from the smoothed table's
    ``x_ens_var``/``y_ens_var`` columns. With one member there is no ensemble spread; the
    score is left out (``OutlierScores.notes`` says so) and the others are used.
``temporal_norm``
    Jump of the prediction from the previous frame, ``|p_t - p_{t-1}|``: from the
    ``<stem>_temporal_norm.csv`` files written next to the members' predictions when present
    (mean over members), else computed from the ensemble median of the smoothed table.
``eks_residual``
    Distance between the ensemble median and the smoothed position, ``|median_t - eks_t|``:
    large where the smoother refused to follow the ensemble (a one-frame jump). Unlike the
    temporal norm it marks the jump frame only, not also the frame that jumps back.
``pca_singleview_error``, ``pca_multiview_error``
    Pose / multi-view PCA reconstruction errors, read from ``<stem>_pca_singleview_error.csv``
    and ``<stem>_pca_multiview_error.csv`` next to the predictions (or the smoothed CSV) when
    those files exist.

The combination (``combined``) puts every score on one bounded scale, so no score can
swamp the others. Each score becomes a robust z-score *per keypoint*,
``z = (v - median) / (1.4826 * MAD)`` over the video's frames, with the scale floored at
5 % of the median and at :data:`PIXEL_FLOOR` px (a score whose typical value is a fraction
of a pixel, such as the EKS residual, would otherwise turn an 18 px residual into
z = 250). Its positive part is capped softly, ``part = CAP * tanh(max(z, 0) / CAP)`` with
``CAP`` = :data:`Z_CAP`: the order within one score is kept, but one score weighs at most
``CAP``. ``combined`` is the length of the vector of parts, ``sqrt(sum_s part_s ** 2)``
(``OutlierScores.contributions`` holds each part; the queue shows them). One clear symptom
is enough to rank a frame high (a jump seen only by the temporal norm, members that
disagree only in their spread), symptoms that agree add up, and a score that is
unremarkable for a frame adds nothing and cannot hide another. Robust z-scores make pixels
of different meaning comparable and keep a keypoint that is always noisy (a paw) from
crowding out the rest: each keypoint is judged against its own typical value. A frame's
score is its worst keypoint's. The temporal norm enters as
``(tn_t + min(tn_t, tn_{t+1})) / 2``: in full for a frame that jumps away *and* back, half
for a lasting step (its first and last frame), so a one-frame jump ranks at its own frame
rather than at the frame that jumps back, and a few frames that are off together are still
found at their edges.
``benchmarks/outlier_recall.py`` chose this form over a plain sum, a maximum and other caps.

Ranking the frames by these scores is ``qc.outlier_ranking``; reading the metric files
next to predictions is ``qc.metric_files``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.qc.metric_files import metric_paths, read_metric_csv

__all__ = [
    "SCORE_NAMES",
    "OutlierScores",
    "contribution",
    "outlier_scores",
    "robust_z",
    "scores_from_files",
]

#: Score names in display order; ``combined`` comes first in rankings.
SCORE_NAMES = (
    "posterior_sd",
    "ensemble_sd",
    "temporal_norm",
    "eks_residual",
    "pca_singleview_error",
    "pca_multiview_error",
)
MAD_SCALE = 1.4826
#: The robust scale is at least this fraction of the median (see module docstring).
MAD_FLOOR = 0.05
#: ... and at least this many pixels: differences below a pixel mean nothing.
PIXEL_FLOOR = 1.0
#: Most that one score adds to ``combined`` (soft cap of its robust z-score).
Z_CAP = 20.0


@dataclass(frozen=True)
class OutlierScores:
    """Per-frame, per-keypoint outlier scores of one video.

    Attributes
    ----------
    scores : dict of str to DataFrame
        Each available score, shape (frames, keypoints), index = frame, columns = keypoints.
    combined : pandas.DataFrame
        Length of the vector of bounded contributions (module docstring), same shape.
    notes : list of str
        Scores left out and why (e.g. one-member ensemble), for the user.
    contributions : dict of str to DataFrame
        Each score's part of ``combined`` (0 to ``Z_CAP``), same keys as ``scores``.
    views : DataFrame or None
        For several cameras (``qc.camera_scores``): the camera behind each value of
        ``combined``; None for one video.
    """

    scores: dict[str, pd.DataFrame]
    combined: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    contributions: dict[str, pd.DataFrame] = field(default_factory=dict)
    views: pd.DataFrame | None = None

    @property
    def keypoints(self) -> list[str]:
        """Keypoint names in column order."""
        return list(self.combined.columns)

    def frame_scores(self) -> pd.Series:
        """Each frame's combined score: that of its worst keypoint (NaN-skipping)."""
        values = self.combined.to_numpy()
        worst = np.where(np.isfinite(values), values, -np.inf).max(axis=1)
        return pd.Series(np.where(np.isfinite(worst), worst, np.nan), index=self.combined.index)


def _coord(frame: pd.DataFrame, coord: str) -> pd.DataFrame | None:
    coords = frame.columns.get_level_values("coords")
    if coord not in set(coords):
        return None
    sub = frame.loc[:, coords == coord]
    sub.columns = list(sub.columns.get_level_values("bodyparts"))
    return sub.astype(float)


def robust_z(values: pd.DataFrame, pixel_floor: float = 0.0) -> pd.DataFrame:
    """Robust z-score of each column: ``(v - median) / (1.4826 MAD)``, NaN kept; the scale
    is at least 5 % of the median and ``pixel_floor``."""
    arr = values.to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        med = np.nanmedian(arr, axis=0)
        mad = MAD_SCALE * np.nanmedian(np.abs(arr - med), axis=0)
    floor = np.maximum(MAD_FLOOR * np.abs(np.nan_to_num(med)), max(pixel_floor, 1e-9))
    scale = np.maximum(np.nan_to_num(mad), floor)
    return pd.DataFrame((arr - med) / scale, index=values.index, columns=values.columns)


def _mean_of(frames: Sequence[pd.DataFrame], index: pd.Index) -> pd.DataFrame:
    stack = np.stack([f.reindex(index).to_numpy() for f in frames])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(stack, axis=0)
    return pd.DataFrame(mean, index=index, columns=frames[0].columns)


def _members_sd(members: Sequence[pd.DataFrame], keypoints: Sequence[str]) -> pd.DataFrame:
    xs = np.stack([m.loc[:, [c for c in m.columns if c[2] == "x"]].to_numpy() for m in members])
    ys = np.stack([m.loc[:, [c for c in m.columns if c[2] == "y"]].to_numpy() for m in members])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        var = np.nanvar(xs, axis=0) + np.nanvar(ys, axis=0)
    return pd.DataFrame(np.sqrt(var), index=members[0].index, columns=list(keypoints))


def outlier_scores(
    smoothed: pd.DataFrame,
    members: Sequence[pd.DataFrame] | None = None,
    metrics: Mapping[str, pd.DataFrame | Sequence[pd.DataFrame]] | None = None,
) -> OutlierScores:
    """Compute every available outlier score of one video and their combination.

    Parameters
    ----------
    smoothed : pandas.DataFrame
        EKS table (``smooth_ensemble(...).frame`` or a CSV written by ``smooth``).
    members : sequence of DataFrame, optional
        The ensemble's prediction tables (x, y, likelihood); ensemble SD comes from them.
        A single member means no ensemble SD (noted in ``notes``).
    metrics : mapping of score name to DataFrame(s), optional
        Precomputed ``temporal_norm`` / ``pca_singleview_error`` / ``pca_multiview_error``
        tables (frames, keypoints), one per member or one in all; several are averaged.

    Returns
    -------
    OutlierScores

    Raises
    ------
    LabelsError
        ``smoothed`` has no posterior variance columns, or members with other keypoints.
    """
    post_x, post_y = _coord(smoothed, "x_posterior_var"), _coord(smoothed, "y_posterior_var")
    if post_x is None or post_y is None:
        raise LabelsError(
            None,
            "the smoothed table has no x_posterior_var / y_posterior_var columns.",
            "Pass a CSV written by `napari-lightning-pose smooth`.",
        )
    names = list(post_x.columns)
    index = smoothed.index
    scores: dict[str, pd.DataFrame] = {"posterior_sd": np.sqrt(post_x + post_y)}
    notes: list[str] = []

    if members is not None and len(members) >= 2:
        for m in members:
            kp = list(dict.fromkeys(m.columns.get_level_values(1)))
            if kp != names:
                raise LabelsError(
                    None, f"a member has keypoints {kp}, the smoothed table {names}."
                )
        scores["ensemble_sd"] = _members_sd(members, names).set_axis(index, axis=0)
    elif members is not None:
        notes.append(
            "ensemble of one member: no ensemble SD; ranking by the other scores "
            "(posterior SD, temporal norm, PCA errors)."
        )
    else:
        ex, ey = _coord(smoothed, "x_ens_var"), _coord(smoothed, "y_ens_var")
        if ex is not None and ey is not None:
            scores["ensemble_sd"] = np.sqrt(ex + ey)

    metrics = dict(metrics or {})
    for name in ("temporal_norm", "pca_singleview_error", "pca_multiview_error"):
        given = metrics.get(name)
        if given is None:
            continue
        frames = [given] if isinstance(given, pd.DataFrame) else list(given)
        if frames:
            scores[name] = _mean_of([f.loc[:, names] for f in frames], index)
    cx, cy = _coord(smoothed, "x_ens_median"), _coord(smoothed, "y_ens_median")
    if "temporal_norm" not in scores:
        px, py = (cx, cy) if cx is not None else (_coord(smoothed, "x"), _coord(smoothed, "y"))
        scores["temporal_norm"] = np.sqrt(px.diff() ** 2 + py.diff() ** 2)
    if cx is not None:
        sx, sy = _coord(smoothed, "x"), _coord(smoothed, "y")
        scores["eks_residual"] = np.sqrt((cx - sx) ** 2 + (cy - sy) ** 2)
    missing = [n for n in ("pca_singleview_error", "pca_multiview_error") if n not in scores]
    if missing:
        notes.append(f"no {' / '.join(missing)}: no metric file next to the predictions.")

    scores = {k: scores[k] for k in SCORE_NAMES if k in scores}
    parts = {k: contribution(_for_ranking(k, s)) for k, s in scores.items()}
    stack = np.stack([p.to_numpy() for p in parts.values()])
    combined = np.sqrt(np.nansum(stack**2, axis=0))
    combined[np.isnan(stack).all(axis=0)] = np.nan
    combined_df = pd.DataFrame(combined, index=index, columns=names)
    return OutlierScores(scores, combined_df, notes, parts)


def contribution(score: pd.DataFrame, cap: float = Z_CAP) -> pd.DataFrame:
    """One score's part of ``combined``: its robust z per keypoint, positive part,
    capped softly at ``cap`` (``cap * tanh(z / cap)``); NaN where the score is NaN."""
    z = robust_z(score, PIXEL_FLOOR).to_numpy()
    part = cap * np.tanh(np.clip(z, 0.0, None) / cap)
    return pd.DataFrame(part, index=score.index, columns=score.columns)


def _for_ranking(name: str, score: pd.DataFrame) -> pd.DataFrame:
    """The form a score takes in the combination: the temporal norm half two-sided."""
    if name != "temporal_norm":
        return score
    ahead = score.shift(-1)
    two_sided = score.where(score < ahead, ahead).where(ahead.notna(), score)
    return (score + two_sided) / 2


def scores_from_files(
    smoothed_csv: str | Path, member_csvs: Sequence[str | Path] = ()
) -> OutlierScores:
    """:func:`outlier_scores` of a smoothed CSV, its members' CSVs and their metric files.

    Metric files are looked up next to each member (``<stem>_temporal_norm.csv`` ...), and
    next to the smoothed CSV when no member is given.
    """
    from napari_lightning_pose.io.pose_csv import read_pose_csv

    smoothed = read_pose_csv(smoothed_csv, required_coords=("x", "y", "x_posterior_var"))
    names = list(dict.fromkeys(smoothed.columns.get_level_values("bodyparts")))
    members = [read_pose_csv(p, required_coords=("x", "y")) for p in member_csvs]
    metrics: dict[str, list[pd.DataFrame]] = {}
    for source in list(member_csvs) or [smoothed_csv]:
        for name, path in metric_paths(source).items():
            metrics.setdefault(name, []).append(read_metric_csv(path, names))
    return outlier_scores(smoothed, members if member_csvs else None, metrics)
