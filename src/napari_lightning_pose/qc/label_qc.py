"""Label QC: rank the labeled frames by how likely one of their labels is wrong (pure).

A human label can be wrong in a few typical ways: left and right swapped, a point put on
the wrong body part, a slip of the mouse. Lightning Pose's own priors are the tools to find
them, applied to the labels instead of to predictions. Criteria, each per (labeled frame,
keypoint), in pixels except ``conditional_z``:

``pose_pca_error``
    Distance between the keypoint and its reconstruction from a pose PCA (the keypoints of
    ``data.columns_for_singleview_pca``; ``losses.pca_singleview.components_to_keep``), px.
``conditional_z``
    How many standard deviations the keypoint lies from where the frame's other labeled
    keypoints put it, under a Gaussian pose model of the same keypoints
    (``qc.label_qc_conditional``; unitless). Finds a point moved along a direction the pose
    PCA explains, which the reconstruction error absorbs.
``multiview_pca_error``
    The same with the multi-view PCA of ``data.mirrored_column_matches`` (one row per
    frame and body part; the views of one body part must agree).
``swap_gain``
    For each left/right pair (``data.flip_pairs``, else pairs guessed from the names, see
    ``qc.planting.guess_flip_pairs``): how much smaller the frame's total PCA error gets
    when the two labels are exchanged (0 when it does not), given to both keypoints.
    Greedy: the pair that helps most is exchanged first and the others are judged after
    it, so a swap in one of two mirrored views is not also blamed on the other view.
``model_distance``
    With models: distance between the label and the ensemble's prediction (median over
    members) on that frame, from members that did not train on it where there are such
    (``qc.label_qc_models``), so a model that memorised the mistake does not hide it. Its
    part in ``score`` is discounted where those members disagree among themselves (their
    ``spread``, the RMS distance to their median): ``d * t / sqrt(spread**2 + t**2)``, ``t``
    the keypoint's median spread. A label far from members that agree is a likelier mistake
    than one far from members that scatter (a lifted paw they all find hard).

Robust fits: each PCA (and the Gaussian of ``conditional_z``) is fitted without the frame
it judges (leave one out) and without the poses whose error is far above the rest (trimmed:
error above median + 2 MAD-scaled units, refitted twice), so the errors themselves do not
shape the subspace. Missing keypoints are allowed: a pose is projected from the coordinates
it has.

``score`` combines the criteria like the outlier score (``qc.scores.contribution``: robust
z per keypoint over the labeled frames, floored at 1 unit (px), capped softly at 20; the
length of the vector of parts). The ranking lists one row per labeled frame, its worst keypoint,
worst first. Nothing here changes a label.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.losses.pca import design_matrix, fit_pca
from napari_lightning_pose.qc.label_qc_conditional import conditional_z_table
from napari_lightning_pose.qc.planting import guess_flip_pairs
from napari_lightning_pose.qc.scores import contribution

CRITERIA = (
    "pose_pca_error",
    "conditional_z",
    "multiview_pca_error",
    "swap_gain",
    "model_distance",
)
#: Poses whose fit error exceeds median + TRIM * (1.4826 MAD) are left out of the refit
#: (2 rather than 3: recall@10 0.93 vs 0.89 on 40 plantings, benchmarks/label_qc_recall.py).
TRIM = 2.0
#: Components of the pose PCA when the config does not say (a variance fraction).
DEFAULT_KEEP = 0.95


@dataclass(frozen=True)
class LabelQC:
    """Label QC criteria and their combination for every labeled frame and keypoint.

    Attributes
    ----------
    criteria : dict of str to DataFrame
        Each available criterion, index = image path, columns = keypoints (px).
    parts : dict of str to DataFrame
        Each criterion's part of ``score`` (0 to 20).
    score : DataFrame
        The combined score, same shape.
    notes : list of str
        Criteria left out and why.
    """

    criteria: dict[str, pd.DataFrame]
    parts: dict[str, pd.DataFrame]
    score: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def ranked(self, top: int | None = None, skip: Sequence[tuple[str, str]] = ()) -> pd.DataFrame:
        """One row per labeled frame (its worst keypoint), worst first.

        ``skip`` holds (image, keypoint) pairs the user confirmed: they count as 0.
        Columns: ``image``, ``keypoint``, ``score``, then each criterion's value and part.
        """
        values = self.score.to_numpy(copy=True)
        names = list(self.score.columns)
        rows = {img: i for i, img in enumerate(self.score.index)}
        for image, keypoint in skip:
            if image in rows and keypoint in names:
                values[rows[image], names.index(keypoint)] = np.nan
        filled = np.where(np.isfinite(values), values, -np.inf)
        worst, which = filled.max(axis=1), filled.argmax(axis=1)
        order = [int(r) for r in np.argsort(-worst, kind="stable") if np.isfinite(worst[r])]
        order = order[:top] if top is not None else order
        cols = which[order]
        out: dict[str, Any] = {
            "image": self.score.index[order],
            "keypoint": [names[c] for c in cols],
            "score": values[order, cols],
        }
        for name, table in self.criteria.items():
            out[name] = table.to_numpy()[order, cols]
        for name, table in self.parts.items():
            out[f"{name}_part"] = table.to_numpy()[order, cols]
        return pd.DataFrame(out)


def flip_pairs_of(cfg: Mapping[str, Any], names: Sequence[str]) -> list[tuple[int, int]]:
    """Left/right index pairs: ``data.flip_pairs`` (names) when set, else guessed."""
    given = cfg.get("data", {}).get("flip_pairs") or []
    if not given:
        return guess_flip_pairs(names)
    pairs = []
    for a, b in given:
        missing = [n for n in (a, b) if n not in names]
        if missing:
            raise ConfigError(None, f"data.flip_pairs names unknown keypoints {missing}.")
        pairs.append((list(names).index(a), list(names).index(b)))
    return pairs


def label_qc(
    labels: pd.DataFrame,
    cfg: Mapping[str, Any],
    predictions: pd.DataFrame | None = None,
) -> LabelQC:
    """Label QC criteria of a labels table (see module docstring).

    Parameters
    ----------
    labels : DataFrame
        ``io.labels.read_labels`` output (x, y per keypoint; NaN = not labeled); frames
        with no label at all are left out.
    cfg : mapping
        Project config: ``data.columns_for_singleview_pca``, ``data.mirrored_column_matches``,
        ``data.flip_pairs``, ``losses.pca_singleview.components_to_keep``,
        ``losses.pca_multiview.components_to_keep``.
    predictions : DataFrame, optional
        Ensemble prediction per labeled image (index = image path; x, y per keypoint), from
        :func:`napari_lightning_pose.qc.label_qc_models.held_out_predictions`.
    """
    with warnings.catch_warnings():  # all-NaN rows and columns are expected here
        warnings.simplefilter("ignore", RuntimeWarning)
        return _label_qc(labels, cfg, predictions)


def _label_qc(
    labels: pd.DataFrame, cfg: Mapping[str, Any], predictions: pd.DataFrame | None
) -> LabelQC:
    names = list(dict.fromkeys(labels.columns.get_level_values(1)))
    xy = _poses(labels, names)
    keep = np.isfinite(xy).any(axis=(1, 2))
    labels, xy = labels.loc[keep], xy[keep]
    index = labels.index
    data = cfg.get("data", {})
    losses = cfg.get("losses", {})
    criteria: dict[str, np.ndarray] = {}
    notes: list[str] = []

    single_cols = np.asarray(data.get("columns_for_singleview_pca") or range(len(names)))
    single_keep = (losses.get("pca_singleview") or {}).get("components_to_keep") or DEFAULT_KEEP
    single = _RobustPCA(xy, "pca_singleview", single_cols, single_keep)
    if single.ok:
        criteria["pose_pca_error"] = single.point_errors(xy, len(names))
        criteria["conditional_z"] = conditional_z_table(
            single.rows, single.use, single_cols, len(names)
        )
    else:
        notes.append(f"no pose PCA: {single.why}")
    multi = None
    matches = data.get("mirrored_column_matches")
    if matches:
        mv_keep = (losses.get("pca_multiview") or {}).get("components_to_keep") or 3
        multi = _RobustPCA(xy, "pca_multiview", np.asarray(matches), mv_keep)
        if multi.ok:
            criteria["multiview_pca_error"] = multi.point_errors(xy, len(names))
        else:
            notes.append(f"no multi-view PCA: {multi.why}")
            multi = None
    pairs = flip_pairs_of(cfg, names)
    fits = [f for f in (single, multi) if f is not None and f.ok]
    if pairs and fits:
        criteria["swap_gain"] = _swap_gain(xy, pairs, fits, len(names))
    elif not pairs:
        notes.append("no left/right pairs (data.flip_pairs is empty): no swap test.")
    discounted = None
    if predictions is not None:
        pred = _poses(predictions.reindex(index), names)
        criteria["model_distance"] = np.linalg.norm(xy - pred, axis=-1)
        spread = _coord(predictions.reindex(index), names, "spread")
        discounted = _discounted(criteria["model_distance"], spread)
    if not criteria:
        raise ConfigError(
            None,
            "no label QC criterion can be computed: " + " ".join(notes),
            "Label more frames, or set data.columns_for_singleview_pca / flip_pairs.",
        )
    frames = {k: pd.DataFrame(v, index=index, columns=names) for k, v in criteria.items()}
    frames = {k: frames[k] for k in CRITERIA if k in frames}
    parts = {k: contribution(v) for k, v in frames.items()}
    if discounted is not None:
        parts["model_distance"] = contribution(
            pd.DataFrame(discounted, index=index, columns=names)
        )
    stack = np.stack([p.to_numpy() for p in parts.values()])
    score = np.sqrt(np.nansum(stack**2, axis=0))
    score[~np.isfinite(xy).all(axis=-1)] = np.nan  # unlabeled keypoints are not ranked
    return LabelQC(frames, parts, pd.DataFrame(score, index=index, columns=names), notes)


class _RobustPCA:
    """A pose PCA fitted leave-one-out and trimmed (module docstring), or why not."""

    def __init__(self, xy: np.ndarray, kind: str, columns: np.ndarray, keep: float) -> None:
        self.kind, self.columns, self.keep = kind, columns, keep
        self.rows = design_matrix(xy, kind, columns)  # (R, D)
        per = 1 if kind == "pca_singleview" else columns.shape[1]
        self.frame_of_row = np.repeat(np.arange(len(xy)), per)
        self.ok, self.why = True, ""
        try:
            self.use = self._trimmed()
            #: the fit that judges frame f: without f (leave one out) and the trimmed poses
            self.held_out = [
                self._fit(self.use & (self.frame_of_row != f)) for f in range(len(xy))
            ]
        except ValueError as err:
            self.ok, self.why = False, f"too few labeled poses ({_why(err)})"

    def _fit(self, use: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keep = self.keep if isinstance(self.keep, float) and self.keep < 1 else int(self.keep)
        mean, comps, _ = fit_pca(self.rows[use], keep)
        return mean, comps

    def _trimmed(self) -> np.ndarray:
        use = np.isfinite(self.rows).sum(axis=1) > 0
        for _ in range(2):
            mean, comps = self._fit(use)
            err = _row_error(self.rows, mean, comps)
            med = np.nanmedian(err[use])
            mad = 1.4826 * np.nanmedian(np.abs(err[use] - med))
            use = use & ~(err > med + TRIM * max(mad, 1e-9))
        return use

    def point_errors(self, xy: np.ndarray, n_keypoints: int) -> np.ndarray:
        """(N, K) error of every keypoint in a fit without its own frame; NaN elsewhere."""
        out = np.full((len(xy), n_keypoints), np.nan)
        for f in range(len(xy)):
            out[f] = self.errors_of(xy[f], self.held_out[f])
        return out

    def errors_of(self, pose: np.ndarray, fit: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """(K,) error of each keypoint of one pose (K, 2) under ``fit``; NaN off the PCA."""
        mean, comps = fit
        rows = design_matrix(pose[None], self.kind, self.columns)
        diff = _residuals(rows, mean, comps).reshape(len(rows), -1, 2)
        dist = np.linalg.norm(diff, axis=-1)  # (rows, D/2)
        out = np.full(len(pose), np.nan)
        if self.kind == "pca_singleview":
            out[self.columns] = dist[0]
        else:  # row = body part p, point j = view j
            for p in range(self.columns.shape[1]):
                for v in range(self.columns.shape[0]):
                    out[self.columns[v, p]] = dist[p, v]
        return out


def _why(err: ValueError) -> str:
    """``fit_pca``'s refusal in words (it raises (needed, columns, had) for short data)."""
    if len(err.args) == 3:
        need, _, have = err.args
        return f"needs {need} rows where every pair of its coordinates is labeled, has {have}"
    return str(err)


