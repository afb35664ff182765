"""The user keeps labeling while a model trains: the Label keypoints dock, driven with real
clicks and keys on the canvas, works while the Train dock's worker runs, and both finish
with valid files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_lightning_pose.io.labels import read_labels
from napari_lightning_pose.io.pose_csv import coords_array
from napari_lightning_pose.training import read_checkpoint
from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget
from napari_lightning_pose.viewer.widgets.training import TrainingWidget

pytestmark = pytest.mark.slow
LEFT = Qt.MouseButton.LeftButton
Key = Qt.Key
STEPS = 40


def test_labeling_dock_stays_usable_while_training(
    make_napari_viewer, qtbot, blob_project: Path, sample_project: Path, click, press
) -> None:
    viewer = make_napari_viewer(show=True)
    labeling = LabelingWidget(viewer)
    viewer.window.add_dock_widget(labeling, name="Label keypoints", area="right")
    assert labeling.load_project(sample_project)
    trainer = TrainingWidget(viewer)
    viewer.window.add_dock_widget(trainer, name="Train", area="right")
    trainer.project_edit.setText(str(blob_project))
    trainer.model_combo.setCurrentText("supervised")
    trainer.device_combo.setCurrentText("cpu")
    trainer.members_spin.setValue(1)
    trainer.steps_spin.setValue(STEPS)
    qtbot.mouseClick(trainer.train_button, LEFT)
    qtbot.waitUntil(lambda: trainer.progress.value() >= 1, timeout=60_000)
    step_before = trainer.progress.value()

    # a user's labeling session on img00 (frame 0, nothing labeled yet) while the ensemble
    # trains: every click and key does what it should. (How long each takes, in ms, is
    # measured by benchmarks/bench_gui_stalls.py: a shared CI machine's timings are no test.)

    def act(action, *args) -> None:
        assert trainer.running, "training ended before the labeling did; raise STEPS"
        action(viewer, *args)
        qtbot.wait(30)  # the worker gets the GIL back between actions, as between a user's

    labeling.go_to_frame(0)
    act(click, 50, 60)  # places paw1LH_top, moves on to paw2LF_top
    assert labeling.current_keypoint == "paw2LF_top"
    act(press, Key.Key_Down)  # skip paw2LF_top
    assert labeling.current_keypoint == "paw3RF_top"
    act(click, 120, 200)  # places paw3RF_top
    act(press, Key.Key_N)  # paw4RH_top not visible
    act(press, Key.Key_Right)  # next frame, and back
    assert viewer.dims.current_step[0] == 1
    act(press, Key.Key_Left)
    assert viewer.dims.current_step[0] == 0
    assert trainer.running
    qtbot.mouseClick(labeling.save_button, LEFT)
    assert not labeling.dirty

    saved = read_labels(labeling.labels_path)
    row = coords_array(saved.loc[["labeled-data/img00.png"]])[0]  # (K, 2) x, y
    names = list(saved.columns.get_level_values("bodyparts")[::2])
    np.testing.assert_allclose(row[names.index("paw1LH_top")], [60, 50], atol=1.0)
    np.testing.assert_allclose(row[names.index("paw3RF_top")], [200, 120], atol=1.0)
    assert np.isnan(row[names.index("paw2LF_top")]).all()
    assert np.isnan(row[names.index("paw4RH_top")]).all()

    # the run was going before, during and after the labeling (a training step can take
    # longer than the whole labeling session on a busy machine, so the bar need not move in
    # between); it goes on to the end with a valid, complete checkpoint
    qtbot.waitUntil(lambda: trainer.progress.value() > step_before, timeout=180_000)
    qtbot.waitUntil(lambda: not trainer.running, timeout=180_000)
    ckpt, _ = read_checkpoint(blob_project.parent / "models" / "blobs" / "member0" / "last.ckpt")
    assert ckpt["step"] == STEPS
    assert trainer.last_event.event.kind == "done"
    assert all(np.isfinite(v.numpy()).all() for v in ckpt["state_dict"].values())
