"""What a new user meets first: the sample, adding a video twice, the slider label."""

from __future__ import annotations

import numpy as np


def test_the_sample_opens_on_a_labeled_frame(make_napari_viewer) -> None:
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-lightning-pose", "mirror-mouse")
    frames = next(layer for layer in viewer.layers if layer.name.endswith("frames"))
    points = next(layer for layer in viewer.layers if layer.__class__.__name__ == "Points")
    step = int(viewer.dims.current_step[0])
    assert step < frames.data.shape[0]  # the labeled frames, not the hidden video's middle
    on_frame = np.rint(points.data[:, 0]).astype(int) == step
    assert on_frame.sum() > 0  # its labels are drawn
    shot = viewer.screenshot(canvas_only=True)
    assert shot[..., :3].mean() > 20  # not a black canvas


def test_adding_the_same_video_twice_makes_one_layer_and_says_so(
    make_napari_viewer, tmp_path, bundled_sample, errors, qtbot
) -> None:
    from napari_lightning_pose.viewer.widgets.project import ProjectWidget

    viewer = make_napari_viewer()
    widget = ProjectWidget(viewer)
    widget.create_project(tmp_path / "mouse", ["nose", "tail"])
    video = bundled_sample / "videos" / "test_vid.mp4"
    for _ in range(2):
        widget.add_video(video)
        qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert [layer.name for layer in viewer.layers] == ["test_vid"]
    assert any("already" in m and "test_vid" in m for m in errors)
    assert widget.video_combo.count() == 1


def _slider_labels(viewer) -> list:
    """The axis-label boxes of the dims sliders shown in the window."""
    return [
        slider.axis_label
        for slider in viewer.window._qt_viewer.dims.slider_widgets
        if slider.isVisible()
    ]


def _fits(label) -> bool:
    """True when the whole text of a slider's label box is drawn (QLineEdit pads 2 px a side)."""
    margins = label.textMargins()
    room = label.contentsRect().width() - 4 - margins.left() - margins.right()
    return label.fontMetrics().horizontalAdvance(label.text()) <= room


def test_the_slider_label_of_an_opened_video_reads_frame_in_full(
    make_napari_viewer, qtbot, bundled_sample
) -> None:
    """A viewer already showing a stack (sliders sized for "0") opens our video: "frame"."""
    viewer = make_napari_viewer(show=True)
    viewer.add_image(np.zeros((5, 32, 32), np.uint8))
    qtbot.wait(50)  # the slider exists and has been laid out
    viewer.open(str(bundled_sample / "videos" / "test_vid.mp4"), plugin="napari-lightning-pose")
    [label] = _slider_labels(viewer)
    assert label.text() == "frame"
    qtbot.waitUntil(lambda: _fits(label), timeout=2000)


def test_the_labeling_dock_slider_label_reads_frame_in_full(
    make_napari_viewer, qtbot, sample_project
) -> None:
    from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget

    viewer = make_napari_viewer(show=True)
    widget = LabelingWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Label keypoints", area="right")
    viewer.add_image(np.zeros((5, 32, 32), np.uint8), name="something open before")
    qtbot.wait(50)
    assert widget.load_project(sample_project)
    [label] = _slider_labels(viewer)
    assert label.text() == "frame"
    qtbot.waitUntil(lambda: _fits(label), timeout=2000)
