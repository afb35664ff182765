"""Issue 22's bar: frames where two or more members are off, real or planted, as events."""

from __future__ import annotations

import numpy as np

from napari_lightning_pose.qc.members_off import (
    BAR_FACTOR,
    member_xy,
    members_off_events,
    typical_ensemble_sd,
)
from napari_lightning_pose.qc.planting import found_at_k, plant_prediction_errors


def test_disagreements_are_events_and_shared_jumps_are_not(make_planted):
    planted = make_planted()  # members disagree on the paw at 150, 330; all jump at 60, 250
    xy, names = member_xy(planted.members)
    assert xy.shape == (len(planted.members), *planted.truth.shape)
    bar = BAR_FACTOR * typical_ensemble_sd(xy)
    events = members_off_events(xy, names, bar)
    assert [e.frames for e in events] == [(f,) for f in planted.disagree]
    assert all(e.keypoints == ("paw",) and e.members_off >= 2 for e in events)
    assert all(e.size > bar for e in events)


def test_typical_sd_is_the_median_spread():
    xy = np.zeros((2, 50, 3, 2))
    xy[1, :, :, 0] = 2.0  # two members 2 px apart in x: SD 1 px everywhere
    xy[1, :5, 0, 0] = 40.0  # a few wild frames do not move the median
    assert np.isclose(typical_ensemble_sd(xy), 1.0)


def _ensemble(frames: int = 200, members: int = 5) -> np.ndarray:
    rng = np.random.default_rng(0)
    return 100 + rng.normal(0, 0.5, (members, frames, 2, 2))


def test_one_member_off_is_not_enough_and_close_frames_merge():
    xy = _ensemble()
    xy[0, 20, 1] += 30  # one member off
    xy[[0, 1], 80, 0] += (25, -25)  # two members off, in opposite directions
    xy[[2, 3], 84, 0] += 25  # again 4 frames later: the same stretch
    xy[[1, 4], 150, 1] += 25  # far from the rest: its own event
    events = members_off_events(xy, ["a", "b"], bar=10.0, merge_gap=10)
    assert [(e.frames[0], e.frames[-1]) for e in events] == [(80, 84), (150, 150)]
    assert events[0].keypoints == ("a",) and events[1].keypoints == ("b",)
    assert events[0].size >= 25 - 2  # at least two members this far off (noise 0.5 px)
    one = members_off_events(xy, ["a", "b"], bar=10.0, min_members=1)
    assert one[0].frames == (20,)


def test_planted_two_member_errors_meet_the_bar_and_are_found(make_planted):
    members = make_planted(disagree=()).members
    bar = BAR_FACTOR * typical_ensemble_sd(member_xy(members)[0])
    planted, events = plant_prediction_errors(members, 4, seed=0, kinds=("two_members",))
    off = members_off_events(*member_xy(planted), bar)
    largest = sorted(off, key=lambda e: -e.size)[: len(events)]
    found, _ = found_at_k(events, [e.frames[0] for e in largest], k=len(events), tolerance=0)
    assert found.all()  # the planted errors are the largest events (noise may add small ones)
