"""The outlier queue's scoring off the GUI thread: one smoothed CSV, or a multi-camera result.

Plain functions (no Qt) that the dock runs in napari's worker threads when a smoothed layer
is added; each returns what the dock shows: the smoothed file (or folder), its members and
their ``qc.scores.OutlierScores``.
"""

from __future__ import annotations

from pathlib import Path

from napari_lightning_pose.qc.scores import OutlierScores, scores_from_files


def score_files(csv: str, member_csvs: list[str]) -> tuple[Path, list[Path], OutlierScores]:
    """Score a smoothed CSV's frames with its members (found beside it when not given:
    ``ensemble.files``)."""
    members = [Path(m) for m in member_csvs]
    if not members:  # a smoothed CSV opened by itself: its members lie beside it
        from napari_lightning_pose.ensemble.files import find_ensemble_files

        members = find_ensemble_files(csv).members
    return Path(csv), members, scores_from_files(csv, members)


def score_cameras(out_dir: str) -> tuple[Path, list[Path], OutlierScores]:
    """Score a multi-camera result by its worst camera and, with the rig's calibration, by
    reprojection error (``qc.camera_scores``)."""
    from napari_lightning_pose.qc.camera_scores import camera_scores_from_files
    from napari_lightning_pose.viewer.camera_layers import find_camera_session

    session = find_camera_session(out_dir)
    scores = camera_scores_from_files(session.smoothed, session.members, session.calibration)
    members = [m for found in session.members.values() for m in found]
    return session.out_dir, members, scores
