"""The train / val / test split of a project's labeled frames: numpy only, so the docks can
count what a split holds without importing torch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def split_indices(
    n: int,
    train_prob: float,
    val_prob: float,
    seed: int,
    fold: Sequence[int] | None = None,
) -> dict[str, np.ndarray]:
    """Split ``n`` rows at random into train, val and test index arrays.

    The train set gets ``round(train_prob * n)`` rows (at least 1), val ``round(val_prob * n)``
    (never more than what is left), test the rest. Same ``seed``, same split.

    ``fold = (m, M)`` (``training.holdout_fold``) is member ``m`` of an ensemble of ``M``: its
    held-out rows (val, then test) start at the ``m``-th of ``M`` evenly spaced places of the
    seed's order, so the members hold out different rows and together every row when
    ``M * (1 - train_prob) >= 1``. Label QC judges each label by members that held it out.

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
    if fold is not None:
        m, count = (int(v) for v in fold)
        held = np.roll(order, -round(m * n / count))[: n - n_train]
        return {
            "train": np.sort(np.setdiff1d(order, held)),
            "val": np.sort(held[:n_val]),
            "test": np.sort(held[n_val:]),
        }
    return {
        "train": np.sort(order[:n_train]),
        "val": np.sort(order[n_train : n_train + n_val]),
        "test": np.sort(order[n_train + n_val :]),
    }


def config_split(n: int, training: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``split_indices`` with a config's ``training`` settings (probabilities, data seed and
    ``holdout_fold``): the split a run trained on that config used."""
    return split_indices(
        n,
        float(training["train_prob"]),
        float(training["val_prob"]),
        int(training["rng_seed_data_pt"]),
        training.get("holdout_fold"),
    )