def _residuals(rows: np.ndarray, mean: np.ndarray, comps: np.ndarray) -> np.ndarray:
    """Row minus its projection, fitted on the coordinates each row has (NaN kept)."""
    out = np.full_like(rows, np.nan)
    for i, row in enumerate(rows):
        seen = np.isfinite(row)
        if seen.sum() <= comps.shape[0]:
            continue
        basis = comps[:, seen].T  # (seen, k)
        coef, *_ = np.linalg.lstsq(basis, row[seen] - mean[seen], rcond=None)
        out[i, seen] = row[seen] - mean[seen] - basis @ coef
    return out


def _row_error(rows: np.ndarray, mean: np.ndarray, comps: np.ndarray) -> np.ndarray:
    """Root-mean-square point error of each row (NaN for rows with too few coordinates)."""
    diff = _residuals(rows, mean, comps)
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.nanmean(diff**2, axis=1) * 2)


def _swap_gain(
    xy: np.ndarray, pairs: Sequence[tuple[int, int]], fits: Sequence[_RobustPCA], k: int
) -> np.ndarray:
    """(N, K): how much the frame's summed PCA error drops when a left/right pair swaps.

    Greedy, so one wrong pair is not blamed on another: the pair whose exchange helps most
    gets its gain, the exchange is kept, and the other pairs count only for what they add
    after it. (With two mirrored views, exchanging the front paws in the *correct* view
    also makes the views agree again; judged after the wrong view's pair is exchanged, it
    no longer helps.)
    """
    gain = np.zeros((len(xy), k))
    involved = sorted({i for p in pairs for i in p})
    gain[:, [i for i in range(k) if i not in involved]] = np.nan
    for f in range(len(xy)):
        held_out = [(fit, fit.held_out[f]) for fit in fits]
        pose = xy[f].copy()
        cost = _total_error(pose, held_out)
        open_pairs = []
        for a, b in pairs:
            if np.isfinite(xy[f, [a, b]]).all():
                open_pairs.append((a, b))
            else:
                gain[f, [a, b]] = np.nan
        while open_pairs:
            gains = [cost - _total_error(_swapped(pose, p), held_out) for p in open_pairs]
            best = int(np.argmax(gains))
            if gains[best] <= 0:
                break
            a, b = open_pairs.pop(best)
            gain[f, [a, b]] = np.maximum(gain[f, [a, b]], gains[best])
            pose, cost = _swapped(pose, (a, b)), cost - gains[best]
    return gain


