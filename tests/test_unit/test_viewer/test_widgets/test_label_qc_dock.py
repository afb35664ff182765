"""Label QC dock in the real window: rank planted label errors, jump to them in the
labeling dock, fix one there, confirm another; labels change only by the user's click."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_lightning_pose.io.labels import read_labels, write_labels

DOCS = Path(__file__).resolve().parents[4] / "docs"
LEFT = Qt.MouseButton.LeftButton
MOVED = ("labeled-data/img05.png", "nose_top")
SWAPPED = ("labeled-data/img12.png", "paw2LF_bot", "paw3RF_bot")


def _save_docs_picture(shot: np.ndarray, name: str) -> None:
    if os.environ.get("NLP_UPDATE_DOCS") == "1":
        from PIL import Image

        DOCS.mkdir(exist_ok=True)
        Image.fromarray(shot).save(DOCS / name)


def _plant(config: Path) -> tuple[float, float]:
    """Move nose_top of img05 50 px right, swap the bottom front paws of img12; returns
    the nose's true (y, x)."""
    csv = config.parent / "CollectedData.csv"
    labels = read_labels(csv)
    image, kp = MOVED
    truth = (
        float(labels.loc[image, (slice(None), kp, "y")].iloc[0]),
        float(labels.loc[image, (slice(None), kp, "x")].iloc[0]),
    )
    labels.loc[image, (slice(None), kp, "x")] += 50.0
    image, a, b = SWAPPED
    for coord in ("x", "y"):
        va = labels.loc[image, (slice(None), a, coord)].iloc[0]
        vb = labels.loc[image, (slice(None), b, coord)].iloc[0]
        labels.loc[image, (slice(None), a, coord)] = vb
        labels.loc[image, (slice(None), b, coord)] = va
    write_labels(labels, csv)
    return truth


def _check(qtbot, dock) -> None:
    qtbot.mouseClick(dock.check_button, LEFT)
    qtbot.waitUntil(lambda: not dock.running and dock.result is not None, timeout=60_000)


def _click_row(qtbot, dock, image: str) -> int:
    row = list(dock.ranked["image"]).index(image)
    rect = dock.table.visualItemRect(dock.table.item(row, 1))
    qtbot.mouseClick(dock.table.viewport(), LEFT, pos=rect.center())
    return row


@pytest.mark.slow
def test_rank_jump_fix_and_confirm(make_napari_viewer, sample_project, qtbot, click):
    from napari_lightning_pose.viewer.widgets.label_qc import LabelQCWidget
    from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget

    truth = _plant(sample_project)
    csv = sample_project.parent / "CollectedData.csv"
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1700, 950)
    labeling = LabelingWidget(viewer)
    viewer.window.add_dock_widget(labeling, name="Label keypoints", area="right")
    assert labeling.load_project(sample_project)
    dock = LabelQCWidget(viewer)
    dock.setMinimumWidth(440)
    viewer.window.add_dock_widget(dock, name="Label QC", area="left")
    dock.project_edit.setText(str(sample_project))

    # rank: both planted errors come first
    _check(qtbot, dock)
    assert set(dock.ranked["image"][:2]) == {MOVED[0], SWAPPED[0]}
    assert dock.table.rowCount() == len(dock.ranked)
    assert dock.table.item(0, 4).text()  # "why": each criterion's part

    # jump: a row opens its frame in the labeling dock with its keypoint selected
    row = _click_row(qtbot, dock, SWAPPED[0])
    assert labeling.current_image == SWAPPED[0]
    assert labeling.current_keypoint == dock.ranked["keypoint"][row]
    assert labeling.current_keypoint in SWAPPED[1:]
    qtbot.wait(100)
    _save_docs_picture(viewer.screenshot(canvas_only=False, flash=False), "label_qc.png")

    # fix: the user clicks the nose where it belongs; checking again drops the frame
    _click_row(qtbot, dock, MOVED[0])
    assert labeling.current_image == MOVED[0]
    labeling.set_current_keypoint(MOVED[1])
    click(viewer, *truth)
    assert labeling.save()
    _check(qtbot, dock)
    assert MOVED[0] not in set(dock.ranked["image"][:3])

    # confirm: remembered, leaves the list, and never touches the labels
    before = csv.read_bytes()
    row = _click_row(qtbot, dock, SWAPPED[0])
    qtbot.mouseClick(dock.confirm_button, LEFT)
    assert SWAPPED[0] not in set(dock.ranked["image"])
    assert csv.read_bytes() == before
    _check(qtbot, dock)
    assert SWAPPED[0] not in set(dock.ranked["image"])
    assert "confirmed" in dock.status.text()
