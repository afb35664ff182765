"""Ensemble statistics and the Ensemble Kalman Smoother (single- and multi-view).

Pure numpy/scipy; no Qt. Start with :func:`smooth_ensemble` (prediction CSVs in, smoothed
table with posterior variances out) and :func:`write_smoothed_csv`; the QC view reads
uncertainty with :func:`posterior_std` and :func:`most_uncertain_frames`.
"""

from napari_lightning_pose.ensemble.members import EnsembleMembers, load_members
from napari_lightning_pose.ensemble.smooth import (
    EKS_COORDS,
    SmoothResult,
    parse_views,
    poses_only,
    smooth_ensemble,
    write_smoothed_csv,
)
from napari_lightning_pose.ensemble.stats import EnsembleStats, ensemble_stats
from napari_lightning_pose.ensemble.uncertainty import (
    ensemble_std,
    most_uncertain_frames,
    posterior_std,
    to_movement_dataset,
)

__all__ = [
    "EKS_COORDS",
    "EnsembleMembers",
    "EnsembleStats",
    "SmoothResult",
    "ensemble_stats",
    "ensemble_std",
    "load_members",
    "most_uncertain_frames",
    "parse_views",
    "poses_only",
    "posterior_std",
    "smooth_ensemble",
    "to_movement_dataset",
    "write_smoothed_csv",
]
