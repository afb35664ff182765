"""The tails of smoothed keypoints are readable in the real canvas: wide, long, and in the
colour of the legend's scale (a certain keypoint's tail pale yellow, an uncertain one's red)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_lightning_pose.ensemble.smooth import EKS_COORDS, write_smoothed_csv
from napari_lightning_pose.io.pose_csv import make_pose_frame
from napari_lightning_pose.viewer.layer_styles import HEAT_COLORS
from napari_lightning_pose.viewer.prediction_layers import prediction_layer_data

N_FRAMES = 60
NOW = 50  # the frame shown: its tail covers the frames before it


def _moving_csv(path: Path) -> Path:
    """Two keypoints sliding right at 2 px a frame over a 400 x 400 px grey frame: ``calm``
    (posterior SD 0.5 px) along y = 100 and ``wild`` (SD 20 px, above the 10 px limit) along
    y = 300."""
    values = np.zeros((N_FRAMES, 2, len(EKS_COORDS)))
    t = np.arange(N_FRAMES, dtype=float)
    values[:, :, 0] = (50.0 + 2.0 * t)[:, None]  # x: 50 .. 168 px
    values[:, 0, 1], values[:, 1, 1] = 100.0, 300.0  # y
    values[..., 2] = 1.0
    values[..., 3:5] = values[..., 0:2]
    values[..., 5:7] = 1.0
    values[:, 0, 7:9] = 0.125  # sd = sqrt(2 * 0.125) = 0.5 px
    values[:, 1, 7:9] = 200.0  # sd = 20 px
    frame = make_pose_frame(values, ["calm", "wild"], EKS_COORDS)
    return write_smoothed_csv(frame, path)


def _tail_pixels(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks of pale-yellow and of red pixels over the grey frame, faded ones too (a tail
    fades towards its end): pale yellow has R = G > B, red R >> G = B; grey has R = G = B."""
    r, g, b = (image[..., c].astype(int) for c in range(3))
    pale = (r - b > 15) & (abs(r - g) < 15)
    red = (r - g > 40) & (abs(g - b) < 25)
    return pale, red


def test_tails_are_wide_long_and_on_the_legend_scale(make_napari_viewer, tmp_path) -> None:
    viewer = make_napari_viewer(show=True)
    viewer.add_image(np.full((N_FRAMES, 400, 400), 110, dtype=np.uint8), name="video")
    for data, kwargs, kind in prediction_layer_data(_moving_csv(tmp_path / "v.eks.csv")):
        if kind == "tracks":
            viewer.add_tracks(data, **kwargs)
    viewer.dims.set_current_step(0, NOW)
    viewer.reset_view()
    shot = viewer.screenshot(canvas_only=True, flash=False)
    # screenshot pixels per data pixel: how wide the 400 px grey frame came out
    grey = (np.abs(shot[..., :3].astype(int) - 110) <= 2).all(axis=-1)
    zoom = np.count_nonzero(grey.any(axis=0)) / 400

    pale, red = _tail_pixels(shot)
    # the colours are the legend's ends, not just any yellow and red
    assert HEAT_COLORS[0][0] == HEAT_COLORS[0][1] > HEAT_COLORS[0][2]
    assert HEAT_COLORS[-1][0] > 0.8 > 0.2 > max(HEAT_COLORS[-1][1:3])
    for mask, name in ((pale, "calm (pale yellow)"), (red, "wild (red)")):
        rows, cols = np.nonzero(mask)
        assert len(rows), f"no {name} tail in the canvas"
        # wide: the thickest column of the tail spans >= 4 screen px
        thickness = max(np.count_nonzero(mask[:, c]) for c in np.unique(cols))
        assert thickness >= 4, f"{name} tail only {thickness} px wide"
        # long: >= 20 frames of history (2 data px a frame), fading but still drawn
        length_frames = (cols.max() - cols.min()) / zoom / 2.0
        assert length_frames >= 20, f"{name} tail covers {length_frames:.0f} frames"
    # each tail in its own colour: the calm one above the wild one
    assert np.median(np.nonzero(pale)[0]) < np.median(np.nonzero(red)[0])
