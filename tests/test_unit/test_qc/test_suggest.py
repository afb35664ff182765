"""Frame suggestion: uncertain first, diverse, never next to labels or to each other."""

from __future__ import annotations

import numpy as np
import pytest

from napari_lightning_pose.errors import LightningPoseInputError
from napari_lightning_pose.qc.suggest import diverse_uncertain, near_any


def test_near_any():
    assert near_any(np.array([0, 5, 9, 20]), [7], 3).tolist() == [False, True, True, False]
    assert not near_any(np.array([1, 2]), [], 5).any()


def test_picks_are_uncertain_and_skip_neighbours_and_labels():
    u = np.zeros(200)
    u[[50, 51, 52, 120, 121, 10]] = [9, 8.5, 8, 7, 6.9, 10]
    picked = diverse_uncertain(u, None, 3, exclude=[12], min_gap=5)
    frames = set(picked.tolist())
    assert 10 not in frames  # within 5 of the labeled frame 12
    assert {50, 120} <= frames and len(frames) == 3
    assert not ({51, 52, 121} & frames)  # neighbours of picks
    assert all(abs(a - b) >= 5 for a in frames for b in frames if a != b)


def test_diversity_spreads_over_appearance():
    # two looks; the 10 most uncertain frames are all of look A, look B a bit less uncertain
    rng = np.random.default_rng(0)
    n = 60
    looks = np.where(np.arange(n) % 2 == 0, 0, 1)
    feats = looks[:, None] * 10.0 + rng.normal(0, 0.1, (n, 8))
    u = np.where(looks == 0, 5.0, 4.0) + rng.uniform(0, 0.1, n)
    plain = diverse_uncertain(u, None, 4)
    assert set(looks[plain]) == {0}
    diverse = diverse_uncertain(u, feats, 4, pool_factor=10)
    assert set(looks[diverse]) == {0, 1}


def test_gaps_apply_per_video_and_excludes_per_video():
    u = np.array([5.0, 4.9, 1.0, 1.0])
    frames = np.array([10, 11, 10, 30])
    groups = np.array(["a", "a", "b", "b"])
    picked = diverse_uncertain(u, None, 2, frames, groups, exclude={"b": [30]}, min_gap=3)
    assert sorted(picked.tolist()) == [0, 2]  # frame 10 of both videos; b's 30 is labeled


def test_more_frames_than_available_is_a_clear_error():
    with pytest.raises(LightningPoseInputError, match="asked for 5 frames but only 3"):
        diverse_uncertain(np.ones(5), None, 5, exclude=[0, 1])
    with pytest.raises(LightningPoseInputError, match=">= 1"):
        diverse_uncertain(np.ones(5), None, 0)
