"""Outlier ranking: frames listed worst first from ``qc.scores.OutlierScores``, made diverse.

:func:`rank_outliers` lists one row per frame, keeping listed frames at least ``min_gap``
apart and giving one keypoint at most ``max_share`` of any top of the list (``qc.defaults``:
10 frames, twice a keypoint's fair share; the dock and the command use them), so one
uncertain stretch or one hard keypoint cannot fill the queue; each score can also rank on
its own (``by``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.qc.defaults import default_max_share
from napari_lightning_pose.qc.scores import OutlierScores


def rank_outliers(
    scores: OutlierScores,
    n: int | None = None,
    by: str = "combined",
    min_gap: int = 0,
    max_share: float | None = 1.0,
) -> pd.DataFrame:
    """Frames ranked by their worst keypoint's score, worst first, made diverse.

    Parameters
    ----------
    scores : OutlierScores
    n : int, optional
        How many frames (default all with a finite score).
    by : str
        ``"combined"`` or one of the score names.
    min_gap : int
        Skip frames closer than this (rows) to one already listed.
    max_share : float
        In every top ``p`` of the list one keypoint holds at most ``ceil(max_share * p)``
        rows; a frame whose keypoint is over its share waits for the next free place (it
        is listed anyway once no other keypoint has frames left). 1 turns this off; None
        means :func:`~napari_lightning_pose.qc.defaults.default_max_share` (twice a
        keypoint's fair share).

    Returns
    -------
    pandas.DataFrame
        Columns ``frame``, ``keypoint`` (the worst by ``by``), ``combined``, every available
        score at that frame and keypoint, (for ``combined``) what each score added to
        it, ``<score>_part``, and for several cameras the ``camera`` behind it.
    """
    table = scores.combined if by == "combined" else scores.scores.get(by)
    if table is None:
        raise LabelsError(None, f"no score {by!r}; available: {['combined', *scores.scores]}.")
    if max_share is None:
        max_share = default_max_share(table.shape[1])
    if not 0 < max_share <= 1:
        raise LabelsError(None, f"max_share must be in (0, 1], got {max_share}.")
    values = table.to_numpy()
    filled = np.where(np.isfinite(values), values, -np.inf)
    worst, which = filled.max(axis=1), filled.argmax(axis=1)
    rows = np.asarray(_diverse_order(worst, which, n, min_gap, max_share), dtype=int)
    cols = which[rows]
    out = {
        "frame": table.index[rows],
        "keypoint": table.columns[cols],
        "combined": scores.combined.to_numpy()[rows, cols],
    }
    for name, s in scores.scores.items():
        out[name] = s.to_numpy()[rows, cols]
    for name, part in scores.contributions.items():
        out[f"{name}_part"] = part.to_numpy()[rows, cols]
    if scores.views is not None:
        out["camera"] = scores.views.to_numpy()[rows, cols]
    return pd.DataFrame(out)


def _diverse_order(
    worst: np.ndarray, which: np.ndarray, n: int | None, min_gap: int, max_share: float
) -> list[int]:
    """Row order of :func:`rank_outliers`: best first, ``min_gap`` apart, keypoint shares."""
    order = np.argsort(-worst, kind="stable")
    order = order[np.isfinite(worst[order])]
    queues = {int(k): [int(r) for r in order[which[order] == k]][::-1] for k in set(which)}
    taken = np.zeros(len(worst), dtype=bool)
    count = dict.fromkeys(queues, 0)
    chosen: list[int] = []
    limit = len(order) if n is None else min(n, len(order))

    def free(row: int) -> bool:
        return not (min_gap and taken[max(0, row - min_gap + 1) : row + min_gap].any())

    while len(chosen) < limit:
        for queue in queues.values():  # drop heads too close to a listed frame
            while queue and not free(queue[-1]):
                queue.pop()
        heads = [(worst[q[-1]], -q[-1], k) for k, q in queues.items() if q]
        if not heads:
            break
        cap = np.ceil(max_share * (len(chosen) + 1) - 1e-9)
        allowed = [h for h in heads if count[h[2]] < cap] or heads
        _, _, k = max(allowed)
        row = queues[k].pop()
        chosen.append(row)
        taken[row] = True
        count[k] += 1
    return chosen
