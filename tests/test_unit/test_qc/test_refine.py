"""Refine: appended, pre-filled, unconfirmed rows; existing rows byte-identical; no overwrite."""

from __future__ import annotations

import numpy as np

from napari_lightning_pose.data.labeled import LabeledFrames
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.image_paths import image_path
from napari_lightning_pose.io.labels import drop_unlabeled, frame_labels
from napari_lightning_pose.labeling.project import Project
from napari_lightning_pose.qc.refine import (
    confirm_points,
    prefill_path,
    read_prefill,
    refine_frames,
    unconfirmed,
)


def test_label_these_appends_prefilled_unconfirmed_rows(blob_smoothed):
    config, video, smoothed = blob_smoothed
    project = Project.open(config)
    before = project.csv_path.read_bytes()
    result = refine_frames(project, video, [5, 17], smoothed, context=2)
    assert result.added == [image_path("blobs", 5), image_path("blobs", 17)]
    after = project.csv_path.read_bytes()
    assert after.startswith(before)  # existing rows byte-identical, new rows appended
    labels = project.read_labels()
    assert list(labels.index[-2:]) == result.added
    assert np.isnan(labels.loc[result.added].to_numpy()).all()  # nothing "placed by a person"
    assert len(drop_unlabeled(labels)) == 40  # training sees only the original labels
    # pre-filled positions = smoothed positions, in the sidecar
    pre = read_prefill(project)
    want = smoothed.loc[17].xs("x", level="coords").to_numpy()
    assert np.allclose(frame_labels(pre, image_path("blobs", 17))[:, 0], want)
    assert len(unconfirmed(project)) == 2
    # the frames and their context neighbours are on disk
    for f in (3, 4, 5, 6, 7, 15, 19):
        assert (project.data_dir / image_path("blobs", f)).is_file()
    # training loads only person-placed labels
    cfg = load_config(config)
    assert len(LabeledFrames(cfg).labels) == 40


def test_refining_a_frame_that_has_a_row_skips_it(blob_smoothed):
    config, video, smoothed = blob_smoothed
    project = Project.open(config)
    refine_frames(project, video, [5], smoothed, context=0)
    snapshot = project.csv_path.read_bytes()
    sidecar = prefill_path(project).read_bytes()
    result = refine_frames(project, video, [5, 9], smoothed, context=0)
    assert result.skipped == [image_path("blobs", 5)]
    assert "already has a row" in result.messages[0]
    assert result.added == [image_path("blobs", 9)]
    assert project.csv_path.read_bytes().startswith(snapshot)
    assert read_prefill(project).index.tolist() == [image_path("blobs", 5), image_path("blobs", 9)]
    assert prefill_path(project).read_bytes() != sidecar


def test_confirming_moves_points_into_the_labels(blob_smoothed):
    config, video, smoothed = blob_smoothed
    project = Project.open(config)
    im = refine_frames(project, video, [12], smoothed, context=0).added[0]
    pre = frame_labels(read_prefill(project), im)
    confirm_points(project, im, positions={"green": (30.0, 60.0)})  # moved by the user
    row = frame_labels(project.read_labels(), im)
    assert np.allclose(row[1], (30, 60)) and np.isnan(row[0]).all()
    left = unconfirmed(project)
    assert np.allclose(frame_labels(left, im)[0], pre[0])  # red still unconfirmed
    assert np.isnan(frame_labels(left, im)[1]).all()
    confirm_points(project, im, keypoints=["red"])  # accepted as pre-filled
    assert np.allclose(frame_labels(project.read_labels(), im), [pre[0], (30, 60)])
    assert im not in read_prefill(project).index


def test_corrections_saved_as_confirmed_labels(blob_smoothed):
    from napari_lightning_pose.ensemble.steer import Correction
    from napari_lightning_pose.qc.refine import save_corrections

    config, video, smoothed = blob_smoothed
    project = Project.open(config)
    before = project.csv_path.read_bytes()
    result = save_corrections(
        project, video, [Correction(6, "red", 40.0, 20.0)], smoothed=smoothed, context=0
    )
    im = image_path("blobs", 6)
    assert result.added == [im]
    assert project.csv_path.read_bytes()[: len(before)] == before
    row = frame_labels(project.read_labels(), im)
    assert np.allclose(row[0], (40, 20)) and np.isnan(row[1]).all()
    assert np.isfinite(frame_labels(unconfirmed(project), im)[1]).all()  # green pre-filled
    again = save_corrections(project, video, [Correction(6, "red", 1.0, 1.0)])
    assert "already labeled" in again.messages[0]
    assert np.allclose(frame_labels(project.read_labels(), im)[0], (40, 20))


def test_new_frames_are_named_like_the_projects_frames(sample_copy):
    """Label these names a new frame with the padding frame selection uses in the project
    (the sample's ``img01``: 2 digits, so frame 139 is ``img139.png``, not ``img00139``)."""
    from napari_lightning_pose.io.pose_csv import make_pose_frame
    from napari_lightning_pose.labeling.frames import project_frame_digits

    project = Project.open(sample_copy)
    video = project.video_paths()[0]
    names = project.keypoint_names
    values = np.full((994, len(names), 3), 100.0)
    smoothed = make_pose_frame(values, names, ("x", "y", "likelihood"), scorer="eks")
    result = refine_frames(project, video, [139], smoothed, context=0)
    digits = project_frame_digits(project, video)
    assert digits == 2
    assert result.added == [image_path(video.stem, 139, digits)]
    assert result.added == ["labeled-data/test_vid/img139.png"]
    assert (project.data_dir / result.added[0]).is_file()
