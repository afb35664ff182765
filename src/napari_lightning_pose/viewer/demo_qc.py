"""The demo's pictures: traces with their bands, and the napari window with the overlay.

``render_qc`` writes ``traces.png`` (x and y of two keypoints over the clip: members faint,
smoothed with a band of +-2 posterior SD, and the posterior SD below) and ``qc.png`` (a
screenshot of the real napari window: video, keypoints and tails coloured by posterior SD in
px, skeleton, the colour legend and the trace panel).

The trace plot is pyqtgraph, which Qt's ``offscreen`` platform draws without any display, so
``traces.png`` is written on every machine. napari's canvas needs OpenGL and an X display:
without one (a server, CI) a virtual X server is started with PyVirtualDisplay (Xvfb), as
pytest-xvfb does; where that is impossible (no Xvfb installed, or the user chose
``QT_QPA_PLATFORM=offscreen``) ``qc.png`` is left out and the note says why and how to get
it. ``open_in_napari`` shows the same window for ``demo --open``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

WINDOW_SIZE = (1500, 1000)


#: What a user without a display does to get ``qc.png``.
HOW_TO_GET_QC = (
    "install a virtual X server (scripts/install_system_deps.sh, or: sudo apt install xvfb) "
    "or run the demo under xvfb-run to get qc.png"
)


def ensure_display() -> tuple[Any, str]:
    """Make sure Qt can open napari's window; returns (virtual display or None, why not or "").

    Uses the display there is; else starts a virtual X server (Xvfb). Leaves the choice of
    the ``offscreen`` platform (no windows, no OpenGL canvas) to the user.
    """
    if os.environ.get("QT_QPA_PLATFORM", "") == "offscreen":
        return (
            None,
            "QT_QPA_PLATFORM=offscreen draws no napari canvas, so no qc.png; unset it and "
            + HOW_TO_GET_QC,
        )
    if not sys.platform.startswith("linux") or os.environ.get("DISPLAY"):
        return None, ""
    try:
        from pyvirtualdisplay import Display

        display = Display(visible=False, size=(1920, 1200), color_depth=24)
        display.start()
    except Exception as err:  # no Xvfb binary, no pyvirtualdisplay
        return None, (
            f"no display and no virtual X server ({type(err).__name__}: {err}), so no qc.png; "
            f"{HOW_TO_GET_QC}"
        )
    return display, ""


def _qt_app() -> Any:
    """The QApplication, made if there is none (with the offscreen platform if there is no
    display to draw on, so that the trace plot still renders)."""
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QApplication([])
    return app


def build_viewer(
    video: Path,
    smoothed_csv: Path,
    member_csvs: Sequence[Path],
    skeleton: Sequence[Sequence[str]],
    show: bool = True,
    frame: int = 0,
    keypoint: str | None = None,
) -> Any:
    """A napari viewer with the video, the members (hidden), the smoothed overlay, the legend
    and the trace panel docked, at ``frame``, the panel showing ``keypoint``."""
    import napari

    from napari_lightning_pose.viewer.layers import video_layer_data
    from napari_lightning_pose.viewer.prediction_layers import (
        member_layer_data,
        prediction_layer_data,
        read_pose_track,
    )
    from napari_lightning_pose.viewer.widgets.legend import UncertaintyLegend
    from napari_lightning_pose.viewer.widgets.traces import TracePanel

    viewer = napari.Viewer(show=show, title="napari-lightning-pose: smoothed keypoints")
    viewer.window._qt_window.resize(*WINDOW_SIZE)
    data, kwargs, _ = video_layer_data(video)
    viewer.add_image(data, **kwargs)
    for csv in member_csvs:
        data, kwargs, _ = member_layer_data(read_pose_track(csv), f"{Path(csv).stem} raw")
        viewer.add_points(data, **kwargs)
    panel = TracePanel(viewer, window=300)
    legend = UncertaintyLegend(viewer)
    viewer.window.add_dock_widget(legend, name="Uncertainty legend", area="right")
    viewer.window.add_dock_widget(panel, name="Traces", area="bottom")
    n_frames = int(viewer.layers[0].metadata["n_frames"])
    for data, kwargs, kind in prediction_layer_data(
        smoothed_csv, skeleton, n_video_frames=n_frames, member_csvs=member_csvs
    ):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    if keypoint is not None:
        panel.set_keypoint(keypoint)
    viewer.dims.set_current_step(0, frame)
    return viewer


def traces_picture(
    smoothed_csv: Path, member_csvs: Sequence[Path], keypoints: Sequence[str], out: Path
) -> Path:
    """Save the trace panels of ``keypoints`` (whole clip) stacked in one PNG."""
    from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

    from napari_lightning_pose.viewer.prediction_layers import read_pose_track
    from napari_lightning_pose.viewer.widgets.traces import TracePanel

    track = read_pose_track(smoothed_csv)
    members = [read_pose_track(m) for m in member_csvs]
    app = _qt_app()
    box = QWidget()
    box.setStyleSheet("background: #262930; color: #eeeeee;")
    layout = QVBoxLayout(box)
    layout.addWidget(
        QLabel(
            f"{smoothed_csv.name}: smoothed (orange) with \u00b12 posterior SD "
            f"band, {len(members)} ensemble members (blue)"
        )
    )
    for name in keypoints:
        panel = TracePanel(None, window=max(track.n_frames, 10))
        panel.set_tracks(track, members)
        panel.set_keypoint(name)
        panel.set_frame(track.n_frames // 2)
        layout.addWidget(panel)
    box.resize(1400, 520 * len(keypoints))
    box.show()
    for _ in range(5):
        app.processEvents()
    out.parent.mkdir(parents=True, exist_ok=True)
    box.grab().save(str(out))
    box.close()
    return out


def render_qc(
    video: Path,
    smoothed_csv: Path,
    member_csvs: Sequence[Path],
    skeleton: Sequence[Sequence[str]],
    out_dir: Path,
    keypoints: Sequence[str],
    frame: int = 0,
    keypoint: str | None = None,
) -> tuple[Path | None, Path | None, str]:
    """Write ``out_dir/traces.png`` and ``out_dir/qc.png`` (at ``frame``, the trace panel
    on ``keypoint``); returns them and a note (why ``qc.png`` is missing, or "").

    ``traces.png`` is always written (without a display, through Qt's offscreen platform).
    """
    import numpy as np
    from PIL import Image

    display, why = ensure_display()
    try:
        if why:  # no X display: the plot alone, drawn offscreen
            traces = traces_picture(smoothed_csv, member_csvs, keypoints, out_dir / "traces.png")
            return traces, None, why
        viewer = build_viewer(video, smoothed_csv, member_csvs, skeleton, True, frame, keypoint)
        traces = traces_picture(smoothed_csv, member_csvs, keypoints, out_dir / "traces.png")
        from qtpy.QtWidgets import QApplication

        for _ in range(10):
            QApplication.instance().processEvents()
        viewer.reset_view()
        shot = viewer.screenshot(canvas_only=False, flash=False)
        qc = out_dir / "qc.png"
        Image.fromarray(np.asarray(shot)[..., :3]).save(qc)
        viewer.close()
    finally:
        if display is not None:
            display.stop()
    return traces, qc, ""


def open_in_napari(result: Any) -> None:
    """Show the demo's result in napari (``demo --open``) and run until the window closes."""
    import napari

    from napari_lightning_pose.labeling.project import Project

    skeleton = Project.open(result.project).skeleton
    video = Project.open(result.project).video_paths()[0]
    clip = result.smoothed_csv.parent.name
    if video.stem != clip:  # a shortened clip (tests)
        video = result.smoothed_csv.parents[2] / "clip" / f"{clip}{video.suffix}"
    worst = result.uncertain_frames  # opens where checking starts: the least certain point
    frame, keypoint = (int(worst["frame"].iloc[0]), str(worst["keypoint"].iloc[0]))
    build_viewer(video, result.smoothed_csv, result.member_csvs, skeleton, True, frame, keypoint)
    napari.run()
