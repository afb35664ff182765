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
    make_napari_viewer, tmp_path, bundled_sample, errors
) -> None:
    from napari_lightning_pose.widgets.project import ProjectWidget

    viewer = make_napari_viewer()
    widget = ProjectWidget(viewer)
    widget.create_project(tmp_path / "mouse", ["nose", "tail"])
    video = bundled_sample / "videos" / "test_vid.mp4"
    widget.add_video(video)
    widget.add_video(video)
    assert [layer.name for layer in viewer.layers] == ["test_vid"]
    assert any("already" in m and "test_vid" in m for m in errors)
    assert widget.video_combo.count() == 1
