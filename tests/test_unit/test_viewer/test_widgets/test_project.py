"""The project widget: create a project, add a video, pick frames in a worker, start labeling."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from qtpy.QtCore import Qt, QTimer

from napari_lightning_pose.io.labels import read_labels
from napari_lightning_pose.labeling.skeleton import parse_keypoints, parse_skeleton
from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget
from napari_lightning_pose.viewer.widgets.project import ProjectWidget

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def project_widget(make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    widget = ProjectWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Project", area="right")
    return viewer, widget


def _add_video(widget: ProjectWidget, qtbot, path: Path) -> Path | None:
    """Add a video as the button does and wait for the worker; the video's project path."""
    widget.add_video(path)
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    return widget.last_video


def _create(widget: ProjectWidget, qtbot, folder: Path) -> None:
    widget.folder_edit.setText(str(folder))
    qtbot.keyClicks(widget.keypoints_edit, "nose, paw_left paw_right")
    qtbot.keyClicks(widget.skeleton_edit, "nose-paw_left, nose-paw_right")
    qtbot.mouseClick(widget.create_button, LEFT)


def test_parse_keypoints_and_skeleton_from_what_users_type() -> None:
    assert parse_keypoints(" nose, paw_left;paw_right\ttail ") == [
        "nose",
        "paw_left",
        "paw_right",
        "tail",
    ]
    assert parse_keypoints("") == []
    assert parse_skeleton("nose-paw_left, nose - tail;\npaw_left:paw_right") == [
        ("nose", "paw_left"),
        ("nose", "tail"),
        ("paw_left", "paw_right"),
    ]
    with pytest.raises(ValueError, match="nose-tail-paw"):
        parse_skeleton("nose-tail-paw")
    # keypoint names with "-" (e.g. from DeepLabCut projects) split where both ends are names
    names = ["ear-left", "ear-right", "nose"]
    assert parse_skeleton("ear-left-ear-right, nose - ear-left", names) == [
        ("ear-left", "ear-right"),
        ("nose", "ear-left"),
    ]


def test_create_project_writes_the_folder_and_config(project_widget, qtbot, tmp_path):
    _, widget = project_widget
    _create(widget, qtbot, tmp_path / "mouse")
    root = tmp_path / "mouse"
    cfg = yaml.safe_load((root / "config.yaml").read_text())
    assert cfg["data"]["keypoint_names"] == ["nose", "paw_left", "paw_right"]
    assert cfg["data"]["skeleton"] == [["nose", "paw_left"], ["nose", "paw_right"]]
    assert (root / "labeled-data").is_dir() and (root / "videos").is_dir()
    assert "mouse" in widget.project_label.text()
    assert widget.add_video_button.isEnabled()
    assert not widget.select_button.isEnabled()  # no video yet


def test_bad_skeleton_is_reported_and_creates_nothing(project_widget, qtbot, tmp_path, errors):
    _, widget = project_widget
    widget.folder_edit.setText(str(tmp_path / "p"))
    widget.keypoints_edit.setText("nose, tail")
    widget.skeleton_edit.setText("nose-ear")
    qtbot.mouseClick(widget.create_button, LEFT)
    assert not (tmp_path / "p" / "config.yaml").exists()
    assert any("ear" in m for m in errors)
    assert widget.project is None


def test_add_video_copies_it_and_shows_it(project_widget, qtbot, tmp_path, bundled_sample):
    viewer, widget = project_widget
    _create(widget, qtbot, tmp_path / "mouse")
    dest = _add_video(widget, qtbot, bundled_sample / "videos" / "test_vid.mp4")
    assert dest == tmp_path / "mouse" / "videos" / "test_vid.mp4"
    assert dest.read_bytes() == (bundled_sample / "videos" / "test_vid.mp4").read_bytes()
    assert viewer.layers[-1].data.shape == (994, 406, 396, 3)
    assert widget.video_combo.currentText() == "test_vid.mp4"
    assert widget.select_button.isEnabled()


def test_a_broken_video_is_refused_with_its_name(project_widget, qtbot, tmp_path, errors):
    viewer, widget = project_widget
    _create(widget, qtbot, tmp_path / "mouse")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    assert _add_video(widget, qtbot, broken) is None
    assert any("broken.mp4" in m for m in errors)
    assert len(viewer.layers) == 0
    assert widget.video_combo.count() == 0


