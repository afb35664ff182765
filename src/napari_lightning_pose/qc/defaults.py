"""Ranking defaults shared by the outlier queue dock and the ``outliers`` command.

Kept apart from ``qc.scores`` so the command line can show them in ``--help`` without
importing numpy and pandas. Chosen with ``benchmarks/outlier_recall.py``: frames at least
``DEFAULT_MIN_GAP`` apart (one uncertain stretch, or a jump and its return step, is listed
once), and one keypoint at most ``FAIR_SHARE_FACTOR`` times its fair share ``1 / K`` of any
top of the list (K keypoints), so one hard keypoint cannot fill the queue.
"""

DEFAULT_MIN_GAP = 10
FAIR_SHARE_FACTOR = 2.0


def default_max_share(n_keypoints: int) -> float:
    """Most of the list one keypoint may hold by default: twice its fair share, at most 1."""
    return min(1.0, FAIR_SHARE_FACTOR / max(1, n_keypoints))
