"""Labeling a multi-camera project: aligned frames, a session per view's CSV, offers across
views through the calibration."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from napari_lightning_pose.io.labels import read_labels, write_labels
from napari_lightning_pose.labeling.views_session import (
    align_view_images,
    cross_view_offer,
    offer_for_frame,
    read_view_sessions,
    session_cameras,
)

from .view_project import KEYPOINTS, VIEWS, labels_csv, make_view_project


def test_frames_are_aligned_on_session_and_image_name() -> None:
    images = [
        "labeled-data/s1_top/img1.png",
        "labeled-data/s1_side/img1.png",
        "labeled-data/s1_top/img2.png",  # no side view of this frame
        "labeled-data/s0_side/img5.png",
        "labeled-data/s0_top/img5.png",
        "labeled-data/other/img9.png",  # no view in the folder's name
    ]
    frames, per_view, left_out = align_view_images(images, ("top", "side"))
    assert frames == [("s0", "img5.png"), ("s1", "img1.png")]
    assert per_view["side"] == ["labeled-data/s0_side/img5.png", "labeled-data/s1_side/img1.png"]
    assert left_out == ["labeled-data/s1_top/img2.png"]


@pytest.fixture
def rig_project(tmp_path: Path):
    return make_view_project(tmp_path / "proj")


def test_each_view_is_its_own_session_on_the_same_frames(rig_project) -> None:
    config, pixels = rig_project
    vs = read_view_sessions(config)
    assert vs.views == VIEWS and vs.frames == [("session0", f"img{i}.png") for i in range(4)]
    assert [len(vs.stacks[v]) for v in VIEWS] == [4, 4, 4]
    np.testing.assert_allclose(vs.labels_at(0), np.stack([pixels[v][0] for v in VIEWS]))
    assert np.isnan(vs.labels_at(1)[2]).all()
    for view in VIEWS:
        assert vs.sessions[view].labels_path == labels_csv(config.parent, view)


def test_a_save_merges_into_that_views_csv_only(rig_project) -> None:
    config, _ = rig_project
    vs = read_view_sessions(config)
    root = config.parent
    before = {v: labels_csv(root, v).read_bytes() for v in VIEWS}
    # another writer moves side's tail on frame 3 meanwhile
    side = read_labels(labels_csv(root, "side"), KEYPOINTS)
    side.iloc[3, 4] = 99.0
    write_labels(side, labels_csv(root, "side"))
    session = vs.sessions["side"]
    session.state.xy[0, 1] = (50.0, 60.0)
    session.dirty = True
    outcome = vs.save()
    assert list(outcome) == ["side"]
    saved = read_labels(labels_csv(root, "side"), KEYPOINTS)
    np.testing.assert_allclose(saved.iloc[0, 2:4], (50.0, 60.0))  # our edit
    assert saved.iloc[3, 4] == 99.0  # theirs survives
    for view in ("top", "front"):
        assert labels_csv(root, view).read_bytes() == before[view]


def test_labels_in_two_views_are_offered_to_the_third_with_errors(rig_project) -> None:
    config, pixels = rig_project
    vs = read_view_sessions(config)
    from napari_lightning_pose.io.config import load_config

    cams = session_cameras(load_config(config), vs.views, [s for s, _ in vs.frames])
    assert list(cams) == ["session0"]
    offer = offer_for_frame(vs, 1, cams)
    front = VIEWS.index("front")
    np.testing.assert_allclose(offer.proposed[front], pixels["front"][1], atol=1e-6)
    assert np.isnan(offer.proposed[:front]).all()  # labeled views get no offer
    assert np.nanmax(offer.error) < 1e-6  # exact labels agree
    off = offer_for_frame(vs, 2, cams)
    assert off.error[front, 0] == pytest.approx(off.error.max())
    assert off.error[front, 0] == pytest.approx(10.0, abs=0.5)  # from the other two views
    # top and side miss too (the bad label pulls their triangulation), less: only front is
    # suspect
    assert off.error[0, 0] > 5 and off.error[1, 0] > 5
    np.testing.assert_array_equal(off.suspect[:, 0], [False, False, True])
    assert not off.suspect[:, 1:].any()
    assert np.nanmax(np.delete(off.error, 0, axis=1)) < 1e-6  # the other keypoints fit
    one = np.full((3, 3, 2), np.nan)
    one[0] = pixels["top"][0]  # one view only: nothing to triangulate
    rig = cams["session0"]
    assert np.isnan(cross_view_offer(rig, one).proposed).all()
    shutil.rmtree(config.parent / "calibrations")
    assert session_cameras(load_config(config), vs.views, ["session0"]) == {}