@pytest.mark.slow
@pytest.mark.parametrize("method", ["uniform", "kmeans"])
def test_select_frames_runs_in_a_worker_and_opens_labeling(
    project_widget, qtbot, tmp_path, bundled_sample, method
):
    viewer, widget = project_widget
    _create(widget, qtbot, tmp_path / "mouse")
    _add_video(widget, qtbot, bundled_sample / "videos" / "test_vid.mp4")
    widget.n_frames_spin.setValue(4)
    widget.method_combo.setCurrentText(method)
    progress: list[int] = []
    widget.progress.valueChanged.connect(progress.append)
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    qtbot.mouseClick(widget.select_button, LEFT)
    assert not widget.select_button.isEnabled()  # running
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    timer.stop()
    assert ticks  # the event loop kept running while frames were picked
    assert progress  # the progress bar moved

    root = tmp_path / "mouse"
    labels = read_labels(root / "CollectedData.csv")
    assert len(labels) == 4
    assert labels.isna().all().all()  # picked, not labeled yet
    for image in labels.index:
        assert image.startswith("labeled-data/test_vid/img")
        assert (root / image).is_file()
    # hand-over: the labeling widget is docked with the project and its 4 frames to label
    labeling = next(
        w for w in viewer.window.dock_widgets.values() if isinstance(w, LabelingWidget)
    )
    assert labeling.config_path == root / "config.yaml"
    assert labeling.state.images == list(labels.index)
    assert labeling.counts_label.text() == "labeled frames 0/4, keypoints 0/3"
    assert viewer.dims.range[0].stop == 3  # the video layer no longer stretches the slider


def test_cancel_stops_frame_selection(project_widget, qtbot, tmp_path, bundled_sample):
    _, widget = project_widget
    _create(widget, qtbot, tmp_path / "mouse")
    _add_video(widget, qtbot, bundled_sample / "videos" / "test_vid.mp4")
    widget.n_frames_spin.setValue(4)
    widget.method_combo.setCurrentText("kmeans")
    qtbot.mouseClick(widget.select_button, LEFT)
    qtbot.mouseClick(widget.cancel_button, LEFT)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert widget.progress_label.text() == "cancelled"
    assert not (tmp_path / "mouse" / "CollectedData.csv").exists()
    assert widget.select_button.isEnabled()


def _slowed(monkeypatch, module, name: str, seconds: float = 0.6) -> tuple[set[int], Any]:
    """Make ``module.name`` take at least ``seconds`` (a big file, a slow disk); returns the
    set the ids of the threads that call it are added to, and an event set while it runs."""
    import time

    real = getattr(module, name)
    threads: set[int] = set()
    running = threading.Event()

    def slow(*args, **kwargs):
        threads.add(threading.get_ident())
        running.set()
        try:
            time.sleep(seconds)
            return real(*args, **kwargs)
        finally:
            running.clear()

    monkeypatch.setattr(module, name, slow)
    return threads, running


def _ticking(qtbot, running: threading.Event) -> tuple[QTimer, list[bool]]:
    """A 10 ms timer on the GUI thread; each tick records whether the slowed job was running
    (a tick while it runs: the event loop turned during the job)."""
    ticks: list[bool] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(running.is_set()))
    timer.start(10)
    return timer, ticks


def test_add_video_copies_in_a_worker_and_the_window_stays_live(
    project_widget, qtbot, tmp_path, bundled_sample, monkeypatch
):
    from napari_lightning_pose.viewer.widgets import video_adding

    viewer, widget = project_widget
    _create(widget, qtbot, tmp_path / "mouse")
    threads, running = _slowed(monkeypatch, video_adding, "add_video")  # a slow copy
    timer, ticks = _ticking(qtbot, running)
    assert widget.add_video(bundled_sample / "videos" / "test_vid.mp4") is not None
    assert not threads or threading.get_ident() not in threads  # the copy is not done here
    assert widget.busy and "adding test_vid.mp4" in widget.busy_label.text()
    for button in (widget.add_video_button, widget.label_button, widget.open_button):
        assert not button.isEnabled()
    assert widget.add_video(bundled_sample / "videos" / "test_vid.mp4") is None  # not twice
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    timer.stop()
    assert threads and threading.get_ident() not in threads  # copied in a worker
    assert any(ticks)  # the event loop turned while the video was copied
    assert [layer.name for layer in viewer.layers] == ["test_vid"]
    assert widget.video_combo.currentText() == "test_vid.mp4"
    assert widget.busy_label.text() == ""
    assert widget.add_video_button.isEnabled() and widget.select_button.isEnabled()


