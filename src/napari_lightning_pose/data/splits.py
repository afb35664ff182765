"""The train / val / test split of a project's labeled frames: numpy only, so the docks can
count what a split holds without importing torch."""

from __future__ import annotations

import numpy as np


def split_indices(n: int, train_prob: float, val_prob: float, seed: int) -> dict[str, np.ndarray]:
    """Split ``n`` rows at random into train, val and test index arrays.

    The train set gets ``round(train_prob * n)`` rows (at least 1), val ``round(val_prob * n)``
    (never more than what is left), test the rest. Same ``seed``, same split.

    Returns
    -------
    dict
        ``{"train", "val", "test"}`` -> sorted int64 arrays; disjoint, together ``0..n-1``.
    """
    if n < 1:
        raise ValueError("cannot split an empty set of labeled frames")
    order = np.random.default_rng(seed).permutation(n)
    n_train = min(n, max(1, round(train_prob * n)))
    n_val = min(n - n_train, round(val_prob * n))
    return {
        "train": np.sort(order[:n_train]),
        "val": np.sort(order[n_train : n_train + n_val]),
        "test": np.sort(order[n_train + n_val :]),
    }
