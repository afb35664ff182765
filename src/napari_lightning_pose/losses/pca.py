"""NaN-aware PCA of labeled poses, fitted and applied in original image pixels.

Two designs of the data matrix, as in Lightning Pose:

- **singleview**: one row per labeled frame, columns ``x0, y0, x1, y1, ...`` of the keypoints
  in ``data.columns_for_singleview_pca`` (all keypoints when unset);
- **multiview**: one row per (frame, body part), columns ``x_view1, y_view1, x_view2, ...``
  from ``data.mirrored_column_matches`` (V lists of keypoint indices, one per view); an
  affine camera model puts these 2V numbers on a 3-D subspace.

The fit is NaN-aware: the mean of each column ignores missing values and the covariance of
each pair of columns uses the rows where both are present (pairwise-complete), so no frame
is dropped for one missing keypoint. Everything is in ORIGINAL image pixels, the frame that
predictions are written in, so epsilons mean the same thing whatever
``data.image_resize_dims`` is (Lightning Pose fits on resized keypoints and applies the fit to
original-frame predictions). A pose's error is, per keypoint, the distance between it and
its projection onto the subspace. Epsilon ``null`` becomes a high percentile
(``empirical_epsilon_percentile``, default 0.99) of the training poses' own errors times
``empirical_epsilon_multiplier`` (default 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_lightning_pose.errors import ConfigError


@dataclass
class PCAFit:
    """A fitted pose subspace.

    Attributes
    ----------
    kind : str
        ``"pca_singleview"`` or ``"pca_multiview"``.
    mean : np.ndarray
        (D,) column means, original pixels.
    components : np.ndarray
        (k, D) orthonormal rows spanning the kept subspace.
    explained : np.ndarray
        (D,) variance fraction of every eigenvector, largest first.
    epsilon : float
        Errors (px) below it do not count in the loss.
    columns : np.ndarray
        singleview: (P,) keypoint indices; multiview: (V, P) keypoint index per view/part.
    """

    kind: str
    mean: np.ndarray
    components: np.ndarray
    explained: np.ndarray
    epsilon: float
    columns: np.ndarray

    def to_state(self) -> dict[str, Any]:
        """Plain tensors and numbers, for a ``weights_only`` checkpoint."""
        import torch  # here only: fitting is numpy, and the docks count poses without torch

        return {
            "kind": self.kind,
            "mean": torch.as_tensor(self.mean),
            "components": torch.as_tensor(self.components),
            "explained": torch.as_tensor(self.explained),
            "epsilon": float(self.epsilon),
            "columns": torch.as_tensor(self.columns),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> PCAFit:
        """Inverse of :meth:`to_state`."""
        return cls(
            str(state["kind"]),
            np.asarray(state["mean"], dtype=np.float64),
            np.asarray(state["components"], dtype=np.float64),
            np.asarray(state["explained"], dtype=np.float64),
            float(state["epsilon"]),
            np.asarray(state["columns"], dtype=np.int64),
        )

    def design(self, keypoints: np.ndarray) -> np.ndarray:
        """Rows of the data matrix (see module docstring) from poses (N, K, 2)."""
        return design_matrix(keypoints, self.kind, self.columns)

    def errors(self, keypoints: np.ndarray) -> np.ndarray:
        """Reprojection error (px) per frame and PCA keypoint: (N, P) singleview,
        (N, V * P) multiview (view-major, the order of ``columns.ravel()``)."""
        rows = self.design(keypoints)
        err = point_errors(rows, self.mean, self.components)  # (rows, D/2)
        if self.kind == "pca_multiview":
            n = len(keypoints)
            v, p = self.columns.shape
            return err.reshape(n, p, v).transpose(0, 2, 1).reshape(n, v * p)
        return err


def design_matrix(keypoints: np.ndarray, kind: str, columns: np.ndarray) -> np.ndarray:
    """singleview: (N, 2P); multiview: (N * P, 2V) from poses (N, K, 2)."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if kind == "pca_singleview":
        return keypoints[:, columns, :].reshape(len(keypoints), -1)
    views = keypoints[:, columns, :]  # (N, V, P, 2)
    return views.transpose(0, 2, 1, 3).reshape(-1, 2 * columns.shape[0])


