"""LabelSession: the labeling dock's file side without Qt (read, edit, merge, save, lock)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from napari_lightning_pose.io.labels import read_labels
from napari_lightning_pose.io.lock import LockBusyError, hold_lock
from napari_lightning_pose.labeling.project import Project
from napari_lightning_pose.labeling.session import LabelSession, read_project


def test_read_project_lists_the_frames_and_opens_a_clean_session(sample_copy: Path) -> None:
    Project.open(sample_copy).add_frames(["labeled-data/img00.png"])
    opened = read_project(sample_copy)
    assert opened.config_path == sample_copy / "config.yaml"
    assert len(opened.images) == len(opened.stack) == 51  # 50 labeled + img00
    assert opened.skeleton and all(len(edge) == 2 for edge in opened.skeleton)
    session = LabelSession(opened)
    assert not session.dirty
    assert session.state.images == opened.images
    assert session.base.equals(opened.labels)


def test_save_merges_with_what_another_writer_added_meanwhile(sample_copy: Path) -> None:
    session = LabelSession(read_project(sample_copy))
    first = session.state.images[0]
    frame, kp = 0, 0
    labeled_before = int(session.state.placed().sum())
    session.state.xy[frame, kp] = [11.0, 22.0]  # the user moves one point
    session.dirty = True
    # meanwhile frame selection adds a row on disk
    Project.open(sample_copy).add_frames(["labeled-data/img51.png"])
    outcome = session.save()
    assert not session.dirty and not outcome.merge.conflicts
    assert outcome.merge.added_elsewhere == ["labeled-data/img51.png"]
    on_disk = read_labels(session.labels_path)
    assert "labeled-data/img51.png" in on_disk.index  # the other writer's row survives
    name = session.state.keypoints[kp]
    np.testing.assert_allclose(on_disk.loc[first].xs(name, level="bodyparts"), [11.0, 22.0])
    assert int(np.isfinite(on_disk.to_numpy()).sum()) // 2 == labeled_before  # none lost
    assert session.base.equals(outcome.merge.labels)


def test_the_autosave_skips_a_round_while_another_writer_holds_the_lock(
    sample_copy: Path,
) -> None:
    session = LabelSession(read_project(sample_copy))
    session.state.xy[0, 0] = [5.0, 6.0]
    session.dirty = True
    before = session.labels_path.read_bytes()
    held, release = threading.Event(), threading.Event()

    def select_frames() -> None:
        with hold_lock(session.labels_path, "select-frames"):
            held.set()
            release.wait(10)

    other = threading.Thread(target=select_frames)
    other.start()
    try:
        held.wait(10)
        with pytest.raises(LockBusyError, match="select-frames"):
            session.save(wait=0)
        assert session.dirty and session.labels_path.read_bytes() == before
    finally:
        release.set()
        other.join()
    session.save(wait=0)
    assert not session.dirty
