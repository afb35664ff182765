"""Labeling a multi-camera project: aligned frames, a session per view's CSV, offers across
views through the calibration."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_lightning_pose.ensemble.projection import project
from napari_lightning_pose.ensemble.synthetic_rig import look_at, random_walk_3d
from napari_lightning_pose.io.calibration import save_calibration
from napari_lightning_pose.io.labels import read_labels, write_labels
from napari_lightning_pose.io.pose_csv import make_pose_frame
from napari_lightning_pose.labeling.views_session import (
    align_view_images,
    cross_view_offer,
    offer_for_frame,
    read_view_sessions,
    session_cameras,
)

VIEWS = ("top", "side", "front")
KEYPOINTS = ["nose", "ear", "tail"]


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
    """A three-view project: 4 labeled frames of session0 per view, the rig's calibration in
    calibrations/session0.toml, labels at the true projections except as planted below."""
    from napari_lightning_pose.cli.main import main

    root = tmp_path / "proj"
    assert main(["init", str(root), "--views", *VIEWS, "--keypoints", *KEYPOINTS]) == 0
    rig = [
        look_at([600 * np.cos(a), 600 * np.sin(a), 200.0], v, 900.0, (160, 128))
        for a, v in zip([0.3, 2.4, 4.5], VIEWS, strict=True)
    ]
    (root / "calibrations").mkdir()
    save_calibration(rig, root / "calibrations" / "session0.toml")
    truth = random_walk_3d(4, len(KEYPOINTS), spread=12.0, seed=2)
    pixels = {cam.name: project(cam, truth) for cam in rig}
    for view in VIEWS:
        folder = root / "labeled-data" / f"session0_{view}"
        folder.mkdir(parents=True)
        names = []
        for i in range(4):
            Image.fromarray(np.zeros((128, 160, 3), np.uint8)).save(folder / f"img{i}.png")
            names.append(f"labeled-data/session0_{view}/img{i}.png")
        xy = pixels[view].copy()
        if view == "front":
            xy[1] = np.nan  # frame 1: front not labeled yet
            xy[2, 0] += (10.0, 0.0)  # frame 2: front's nose 10 px off
        write_labels(make_pose_frame(xy, KEYPOINTS, index=names), _csv(root, view))
    return root / "config.yaml", pixels


def _csv(root: Path, view: str) -> Path:
    import yaml

    cfg = yaml.safe_load((root / "config.yaml").read_text())
    return root / cfg["data"]["csv_file"][list(cfg["data"]["view_names"]).index(view)]


def test_each_view_is_its_own_session_on_the_same_frames(rig_project) -> None:
    config, pixels = rig_project
    vs = read_view_sessions(config)
    assert vs.views == VIEWS and vs.frames == [("session0", f"img{i}.png") for i in range(4)]
    assert [len(vs.stacks[v]) for v in VIEWS] == [4, 4, 4]
    np.testing.assert_allclose(vs.labels_at(0), np.stack([pixels[v][0] for v in VIEWS]))
    assert np.isnan(vs.labels_at(1)[2]).all()
    for view in VIEWS:
        assert vs.sessions[view].labels_path == _csv(config.parent, view)


def test_a_save_merges_into_that_views_csv_only(rig_project) -> None:
    config, _ = rig_project
    vs = read_view_sessions(config)
    root = config.parent
    before = {v: _csv(root, v).read_bytes() for v in VIEWS}
    # another writer moves side's tail on frame 3 meanwhile
    side = read_labels(_csv(root, "side"), KEYPOINTS)
    side.iloc[3, 4] = 99.0
    write_labels(side, _csv(root, "side"))
    session = vs.sessions["side"]
    session.state.xy[0, 1] = (50.0, 60.0)
    session.dirty = True
    outcome = vs.save()
    assert list(outcome) == ["side"]
    saved = read_labels(_csv(root, "side"), KEYPOINTS)
    np.testing.assert_allclose(saved.iloc[0, 2:4], (50.0, 60.0))  # our edit
    assert saved.iloc[3, 4] == 99.0  # theirs survives
    for view in ("top", "front"):
        assert _csv(root, view).read_bytes() == before[view]


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
    assert 3 < off.error[front, 0] < 10  # least squares shares the 10 px over the views
    assert np.nanmax(np.delete(off.error, 0, axis=1)) < 1e-6  # the other keypoints fit
    one = np.full((3, 3, 2), np.nan)
    one[0] = pixels["top"][0]  # one view only: nothing to triangulate
    rig = cams["session0"]
    assert np.isnan(cross_view_offer(rig, one).proposed).all()
    shutil.rmtree(config.parent / "calibrations")
    assert session_cameras(load_config(config), vs.views, ["session0"]) == {}
