"""Labels are never lost: the labeling dock's saves merge with what is on disk now.

Each test drives the real napari window: a real canvas click makes an unsaved edit, then
another writer changes ``CollectedData.csv`` (the ``select-frames`` command in a terminal, the
Project dock's Select frames button, a script), then the dock saves. Nothing either side
wrote may be missing from the file afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt, QTimer

from napari_lightning_pose.io.labels import read_labels, set_frame_labels, write_labels
from napari_lightning_pose.io.lock import hold_lock
from napari_lightning_pose.io.pose_csv import coords_array

LEFT = Qt.MouseButton.LeftButton
FIRST = "labeled-data/img00.png"  # frame 0 of the sample project, to label


# frame selection in a terminal, stopped while it holds the labels lock (until stdin closes)
_HOLDER = """
import sys
from napari_lightning_pose.io.lock import hold_lock
with hold_lock(sys.argv[1], "select-frames"):
    print("holding", flush=True)
    sys.stdin.read()
"""


def _src_env() -> dict[str, str]:
    """The environment with this checkout's ``src`` first, for a subprocess."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[4] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    return env


def _hold_in_another_process(csv: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(csv)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_src_env(),
    )  # fmt: skip


def _xy(labels, image: str, keypoint: str) -> np.ndarray:
    return labels.loc[image].xs(keypoint, level="bodyparts").to_numpy(dtype=float)


def _select_frames_in_a_terminal(config: Path, n: int = 3) -> None:
    env = _src_env()
    video = config.parent / "videos" / "test_vid.mp4"
    cmd = [sys.executable, "-m", "napari_lightning_pose.cli", "select-frames"]
    cmd += ["--config", str(config), "--video", str(video), "-n", str(n), "--method", "uniform"]
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=300)


def test_cli_select_frames_while_an_edit_is_unsaved(labeling, click, sample_project, qtbot):
    viewer, widget = labeling
    csv = widget.labels_path
    click(viewer, 50, 60)  # paw1LH_top on img00, not saved yet
    assert widget.dirty
    _select_frames_in_a_terminal(sample_project)
    on_disk = read_labels(csv)
    assert len(on_disk) == 55  # 52 + the 3 new rows
    new_rows = [i for i in on_disk.index if i.startswith("labeled-data/test_vid/")]
    assert len(new_rows) == 3

    qtbot.mouseClick(widget.save_button, LEFT)
    saved = read_labels(csv)
    assert set(new_rows) <= set(saved.index)  # the terminal's rows survive the dock's save
    assert len(saved) == 55
    np.testing.assert_allclose(_xy(saved, FIRST, "paw1LH_top"), [60, 50], atol=1.0)
    # the next autosave after another click keeps them too
    click(viewer, 80, 100)
    widget.set_autosave_interval(0.05)
    qtbot.waitUntil(lambda: not widget.dirty, timeout=5000)
    saved = read_labels(csv)
    assert set(new_rows) <= set(saved.index)
    np.testing.assert_allclose(_xy(saved, FIRST, "paw2LF_top"), [100, 80], atol=1.0)

    # reopened, the dock shows the 3 new frames to label, not their context neighbours
    assert widget.load_project(sample_project)
    assert len(widget.state.images) == 55
    assert set(new_rows) <= set(widget.state.images)


@pytest.mark.slow
def test_project_select_frames_button_while_editing(
    make_napari_viewer, sample_project, qtbot, click
):
    from napari_lightning_pose.viewer.widgets.project import (
        LABELING_WIDGET,
        PLUGIN,
        ProjectWidget,
    )

    viewer = make_napari_viewer(show=True)
    _, labeling = viewer.window.add_plugin_dock_widget(PLUGIN, LABELING_WIDGET)
    assert labeling.load_project(sample_project)
    qtbot.wait(10)
    click(viewer, 50, 60)
    assert labeling.dirty

    project = ProjectWidget(viewer)
    viewer.window.add_dock_widget(project, name="Project", area="right")
    assert project.open_project(sample_project)
    project.n_frames_spin.setValue(3)
    project.method_combo.setCurrentText("uniform")
    qtbot.mouseClick(project.select_button, LEFT)
    qtbot.waitUntil(lambda: project.worker is None, timeout=120_000)

    saved = read_labels(labeling.labels_path)
    new_rows = [i for i in saved.index if i.startswith("labeled-data/test_vid/")]
    assert len(new_rows) == 3
    assert len(saved) == 55
    np.testing.assert_allclose(_xy(saved, FIRST, "paw1LH_top"), [60, 50], atol=1.0)
    # the dock reopened the project: 52 + 3 frames to label, no context neighbours; img00
    # has a label now, so its other keypoints count as not visible (the CSV's convention)
    assert len(labeling.state.images) == 55
    assert set(new_rows) <= set(labeling.state.images)
    assert labeling.counts_label.text() == "labeled frames 51/55, keypoints 17/17"