def test_label_frames_reads_the_project_in_a_worker(
    make_napari_viewer, qtbot, sample_project, monkeypatch
):
    from napari_lightning_pose.viewer.widgets import labeling as labeling_module

    viewer = make_napari_viewer(show=True)
    widget = ProjectWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Project", area="right")
    assert widget.open_project(sample_project)
    threads, running = _slowed(monkeypatch, labeling_module, "read_project")
    timer, ticks = _ticking(qtbot, running)
    qtbot.mouseClick(widget.label_button, LEFT)  # docks the widget; the files are read later
    labeling = next(
        w for w in viewer.window.dock_widgets.values() if isinstance(w, LabelingWidget)
    )
    assert widget.busy and labeling.loading
    assert not labeling.open_button.isEnabled()
    assert labeling.status_label.text().startswith("busy")
    assert labeling.load_project_in_background(sample_project) is None  # not twice
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    timer.stop()
    assert threads and threading.get_ident() not in threads  # read in a worker
    assert any(ticks)  # the event loop turned while the files were read
    assert labeling.state is not None and len(labeling.state.images) == 52
    assert labeling.open_button.isEnabled() and labeling.status_label.text() == "opened"


def test_a_project_that_cannot_be_read_is_reported_after_the_worker(
    make_napari_viewer, qtbot, tmp_path, errors
):
    viewer = make_napari_viewer(show=True)
    labeling = LabelingWidget(viewer)
    viewer.window.add_dock_widget(labeling, name="Label keypoints", area="right")
    broken = tmp_path / "config.yaml"
    broken.write_text("data: [not, a, mapping\n")
    assert labeling.load_project_in_background(broken) is not None
    qtbot.waitUntil(lambda: not labeling.loading, timeout=30_000)
    assert any("config.yaml" in m for m in errors)
    assert labeling.state is None and labeling.open_button.isEnabled()


def test_the_first_frame_of_an_added_video_is_decoded_in_the_worker(
    project_widget, qtbot, tmp_path, bundled_sample, monkeypatch
):
    """napari draws a new video layer's frame as it is added; the worker decoded that frame
    beforehand, so the GUI thread decodes none (it took 50-100 ms there)."""
    from napari_lightning_pose.io.video import VideoReader

    viewer, widget = project_widget
    _create(widget, qtbot, tmp_path / "mouse")
    decoded_on: list[tuple[int, int]] = []
    decode = VideoReader._decode_frame

    def recording(self, i, *args, **kwargs):
        decoded_on.append((threading.get_ident(), int(i)))
        return decode(self, i, *args, **kwargs)

    monkeypatch.setattr(VideoReader, "_decode_frame", recording)
    assert widget.add_video(bundled_sample / "videos" / "test_vid.mp4") is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    qtbot.wait(300)  # drawn
    shown = viewer.dims.current_step[0]
    assert shown in {i for _, i in decoded_on}  # decoded ...
    assert all(thread != threading.get_ident() for thread, _ in decoded_on)  # ... not here


def test_frame_shown_first_is_where_napari_puts_the_slider(make_napari_viewer) -> None:
    """The worker decodes the frame this names; napari must draw that one first."""
    import numpy as np

    from napari_lightning_pose.viewer.widgets.warmup import frame_shown_first

    viewer = make_napari_viewer()
    for before in ([], [np.zeros((6, 6))], [np.zeros((400, 6, 6))]):
        viewer.layers.clear()
        for data in before:
            viewer.add_image(data)
        if before and before[0].ndim == 3:
            viewer.dims.set_current_step(0, 37)
        expected = frame_shown_first(viewer)
        viewer.add_image(np.zeros((300, 6, 6)))
        assert viewer.dims.current_step[0] == (149 if expected is None else expected)
