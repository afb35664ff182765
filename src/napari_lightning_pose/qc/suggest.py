"""Choose frames to label next: the least certain ones, made diverse (active learning).

:func:`diverse_uncertain` is the selection itself, on arrays: take the ``pool_factor * n``
most uncertain candidates, group them by appearance (k-means on small thumbnails, after a
PCA) into ``n`` clusters and take the most uncertain frame of each cluster, never two within
``min_gap`` frames of each other. Candidates within ``min_gap`` of a frame already labeled
(or suggested before) are removed first, so a suggestion is never a neighbour of a label.

:mod:`.suggest_project` applies it across all the videos of a project.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.labeling.appearance import cluster_by_appearance


def near_any(frames: np.ndarray, others: Sequence[int], gap: int) -> np.ndarray:
    """Mask of ``frames`` lying within ``gap`` (exclusive: ``|f - o| < gap``) of any ``others``."""
    frames = np.asarray(frames, dtype=int)
    if not len(others) or gap <= 0:
        return np.zeros(len(frames), dtype=bool)
    others = np.sort(np.asarray(list(others), dtype=int))
    pos = np.searchsorted(others, frames)
    left = np.abs(frames - others[np.clip(pos - 1, 0, len(others) - 1)])
    right = np.abs(frames - others[np.clip(pos, 0, len(others) - 1)])
    return np.minimum(left, right) < gap


def diverse_uncertain(
    uncertainty: np.ndarray,
    features: np.ndarray | Callable[[np.ndarray], np.ndarray] | None,
    n: int,
    frames: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    exclude: Sequence[int] | dict = (),
    min_gap: int = 0,
    pool_factor: float = 3.0,
    seed: int = 0,
) -> np.ndarray:
    """Pick ``n`` uncertain, mutually distant, visually diverse items.

    Parameters
    ----------
    uncertainty : ndarray, shape (m,)
        Higher = less certain (e.g. a frame's worst posterior SD or outlier score); NaN
        items are never picked.
    features : ndarray, shape (m, ...), or callable, optional
        What diversity is measured on (thumbnails), or a function giving them for an array
        of item indices (called for the candidate pool only, so only those frames are
        decoded). None skips the clustering (the most uncertain items that respect
        ``min_gap`` are taken).
    n : int
        How many to pick.
    frames : ndarray of int, shape (m,), optional
        Frame number of each item, for the gap rules (default ``arange(m)``).
    groups : ndarray, shape (m,), optional
        Which video each item comes from: gaps only apply within a video.
    exclude : sequence of int, or dict of group to sequence of int
        Frames already labeled or suggested: items within ``min_gap`` of them are not
        candidates (a dict gives them per group).
    min_gap : int
        No two picks (and no pick and excluded frame) closer than this many frames.
    pool_factor : float
        Clustering runs on the ``pool_factor * n`` most uncertain candidates.
    seed : int
        k-means seed.

    Returns
    -------
    ndarray of int
        Indices into the inputs, most uncertain first; fewer than ``n`` only when the gap
        rules leave fewer candidates.

    Raises
    ------
    LightningPoseInputError
        ``n`` larger than the number of items that can be picked at all.
    """
    u = np.asarray(uncertainty, dtype=float)
    m = len(u)
    frames = np.arange(m) if frames is None else np.asarray(frames, dtype=int)
    groups = np.zeros(m, dtype=int) if groups is None else np.asarray(groups)
    if n < 1:
        raise LightningPoseInputError(None, f"the number of frames must be >= 1, got {n}.")
    ok = np.isfinite(u)
    per_group = exclude if isinstance(exclude, dict) else {g: exclude for g in np.unique(groups)}
    for g, excl in per_group.items():
        sel = groups == g
        ok[sel] &= ~near_any(frames[sel], list(excl), min_gap)
        if min_gap <= 0:
            ok[sel] &= ~np.isin(frames[sel], list(excl))
    available = np.flatnonzero(ok)
    if n > len(available):
        raise LightningPoseInputError(
            None,
            f"asked for {n} frames but only {len(available)} frames can be suggested "
            f"({m} in the videos, minus frames already labeled or suggested and their "
            f"neighbours within {min_gap}).",
            "Ask for fewer frames, or add videos.",
        )
    order = available[np.argsort(-u[available], kind="stable")]
    pool = order[: max(n, int(np.ceil(pool_factor * n)))]
    if features is None or n == 1 or len(pool) <= n:
        clusters = np.arange(len(pool))
    else:
        feats = features(pool) if callable(features) else np.asarray(features)[pool]
        clusters = cluster_by_appearance(feats, n, seed).labels

    picked: list[int] = []

    def fits(i: int) -> bool:
        same = [p for p in picked if groups[p] == groups[i]]
        return not same or np.min(np.abs(frames[same] - frames[i])) >= max(min_gap, 1)

    # best candidate of each cluster first (clusters by their best uncertainty), then fill
    for c in dict.fromkeys(clusters.tolist()):
        for i in pool[clusters == c]:  # pool is sorted, so the cluster's most uncertain first
            if fits(int(i)):
                picked.append(int(i))
                break
        if len(picked) == n:
            break
    for i in order:
        if len(picked) == n:
            break
        if int(i) not in picked and fits(int(i)):
            picked.append(int(i))
    picked.sort(key=lambda i: -u[i])
    return np.asarray(picked, dtype=int)