def test_autosave_pauses_while_a_frame_selection_writes(labeling, click, qtbot):
    viewer, widget = labeling
    csv = widget.labels_path
    before = csv.read_bytes()
    click(viewer, 50, 60)
    widget.set_autosave_interval(0.05)
    holding, release = threading.Event(), threading.Event()

    def select_frames() -> None:  # another thread, as the Project dock's worker
        with hold_lock(csv, "select-frames"):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=select_frames)
    thread.start()
    try:
        assert holding.wait(5)
        qtbot.wait(400)  # several autosave ticks
        assert csv.read_bytes() == before
        assert widget.dirty
        assert "select-frames" in widget.status_label.text()
    finally:
        release.set()
        thread.join()
    qtbot.waitUntil(lambda: not widget.dirty, timeout=5000)
    np.testing.assert_allclose(_xy(read_labels(csv), FIRST, "paw1LH_top"), [60, 50], atol=1.0)


def test_save_waits_for_the_lock_in_a_worker_and_never_writes_without_it(labeling, click, qtbot):
    """Save pressed while frame selection (here another process) holds the lock: the GUI
    thread does not wait, the dock says whom it waits for, nothing is written meanwhile,
    and the labels are saved once the lock is free."""
    viewer, widget = labeling
    csv = widget.labels_path
    before = csv.read_bytes()
    click(viewer, 50, 60)
    holder = _hold_in_another_process(csv)
    try:
        assert holder.stdout.readline().strip() == "holding"
        ticks: list[int] = []
        timer = QTimer()
        timer.timeout.connect(lambda: ticks.append(1))
        timer.start(10)
        qtbot.mouseClick(widget.save_button, LEFT)  # returns at once: the wait is a worker's
        assert widget.waiting_for_lock and widget.dirty
        assert "Save (waiting" in widget.save_button.text()
        status = widget.status_label.text()
        assert status.startswith("waiting") and f"select-frames (pid {holder.pid})" in status
        qtbot.wait(500)
        timer.stop()
        assert len(ticks) > 5  # the event loop turned while the save waited
        assert csv.read_bytes() == before and widget.dirty  # never written without the lock
    finally:
        holder.stdin.close()
        holder.wait(10)
    qtbot.waitUntil(lambda: not widget.dirty, timeout=10_000)
    assert not widget.waiting_for_lock and widget.save_button.text() == "Save"
    np.testing.assert_allclose(_xy(read_labels(csv), FIRST, "paw1LH_top"), [60, 50], atol=1.0)


def test_closing_while_the_lock_is_held_keeps_the_labels_beside_the_csv(
    labeling, click, monkeypatch
):
    """The window closes while another writer holds the lock past the wait: the CSV is not
    written without the lock; the labels go to CollectedData.unsaved.csv and the user is
    told."""
    from napari_lightning_pose.viewer.widgets import label_files

    monkeypatch.setattr(label_files, "SAVE_WAIT_SECONDS", 0.2)
    viewer, widget = labeling
    csv = widget.labels_path
    before = csv.read_bytes()
    click(viewer, 50, 60)
    shown: list[str] = []
    monkeypatch.setattr(label_files, "show_error", shown.append)
    holder = _hold_in_another_process(csv)
    try:
        assert holder.stdout.readline().strip() == "holding"
        viewer.close()
        assert csv.read_bytes() == before
    finally:
        holder.stdin.close()
        holder.wait(10)
    kept = csv.with_name("CollectedData.unsaved.csv")
    np.testing.assert_allclose(_xy(read_labels(kept), FIRST, "paw1LH_top"), [60, 50], atol=1.0)
    assert any(kept.name in message for message in shown)