def _total_error(
    pose: np.ndarray, held_out: Sequence[tuple[_RobustPCA, tuple[np.ndarray, np.ndarray]]]
) -> float:
    """A pose's summed keypoint error under each PCA's fit without its frame."""
    return float(sum(np.nansum(fit.errors_of(pose, m)) for fit, m in held_out))


def _swapped(pose: np.ndarray, pair: tuple[int, int]) -> np.ndarray:
    """A copy of a pose (K, 2) with one left/right pair exchanged."""
    out = pose.copy()
    out[list(pair)] = out[list(pair[::-1])]
    return out


def _poses(table: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """(rows, keypoints, 2) x, y of a pose table (extra coords such as likelihood ignored)."""
    return np.stack([_coord(table, names, "x"), _coord(table, names, "y")], axis=-1)


def _coord(table: pd.DataFrame, names: Sequence[str], coord: str) -> np.ndarray:
    """(rows, keypoints) values of one coord of a pose table; NaN where it has none."""
    parts = table.columns.get_level_values(1)
    coords = table.columns.get_level_values(2)
    out = np.full((len(table), len(names)), np.nan)
    for j, name in enumerate(names):
        col = np.flatnonzero((parts == name) & (coords == coord))
        if len(col):
            out[:, j] = table.iloc[:, col[0]].to_numpy(dtype=float)
    return out


def _discounted(distance: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Label-to-model distances discounted where the members disagree (module docstring);
    an unknown spread (one member, or none given) counts as the keypoint's typical one."""
    known = np.isfinite(spread)
    if not known.any():
        return distance
    with warnings.catch_warnings():  # a keypoint no two members predicted: all NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        typical = np.nanmedian(spread, axis=0)  # per keypoint
    typical = np.where(np.isfinite(typical), typical, np.nanmedian(spread))
    typical = np.maximum(typical, 1e-6)[None, :]
    spread = np.where(known, spread, typical)
    return distance * typical / np.sqrt(spread**2 + typical**2)