def point_errors(rows: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Per (x, y) pair, the distance between each row and its projection: (R, D / 2)."""
    centred = rows - mean
    recon = centred @ components.T @ components
    diff = (centred - recon).reshape(len(rows), -1, 2)
    return np.linalg.norm(diff, axis=-1)


def nan_covariance(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column means, pairwise-complete covariance and pair counts of rows with NaNs."""
    present = np.isfinite(rows)
    mean = np.nanmean(np.where(present, rows, np.nan), axis=0)
    centred = np.where(present, rows - mean, 0.0)
    counts = present.T.astype(np.float64) @ present.astype(np.float64)
    cov = (centred.T @ centred) / np.maximum(counts - 1, 1)
    return mean, cov, counts


def fit_pca(
    rows: np.ndarray, components_to_keep: float, min_pairs: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NaN-aware PCA of ``rows`` (R, D): mean (D,), kept components (k, D), explained (D,).

    ``components_to_keep`` is a variance fraction (float < 1: the fewest components that
    explain at least it) or a count (int >= 1). Raises ``ValueError`` listing the columns
    observed together in fewer than ``min_pairs`` rows (default D, as many rows as columns).
    """
    d = rows.shape[1]
    mean, cov, counts = nan_covariance(rows)
    need = d if min_pairs is None else min_pairs
    if (counts < need).any():
        alone = np.flatnonzero(np.diag(counts) < need)  # columns short on their own
        short = alone if len(alone) else np.unique(np.argwhere(counts < need)[:, 0])
        raise ValueError(need, [int(i) for i in short], int(counts.min()))
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1]
    values, vectors = np.clip(values[order], 0.0, None), vectors[:, order]
    explained = values / max(values.sum(), 1e-12)
    if isinstance(components_to_keep, float) and components_to_keep < 1:
        k = int(np.searchsorted(np.cumsum(explained), components_to_keep - 1e-12) + 1)
    else:
        k = int(components_to_keep)
    if not 1 <= k <= d:
        raise ValueError(f"components_to_keep gives {k} components for {d} columns")
    return mean, vectors[:, :k].T.copy(), explained


def fit_pose_pca(
    keypoints: np.ndarray,
    kind: str,
    columns: Sequence[int] | Sequence[Sequence[int]],
    loss_cfg: Mapping[str, Any],
    names: Sequence[str],
) -> PCAFit:
    """Fit one of the two pose PCAs to labeled poses (N, K, 2) in original pixels.

    Raises ``ConfigError`` when too few poses are labeled: it says how many are needed and
    which keypoints lack them.
    """
    cols = np.asarray(columns, dtype=np.int64)
    rows = design_matrix(keypoints, kind, cols)
    keep = loss_cfg["components_to_keep"]
    if kind == "pca_multiview":
        keep = 3 if keep is None else keep
    try:
        mean, components, explained = fit_pca(rows, keep)
    except ValueError as err:
        if len(err.args) != 3:
            raise ConfigError(None, f"losses.{kind}.components_to_keep: {err}") from err
        need, short, have = err.args
        flat = cols.ravel() if kind == "pca_singleview" else cols.T.ravel()
        if kind == "pca_multiview":  # column j of a row is view j // 2
            lacking = sorted({names[int(c)] for v in {j // 2 for j in short} for c in cols[v]})
        else:
            lacking = sorted({names[int(flat[j // 2])] for j in short})
        unit = "labeled frames" if kind == "pca_singleview" else "labeled (frame, body part) rows"
        raise ConfigError(
            None,
            f"too few labeled poses to fit the {kind} PCA: it needs {need} {unit} in which "
            f"each pair of its keypoints is labeled, and has only {have} for "
            f"{', '.join(lacking)}.",
            f"Label more frames, or remove {kind!r} from model.losses_to_use"
            + (
                " (or those keypoints from data.columns_for_singleview_pca)."
                if kind == "pca_singleview"
                else "."
            ),
        ) from None
    fit = PCAFit(kind, mean, components, explained, 0.0, cols)
    epsilon = loss_cfg.get("epsilon")
    if epsilon is None:
        errors = fit.errors(keypoints)
        finite = errors[np.isfinite(errors)]
        if not len(finite):
            raise ConfigError(
                None,
                f"no labeled pose has every keypoint of the {kind} PCA, so its epsilon cannot "
                "be derived from the data.",
                f"Set losses.{kind}.epsilon to a number of pixels.",
            )
        pct = float(loss_cfg.get("empirical_epsilon_percentile", 0.99))
        mult = float(loss_cfg.get("empirical_epsilon_multiplier", 1.0))
        epsilon = mult * float(np.percentile(finite, 100 * pct))
    fit.epsilon = float(epsilon)
    return fit
