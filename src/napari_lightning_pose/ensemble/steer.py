"""Smoothing you can steer: re-smooth live at a new smoothing value, and corrections.

:class:`SteerableSmoother` computes the ensemble statistics once; every :meth:`~
SteerableSmoother.smooth` call then runs only the Kalman smoother (a slider can call it on
every move: 10,000 frames x 17 keypoints in ~20 ms on one CPU core, ``bench_steer.py``).

A correction is an observation: the user's position of keypoint ``k`` in frame ``t``
replaces the ensemble's observation there, with variance ``CORRECTION_VAR`` (1e-4 px^2,
i.e. a 0.01 px standard deviation: near-certain next to ensemble variances of ~1-100 px^2).
The smoother then passes (within a fraction of a pixel) through the corrected point, and
the neighbouring frames re-fit, less and less with distance, as the random walk dictates.
For a multi-view keypoint the correction is an observation of that view; the other views
follow through the shared latent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from napari_lightning_pose.ensemble.members import EnsembleMembers, Member, load_members
from napari_lightning_pose.ensemble.smooth import (
    Smoothing,
    SmoothResult,
    parse_views,
    smooth_stats,
)
from napari_lightning_pose.ensemble.stats import Center, ensemble_stats
from napari_lightning_pose.errors import LightningPoseInputError

#: Observation variance of a correction (px^2).
CORRECTION_VAR = 1e-4


@dataclass(frozen=True)
class Correction:
    """A user-placed position of one keypoint in one frame (pixels)."""

    frame: int
    keypoint: str
    x: float
    y: float


class SteerableSmoother:
    """EKS of one ensemble, re-run cheaply at new smoothing values and with corrections.

    Parameters
    ----------
    members : sequence of path or DataFrame, or EnsembleMembers
        Prediction tables of the video, one per model.
    views : sequence of V sequences of keypoint indices or names, optional
        Multi-view groups (as in ``smooth_ensemble``).
    image_size : (width, height), optional
        When given, corrections must lie inside the image.
    center, confidence_weighted
        As in ``smooth_ensemble``.
    """

    def __init__(
        self,
        members: Sequence[Member] | EnsembleMembers,
        views: Sequence[Sequence[int | str]] | None = None,
        image_size: tuple[int, int] | None = None,
        center: Center = "median",
        confidence_weighted: bool = True,
    ) -> None:
        self.ens = members if isinstance(members, EnsembleMembers) else load_members(members)
        self.groups = parse_views(views, self.ens.keypoints) if views is not None else []
        self.stats = ensemble_stats(self.ens.xy, self.ens.likelihood, center, confidence_weighted)
        self.image_size = image_size
        self.corrections: dict[tuple[int, str], Correction] = {}
        self._row = {int(f): i for i, f in enumerate(self.ens.index)}
        # ensemble columns of the table, from the uncorrected statistics, built once
        self._cache: dict = {}
        smooth_stats(self.ens, self.stats, 1.0, self.groups, self._cache)

    @property
    def keypoints(self) -> list[str]:
        """Keypoint names in column order."""
        return list(self.ens.keypoints)

    def correct(self, frame: int, keypoint: str, x: float, y: float) -> Correction:
        """Add (or move) a correction of ``keypoint`` in ``frame``.

        Raises
        ------
        LightningPoseInputError
            Unknown frame or keypoint, a non-finite position, or one outside the image.
        """
        if keypoint not in self.ens.keypoints:
            raise LightningPoseInputError(
                None, f"cannot correct unknown keypoint {keypoint!r}; known: {self.keypoints}."
            )
        if int(frame) not in self._row:
            raise LightningPoseInputError(None, f"cannot correct frame {frame}: not in the video.")
        if not (np.isfinite(x) and np.isfinite(y)):
            raise LightningPoseInputError(None, f"correction ({x}, {y}) is not a position.")
        if self.image_size is not None:
            width, height = self.image_size
            if not (0 <= x < width and 0 <= y < height):
                raise LightningPoseInputError(
                    None,
                    f"correction of {keypoint!r} in frame {frame} at ({x:.1f}, {y:.1f}) lies "
                    f"outside the {width} x {height} image.",
                    "Drop the point inside the frame.",
                )
        corr = Correction(int(frame), keypoint, float(x), float(y))
        self.corrections[(corr.frame, keypoint)] = corr
        return corr

    def remove_correction(self, frame: int, keypoint: str) -> None:
        """Forget the correction of ``keypoint`` in ``frame`` (if any)."""
        self.corrections.pop((int(frame), keypoint), None)

    def _corrected_stats(self, corrections: Sequence[Correction]):
        if not corrections:
            return self.stats
        center = self.stats.center.copy()
        variance = self.stats.variance.copy()
        n_valid = self.stats.n_valid.copy()
        for c in corrections:
            t, k = self._row[c.frame], self.ens.keypoints.index(c.keypoint)
            center[t, k] = (c.x, c.y)
            variance[t, k] = CORRECTION_VAR
            n_valid[t, k] = max(n_valid[t, k], 1)
        return replace(self.stats, center=center, variance=variance, n_valid=n_valid)

    def smooth(
        self, smoothing: Smoothing = "auto", corrections: Sequence[Correction] | None = None
    ) -> SmoothResult:
        """The smoothed table at ``smoothing`` (a value, per-keypoint mapping or ``"auto"``),
        through every correction; columns as ``smooth_ensemble``'s.

        ``corrections`` (default: this smoother's) lets a worker thread smooth through a
        snapshot while the GUI thread adds corrections; one smooth at a time (the statistics
        cache is shared).
        """
        if corrections is None:
            corrections = list(self.corrections.values())
        stats = self._corrected_stats(corrections)
        return smooth_stats(self.ens, stats, smoothing, self.groups, self._cache)


def per_keypoint_smoothing(
    base: float, factors: Mapping[str, float], keypoints: Sequence[str]
) -> dict[str, float]:
    """``base`` times each keypoint's factor (1 when absent): a global slider with per-keypoint
    adjustments, as one mapping for :meth:`SteerableSmoother.smooth`."""
    return {k: float(base) * float(factors.get(k, 1.0)) for k in keypoints}
