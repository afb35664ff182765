"""Trace panel: x, y and uncertainty of one keypoint over time, with a cursor on the frame.

Three rows share the time axis (pyqtgraph, made for live Qt plots): x and y in px, each
ensemble member a faint line, the smoothed trajectory with a band of +-2 posterior SD; then
the posterior SD in px (or the likelihood, for plain predictions). A vertical cursor follows
the viewer's time slider, a click on the plot moves the slider there, and the view keeps a
window of frames around the cursor. Moving the cursor only moves three lines (no data is
replotted), so scrubbing stays smooth (``benchmarks/bench_traces.py``).

Other docks reuse it: ``set_tracks`` gives it data, ``set_keypoint`` / ``set_frame`` drive it.
For a multi-camera result (``set_camera_tracks``, or camera layers added to the viewer) the
rows overlay the chosen keypoint in every camera, one colour per camera, each with its band.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QComboBox,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_lightning_pose.viewer.prediction_layers import PoseTrack, read_pose_track
from napari_lightning_pose.viewer.widgets.docking import settle_when_shown
from napari_lightning_pose.viewer.widgets.plotting import pg

SMOOTHED_PEN = pg.mkPen((255, 190, 60), width=2)
MEMBER_PEN = pg.mkPen((140, 200, 255, 90), width=1)
BAND_BRUSH = pg.mkBrush(255, 160, 40, 90)
BAND_EDGE_PEN = pg.mkPen((255, 160, 40, 110), width=1)
CURSOR_PEN = pg.mkPen((255, 255, 255), width=1.5)
SD_PEN = pg.mkPen((235, 40, 40), width=2)
#: One colour per camera (cycled), far from the orange of a single camera's trace.
CAMERA_COLORS = ((90, 200, 255), (255, 120, 200), (140, 230, 120), (255, 220, 90), (200, 160, 255))


class TracePanel(QWidget):
    """x / y / uncertainty traces of the chosen keypoint, with a cursor on the current frame.

    Parameters
    ----------
    napari_viewer
        The viewer whose time slider (axis 0) the cursor follows and moves; None for a
        stand-alone panel. Smoothed layers added to the viewer (metadata ``kind`` =
        ``"smoothed"``) are plotted automatically, with member layers as faint lines.
    window
        Frames shown around the current one.
    """

    frame_clicked = Signal(int)

    def __init__(self, napari_viewer: Any = None, window: int = 200) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.track: PoseTrack | None = None
        self.members: list[PoseTrack] = []
        self.cameras: dict[str, PoseTrack] = {}
        self._camera_csvs: dict[str, str] = {}
        self.keypoint: str | None = None
        self.current_frame = 0
        self._loader: Any = None
        self._load_id = 0

        self.keypoint_combo = QComboBox()
        self.keypoint_combo.currentTextChanged.connect(self._on_combo)
        self.window_spin = QSpinBox()
        self.window_spin.setRange(10, 100_000)
        self.window_spin.setValue(window)
        self.window_spin.setSuffix(" frames")
        self.window_spin.valueChanged.connect(lambda _: self._follow(force=True))
        self.status = QLabel("No smoothed predictions yet: run Predict + smooth or open a CSV.")
        self.status.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("keypoint"))
        top.addWidget(self.keypoint_combo, 1)
        top.addWidget(QLabel("window"))
        top.addWidget(self.window_spin)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(170)
        self.plots: list[pg.PlotItem] = []
        for row, label in enumerate(("x (px)", "y (px)", "SD (px)")):
            plot = self.graphics.addPlot(row=row, col=0)
            plot.setLabel("left", label)
            # px as px: no "(x0.001)" or "k" prefix, which made a row's label too long for it
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setMouseEnabled(x=True, y=False)
            # draw only the frames in view (and at most ~2 points per pixel): a repaint then
            # costs the same for a 1,000- or a 100,000-frame video
            plot.setClipToView(True)
            plot.getViewBox().setAutoVisible(y=True)  # y range from the frames in view
            plot.setDownsampling(auto=True, mode="peak")
            # a cursor move repaints the rows it crosses; axes then come from a pixmap
            # cache instead of being redrawn (they only change when the view scrolls)
            for name in ("left", "bottom"):
                plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            if self.plots:
                plot.setXLink(self.plots[0])
            self.plots.append(plot)
        for plot in self.plots[:-1]:
            plot.getAxis("bottom").setStyle(showValues=False)  # frames are read off the last row
        self.plots[-1].setLabel("bottom", "frame")
        self.cursors = [pg.InfiniteLine(0, angle=90, pen=CURSOR_PEN) for _ in self.plots]
        for plot, cursor in zip(self.plots, self.cursors, strict=True):
            plot.addItem(cursor, ignoreBounds=True)
        self.graphics.scene().sigMouseClicked.connect(self._on_click)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(self.graphics, 1)
        settle_when_shown(self, napari_viewer, area="bottom", tabbed=False)

        if napari_viewer is not None:
            napari_viewer.dims.events.current_step.connect(self._on_step)
            napari_viewer.layers.events.inserted.connect(self._on_layer_added)
            for layer in napari_viewer.layers:
                self._on_layer_added(layer=layer)

    # ------------------------------------------------------------------ public
    def set_camera_tracks(self, tracks: Mapping[str, PoseTrack]) -> None:
        """Plot the chosen keypoint of every camera's smoothed table, one colour each."""
        first = next(iter(tracks.values()))
        self.set_tracks(first, cameras=tracks)
        names = ", ".join(
            f'<b style="color: rgb{CAMERA_COLORS[i % len(CAMERA_COLORS)]}">{camera}</b>'
            for i, camera in enumerate(tracks)
        )
        self.status.setText(f"{names}: {first.n_frames} frames, \u00b1 2 posterior SD (band).")

    def set_tracks(
        self,
        track: PoseTrack,
        members: Sequence[PoseTrack] = (),
        cameras: Mapping[str, PoseTrack] | None = None,
    ) -> None:
        """Plot ``track`` (smoothed or plain predictions) and the raw ``members``."""
        self.track = track
        self.members = list(members)
        self.cameras = dict(cameras or {})
        if not self.cameras:
            self._camera_csvs = {}
        self.keypoint_combo.blockSignals(True)
        self.keypoint_combo.clear()
        self.keypoint_combo.addItems(track.keypoints)
        keep = self.keypoint if self.keypoint in track.keypoints else track.keypoints[0]
        self.keypoint_combo.setCurrentText(keep)
        self.keypoint_combo.blockSignals(False)
        self.plots[2].setLabel("left", "SD (px)" if track.smoothed else "likelihood")
        name = track.path.name if track.path else "predictions"
        what = (
            "smoothed (orange) \u00b1 2 posterior SD (band), members (blue)"
            if track.smoothed
            else "predictions (orange)"
        )
        self.status.setText(
            f"{name}: {track.n_frames} frames, {len(self.members)} members. {what}"
        )
        self.set_keypoint(keep)

    def set_keypoint(self, name: str) -> None:
        """Show the traces of keypoint ``name``."""
        if self.track is None or name not in self.track.keypoints:
            return
        self.keypoint = name
        if self.keypoint_combo.currentText() != name:
            self.keypoint_combo.setCurrentText(name)
        self._replot()

    def set_frame(self, frame: int) -> None:
        """Move the cursor to ``frame`` (and the view, when the cursor nears its edge)."""
        self.current_frame = int(frame)
        for cursor in self.cursors:
            cursor.setValue(self.current_frame)
        self._follow()

    def cursor_frame(self) -> float:
        """Where the cursor is drawn (frame number)."""
        return float(self.cursors[0].value())

    def visible_frames(self) -> tuple[float, float]:
        """First and last frame in view."""
        lo, hi = self.plots[0].vb.viewRange()[0]
        return float(lo), float(hi)

    # ---------------------------------------------------------------- internals
    def _replot(self) -> None:
        for plot, cursor in zip(self.plots, self.cursors, strict=True):
            plot.clear()
            plot.addItem(cursor, ignoreBounds=True)
        if self.cameras:
            self._plot_cameras()
            return
        track, k = self.track, self.track.keypoints.index(self.keypoint)
        t = track.frames.astype(float)
        for c, plot in enumerate(self.plots[:2]):
            for member in self.members:
                if self.keypoint in member.keypoints:
                    mk = member.keypoints.index(self.keypoint)
                    plot.plot(member.frames, member.xy[:, mk, c], pen=MEMBER_PEN)
            if track.posterior_var is not None:
                sd = np.sqrt(track.posterior_var[:, k, c])
                # curves (not pen-less data items, which have no path to fill between)
                upper = pg.PlotCurveItem(t, track.xy[:, k, c] + 2 * sd, pen=BAND_EDGE_PEN)
                lower = pg.PlotCurveItem(t, track.xy[:, k, c] - 2 * sd, pen=BAND_EDGE_PEN)
                plot.addItem(upper)
                plot.addItem(lower)
                plot.addItem(pg.FillBetweenItem(upper, lower, brush=BAND_BRUSH))
            plot.plot(t, track.xy[:, k, c], pen=SMOOTHED_PEN, connect="finite")
        third = track.posterior_sd[:, k] if track.smoothed else track.likelihood[:, k]
        self.plots[2].plot(t, third, pen=SD_PEN, connect="finite")
        self.plots[0].setTitle(self.keypoint)  # short: never cut, whatever the dock's width
        self._follow(force=True)

    def _plot_cameras(self) -> None:
        """The keypoint in every camera: x, y with bands, and each camera's SD."""
        for i, (camera, track) in enumerate(self.cameras.items()):
            if self.keypoint not in track.keypoints:
                continue
            k = track.keypoints.index(self.keypoint)
            t = track.frames.astype(float)
            colour = CAMERA_COLORS[i % len(CAMERA_COLORS)]
            pen = pg.mkPen(colour, width=2)
            for c, plot in enumerate(self.plots[:2]):
                if track.posterior_var is not None:
                    sd = np.sqrt(track.posterior_var[:, k, c])
                    edge = pg.mkPen((*colour, 90), width=1)
                    upper = pg.PlotCurveItem(t, track.xy[:, k, c] + 2 * sd, pen=edge)
                    lower = pg.PlotCurveItem(t, track.xy[:, k, c] - 2 * sd, pen=edge)
                    plot.addItem(upper)
                    plot.addItem(lower)
                    plot.addItem(pg.FillBetweenItem(upper, lower, brush=pg.mkBrush(*colour, 60)))
                name = camera if c == 0 else None
                plot.plot(t, track.xy[:, k, c], pen=pen, connect="finite", name=name)
            third = track.posterior_sd[:, k] if track.smoothed else track.likelihood[:, k]
            self.plots[2].plot(t, third, pen=pen, connect="finite")
        self.plots[0].setTitle(self.keypoint)
        self._follow(force=True)

    def _follow(self, force: bool = False) -> None:
        """Keep the cursor in the middle 80 % of the view; recentre when it leaves. A video
        shorter than the window is shown whole."""
        half = self.window_spin.value() / 2
        lo, hi = self.visible_frames()
        if self.track is not None and self.track.n_frames and 2 * half >= self.track.n_frames:
            first, last = float(self.track.frames.min()), float(self.track.frames.max())
            if force or abs(lo - (first - 0.5)) > 0.5 or abs(hi - (last + 0.5)) > 0.5:
                self.plots[0].setXRange(first - 0.5, last + 0.5, padding=0)
            return
        f = self.current_frame
        margin = 0.1 * (hi - lo)
        if force or not (lo + margin <= f <= hi - margin) or abs((hi - lo) - 2 * half) > 1:
            self.plots[0].setXRange(f - half, f + half, padding=0)

    def _on_combo(self, name: str) -> None:
        if name:
            self.set_keypoint(name)

    def _on_step(self, event: Any = None) -> None:
        step = self.viewer.dims.current_step
        if step:
            self.set_frame(int(step[0]))

    def _on_click(self, event: Any) -> None:
        """A click on any row moves the viewer (and the cursor) to the clicked frame."""
        for plot in self.plots:
            if plot.sceneBoundingRect().contains(event.scenePos()):
                x = plot.vb.mapSceneToView(event.scenePos()).x()
                frame = round(x)
                if self.track is not None:
                    frame = int(np.clip(frame, 0, int(self.track.frames.max())))
                self.frame_clicked.emit(frame)
                if self.viewer is not None:
                    self.viewer.dims.set_current_step(0, frame)
                else:
                    self.set_frame(frame)
                return

    @property
    def busy(self) -> bool:
        """True while the tracks of a new layer are read (in a worker)."""
        return self._loader is not None

    def _on_layer_added(self, event: Any = None, layer: Any = None) -> None:
        """A prediction or smoothed layer arrived: read its tracks in a worker, then plot."""
        from napari.qt.threading import create_worker

        layer = layer if layer is not None else event.value
        meta = getattr(layer, "metadata", {}) or {}
        if meta.get("kind") not in ("smoothed", "prediction") or not meta.get("csv_path"):
            return
        if layer.__class__.__name__ != "Points":
            return
        if meta.get("camera_csvs"):
            self._load_cameras(dict(meta["camera_csvs"]))
            return
        if self.track is not None and self.track.smoothed and meta["kind"] == "prediction":
            return  # keep showing the smoothed result
        self._load_id += 1
        load_id = self._load_id
        self._loader = create_worker(
            read_tracks,
            meta["csv_path"],
            meta.get("member_csvs") or [],
            meta["kind"] == "smoothed",
            _start_thread=False,
            _ignore_errors=True,
        )
        self._loader.returned.connect(lambda out: self._loaded(load_id, *out))
        self._loader.errored.connect(lambda err: self.status.setText(f"Not loaded: {err}"))
        self._loader.finished.connect(lambda: self._loader_done(load_id))
        self._loader.start()

    def _load_cameras(self, csvs: dict[str, str]) -> None:
        """Read every camera's table in a worker (once per result: each camera's layer asks)."""
        from napari.qt.threading import create_worker

        if csvs == self._camera_csvs:
            return
        self._camera_csvs = csvs
        self._load_id += 1
        load_id = self._load_id
        self._loader = create_worker(
            read_camera_tracks, csvs, _start_thread=False, _ignore_errors=True
        )
        self._loader.returned.connect(
            lambda tracks: self.set_camera_tracks(tracks) if load_id == self._load_id else None
        )
        self._loader.errored.connect(lambda err: self.status.setText(f"Not loaded: {err}"))
        self._loader.finished.connect(lambda: self._loader_done(load_id))
        self._loader.start()

    def _loaded(self, load_id: int, track: PoseTrack, members: list[PoseTrack]) -> None:
        if load_id == self._load_id:  # a newer layer's tracks win
            self.set_tracks(track, members)

    def _loader_done(self, load_id: int) -> None:
        if load_id == self._load_id:
            self._loader = None


def read_camera_tracks(csvs: Mapping[str, str]) -> dict[str, PoseTrack]:
    """Read each camera's smoothed table (no Qt, so a worker runs it)."""
    return {camera: read_pose_track(csv) for camera, csv in csvs.items()}


def read_tracks(
    csv: str, member_csvs: Sequence[str], find_members: bool
) -> tuple[PoseTrack, list[PoseTrack]]:
    """Read a predictions CSV and its members' (found beside a smoothed CSV opened by itself,
    ``ensemble.files``); no Qt, so a worker runs it."""
    if not member_csvs and find_members:
        from napari_lightning_pose.ensemble.files import find_ensemble_files

        member_csvs = find_ensemble_files(csv).members
    return read_pose_track(csv), [read_pose_track(m) for m in member_csvs]