def test_save_on_close_after_an_outside_change(labeling, click):
    viewer, widget = labeling
    csv = widget.labels_path
    click(viewer, 50, 60)  # unsaved edit of img00
    # a script edits another row and adds one while the dock is open
    outside = read_labels(csv)
    outside = set_frame_labels(outside, "labeled-data/img05.png", {"nose_top": (11.0, 22.0)})
    outside = set_frame_labels(outside, "labeled-data/img99.png", {"nose_top": (1.0, 2.0)})
    write_labels(outside, csv)
    viewer.close()
    saved = read_labels(csv)
    np.testing.assert_allclose(_xy(saved, FIRST, "paw1LH_top"), [60, 50], atol=1.0)
    np.testing.assert_allclose(_xy(saved, "labeled-data/img05.png", "nose_top"), [11, 22])
    np.testing.assert_allclose(_xy(saved, "labeled-data/img99.png", "nose_top"), [1, 2])
    # every other cell is what the script wrote
    others = outside.index.drop(FIRST)
    np.testing.assert_array_equal(
        coords_array(saved.loc[others]), coords_array(outside.loc[others])
    )


def test_a_conflict_on_the_same_cell_is_reported(labeling, click, qtbot, errors):
    viewer, widget = labeling
    csv = widget.labels_path
    click(viewer, 50, 60)  # paw1LH_top on img00
    outside = set_frame_labels(read_labels(csv), FIRST, {"paw1LH_top": (5.0, 6.0)})
    write_labels(outside, csv)
    qtbot.mouseClick(widget.save_button, LEFT)
    message = " ".join(errors)
    assert "img00" in message and "paw1LH_top" in message  # the user is told which cell
    assert "5" in message and "6" in message  # and what the other value was
    assert "conflict" in widget.status_label.text()


def test_a_change_on_disk_shows_in_the_layer_after_a_save_and_stays(labeling, click, qtbot):
    viewer, widget = labeling
    csv = widget.labels_path
    click(viewer, 50, 60)
    outside = set_frame_labels(read_labels(csv), "labeled-data/img05.png", {"nose_top": (11, 22)})
    write_labels(outside, csv)
    qtbot.mouseClick(widget.save_button, LEFT)
    layer = widget.points_layer
    on = (np.rint(layer.data[:, 0]) == 5) & (layer.features["keypoint"].astype(str) == "nose_top")
    np.testing.assert_allclose(layer.data[on.to_numpy(), 1:], [[22, 11]])  # (y, x)
    # the next save does not undo it (the dock now knows the file's value)
    click(viewer, 80, 100)
    qtbot.mouseClick(widget.save_button, LEFT)
    saved = read_labels(csv)
    np.testing.assert_allclose(_xy(saved, "labeled-data/img05.png", "nose_top"), [11, 22])
    np.testing.assert_allclose(_xy(saved, FIRST, "paw2LF_top"), [100, 80], atol=1.0)
    assert widget.current_keypoint == "paw3RF_top"  # labeling goes on where it was


def test_file_save_layers_merges_like_the_dock(labeling, click, make_napari_viewer):
    # The user saves with napari's File > Save Selected Layers instead of the dock's button,
    # after a script changed another label of a frame the dock shows: both changes are kept.
    viewer, widget = labeling
    csv = widget.labels_path
    click(viewer, 50, 60)  # paw1LH_top on img00, unsaved
    outside = set_frame_labels(read_labels(csv), "labeled-data/img05.png", {"nose_top": (11, 22)})
    write_labels(outside, csv)
    viewer.layers.selection.active = widget.points_layer
    viewer.layers.save(str(csv), selected=True, plugin="napari-lightning-pose")
    saved = read_labels(csv)
    np.testing.assert_allclose(_xy(saved, FIRST, "paw1LH_top"), [60, 50], atol=1.0)
    np.testing.assert_allclose(_xy(saved, "labeled-data/img05.png", "nose_top"), [11, 22])


def test_a_labels_layer_opened_beside_the_dock_does_not_undo_its_labels(labeling, click, qtbot):
    # The CSV is also open as a plain layer (File > Open); the dock labels and saves; then
    # the user saves the plain layer (changed elsewhere): the dock's label survives.
    viewer, widget = labeling
    csv = widget.labels_path
    opened = viewer.open(str(csv), plugin="napari-lightning-pose")
    plain = next(layer for layer in opened if layer._type_string == "points")
    viewer.layers.selection.active = widget.points_layer
    click(viewer, 50, 60)
    qtbot.mouseClick(widget.save_button, LEFT)
    data = plain.data.copy()
    data[0, 1:] += 3.0  # the user nudges one point of the plain layer
    plain.data = data
    viewer.layers.selection.active = plain
    viewer.layers.save(str(csv), selected=True, plugin="napari-lightning-pose")
    saved = read_labels(csv)
    np.testing.assert_allclose(_xy(saved, FIRST, "paw1LH_top"), [60, 50], atol=1.0)
