"""Issue 23's loop in the real window on the two-camera mirror-mouse sample: label a view with
real canvas clicks (Label views), train with pca_multiview across the cameras (Train dock),
predict + smooth the session (Predict + smooth dock), and check the grid and outlier queue."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from napari_lightning_pose.io.labels import read_labels
from napari_lightning_pose.io.pose_csv import coords_array
from napari_lightning_pose.viewer.layer_styles import POSTERIOR_SD_LIMITS_PX, heat_rgba

from .test_view_labeling import _click_in_box

# window tests of a few seconds each: the fast lane leaves them to CI
pytestmark = pytest.mark.slow


def tiny_split_project(split_sample, root: Path) -> Path:
    """A writable copy of the two-camera sample whose config trains in seconds on a CPU
    (64 px input, random resnet18, no augmentation, 4-frame clips)."""
    shutil.copytree(split_sample.config.parent, root)
    config = root / "config.yaml"
    cfg = yaml.safe_load(config.read_text())
    cfg["data"]["image_resize_dims"] = {"height": 64, "width": 64}
    cfg.setdefault("training", {}).update(
        train_batch_size=4, steps_per_epoch=2, num_workers=0, imgaug="none",
        accelerator="cpu", num_threads=1, freeze_batchnorm=False, unfreezing_epoch=0,
    )  # fmt: skip
    cfg.setdefault("model", {}).update(backbone="resnet18", backbone_weights=None)
    cfg["dali"] = {"base": {"train": {"sequence_length": 4}}}
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return config


def test_two_cameras_label_train_predict_smooth_and_check_in_the_grid(
    make_napari_viewer, split_sample, tmp_path, qtbot
) -> None:
    from napari_lightning_pose.viewer.widgets.outliers import OutlierQueueWidget

    torch.set_num_threads(1)
    config = tiny_split_project(split_sample, tmp_path / "split")
    root = config.parent
    views = list(split_sample.views)  # top, bottom
    names = split_sample.keypoint_names
    viewer = make_napari_viewer(show=True)

    # --- label: move bottom's nose in frame 7 with a real click in bottom's view box
    _, label_dock = viewer.window.add_plugin_dock_widget("napari-lightning-pose", "Label views")
    assert label_dock.load_project(config)
    qtbot.waitUntil(lambda: not label_dock.busy, timeout=60_000)
    viewer.dims.set_current_step(0, 7)
    bottom = label_dock.views.sessions["bottom"].state
    image = bottom.images[7]
    before_top = (root / "CollectedData_top.csv").read_bytes()
    nose = names.index("nose")
    old = bottom.xy[7, nose].copy()
    target = old + np.array([6.0, -5.0])  # (x, y)
    viewer.window._qt_window.resize(1400, 800)  # both view boxes on the canvas
    qtbot.wait(300)
    viewer.reset_view()
    qtbot.wait(100)
    # a first click in bottom's box makes it the view edited; it moves no label
    _click_in_box(viewer, qtbot, views.index("bottom"), target[1], target[0])
    assert label_dock.view == "bottom"
    np.testing.assert_allclose(bottom.xy[7, nose], old)
    label_dock.keypoint_combo.activated.emit(nose)  # the user picks the nose to re-place it
    _click_in_box(viewer, qtbot, views.index("bottom"), target[1], target[0])
    np.testing.assert_allclose(bottom.xy[7, nose], target, atol=1.0)
    assert label_dock.save()
    saved = read_labels(root / "CollectedData_bottom.csv", names)
    row = saved.index.get_loc(image)
    np.testing.assert_allclose(coords_array(saved)[row, nose], target, atol=1.0)
    assert (root / "CollectedData_top.csv").read_bytes() == before_top  # the other view's file
    viewer.layers.clear()  # done labeling: the result's grid gets the canvas

    # --- train: 2 members, pca_multiview across the two cameras
    _, train = viewer.window.add_plugin_dock_widget("napari-lightning-pose", "Train")
    train.project_edit.setText(str(config))
    assert "2 cameras: top 50, bottom 50 labeled frames; 50 labeled in every camera" in (
        train.labels_note.text()
    )
    train.model_combo.setCurrentText("semi-supervised")
    assert train.loss_checks["pca_multiview"].isEnabled()
    assert "across cameras top, bottom" in train.loss_notes["pca_multiview"].text()
    for name, check in train.loss_checks.items():
        check.setChecked(name == "pca_multiview")
    train.steps_spin.setValue(3)
    train.members_spin.setValue(2)
    train.device_combo.setCurrentText("cpu")
    train.train_button.click()
    qtbot.waitUntil(lambda: not train.running, timeout=600_000)
    assert train.status.text().startswith("Trained 2 members"), train.status.text()
    members = sorted(p for p in train.out_dir.iterdir() if p.is_dir())
    assert len(members) == 2
    ckpt = torch.load(members[0] / "last.ckpt", weights_only=False)
    assert tuple(ckpt["pca"]["pca_multiview"]["columns"].shape) == (2, len(names))

    # --- predict + smooth the session; the grid, the traces and the outlier queue
    queue = OutlierQueueWidget(viewer)
    viewer.window.add_dock_widget(queue, name="Outlier queue", area="right")
    _, predict = viewer.window.add_plugin_dock_widget("napari-lightning-pose", "Predict + smooth")
    predict.project_edit.setText(str(config))
    predict.project_edit.editingFinished.emit()
    assert predict.session_combo.currentText() == "test_vid"
    assert predict.session_combo.isVisibleTo(predict)
    assert not predict.video_edit.isVisibleTo(predict)
    predict.device_combo.setCurrentText("cpu")
    predict.run_button.click()
    qtbot.waitUntil(lambda: not predict.busy, timeout=300_000)
    out = root / "predictions" / "test_vid"
    assert "Saved 2 smoothed tables (top, bottom)" in predict.status.text(), predict.status.text()
    for view in views:
        assert (out / f"{view}.eks.csv").is_file()
        assert len(list(out.glob(f"*/test_vid_{view}.csv"))) == 2  # each member's
    videos = {view: root / "videos" / f"test_vid_{view}.mp4" for view in views}
    assert predict.camera_result.session.videos == videos
    grid = viewer.canvas.grid
    layers = list(viewer.layers)
    assert grid.enabled and len(layers) % 2 == 0
    stride = len(layers) // 2
    boxes = [grid.position(i, layers) for i in range(len(layers))]
    assert len(set(boxes)) == 2
    for c, view in enumerate(views):  # each camera: its video and its coloured keypoints
        own = layers[c * stride : (c + 1) * stride]
        assert len({boxes[c * stride + i] for i in range(stride)}) == 1
        assert own[0].metadata["video_path"] == str(videos[view].resolve())
        points = viewer.layers[view]
        assert points in own
        np.testing.assert_allclose(
            points.face_color,
            heat_rgba(points.features["posterior_sd"], POSTERIOR_SD_LIMITS_PX),
            atol=0.02,
        )
    assert viewer.dims.nsteps[0] == 12  # one time slider for both cameras
    viewer.dims.set_current_step(0, 5)
    for c in range(2):
        assert layers[c * stride + stride - 1]._slice_input.world_slice.point[0] == 5
    qtbot.waitUntil(lambda: queue.scores is not None and not queue.busy, timeout=60_000)
    assert "worst of 2 cameras" in queue.source.text()
    assert queue.table.rowCount() > 0
    assert queue.table.item(0, 4).text().split(":")[0] in views
    # a rerun replaces the result in the grid (no second copy of each camera's layers)
    names_before = [layer.name for layer in viewer.layers]
    predict.run_button.click()
    qtbot.waitUntil(lambda: not predict.busy, timeout=300_000)
    assert [layer.name for layer in viewer.layers] == names_before


def test_train_dock_says_why_pca_multiview_cannot_train_across_the_cameras(
    make_napari_viewer, split_sample, tmp_path
) -> None:
    """Top labels only frames 0-24, bottom only 25-49: no frame is labeled in both cameras,
    so the cross-camera PCA has nothing to fit; the dock greys it out and says so."""
    from napari_lightning_pose.io.labels import write_labels

    config = tiny_split_project(split_sample, tmp_path / "split")
    for view, rows in (("top", slice(25, 50)), ("bottom", slice(0, 25))):
        csv = config.parent / f"CollectedData_{view}.csv"
        labels = read_labels(csv)
        labels.iloc[rows] = np.nan
        write_labels(labels, csv, backups=0)
    viewer = make_napari_viewer()
    _, train = viewer.window.add_plugin_dock_widget("napari-lightning-pose", "Train")
    train.model_combo.setCurrentText("semi-supervised")
    train.project_edit.setText(str(config))
    assert "top 25, bottom 25 labeled frames; 0 labeled in every camera" in (
        train.labels_note.text()
    )
    assert not train.loss_checks["pca_multiview"].isEnabled()
    assert not train.loss_checks["pca_multiview"].isChecked()
    assert "pca_multiview needs" in train.loss_notes["pca_multiview"].text()
    assert train.loss_checks["temporal"].isEnabled()


def test_predict_dock_refuses_a_session_missing_a_camera(
    make_napari_viewer, split_sample, tmp_path
) -> None:
    """A session whose bottom video is missing: refused naming the file, nothing written."""
    config = tiny_split_project(split_sample, tmp_path / "split")
    (config.parent / "videos" / "test_vid_bottom.mp4").unlink()
    viewer = make_napari_viewer()
    _, predict = viewer.window.add_plugin_dock_widget("napari-lightning-pose", "Predict + smooth")
    predict.project_edit.setText(str(config))
    predict.project_edit.editingFinished.emit()
    assert predict.session_combo.count() == 0
    assert not predict.start()
    text = predict.status.text()
    assert "test_vid_top.mp4" in text and "bottom" in text, text
    assert not (config.parent / "predictions").exists()
