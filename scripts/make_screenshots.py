"""Screenshots of the real napari window for the docs: labeling the bundled sample project.

Run under a virtual X server (napari's canvas needs OpenGL, which Qt's offscreen platform
lacks)::

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/make_screenshots.py

Writes ``docs/training.png`` (the training dock after a short run: progress, loss and
validation curves), with ``--demo DIR`` ``docs/predict.png`` (the predict + smooth dock after
it ran the demo's trained members on the sample video: smoothed keypoints over the video,
legend and traces) plus copies of the demo's
``qc.png`` and ``traces.png``, and ``docs/labeling.png`` (the labeling widget docked, a
frame half labeled: keypoints,
skeleton, the keypoint list with the next keypoint highlighted) and ``docs/project.png`` (the
project widget after picking frames of the sample video, the labeling widget in the tab
beside it). Works on a copy of the sample in
a temporary folder; the package's files are never changed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from napari_lightning_pose import SAMPLE_DIR as SAMPLE

REPO = Path(__file__).resolve().parents[1]
PLUGIN = "napari-lightning-pose"
WINDOW_SIZE = (1500, 950)


def _settle(app, n: int = 5) -> None:
    """Let Qt lay out and paint (a few rounds of events)."""
    for _ in range(n):
        app.processEvents()


def _new_viewer():
    import napari

    viewer = napari.Viewer(show=True, title="napari-lightning-pose")
    viewer.window._qt_window.resize(*WINDOW_SIZE)
    return viewer


def _dock(viewer, name: str, tabify: bool = False):
    """Dock one of our widgets, wide enough for its title and the keypoint names."""
    from qtpy.QtCore import Qt

    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=tabify)
    viewer.window._qt_window.resizeDocks([dock], [440], Qt.Orientation.Horizontal)
    return dock, widget


def _close_toasts(viewer) -> None:
    """Close napari's notification pop-ups (e.g. the PyQt5 deprecation warning at start)."""
    from napari._qt.dialogs.qt_notification import NapariQtNotification
    from qtpy.QtWidgets import QApplication

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()
    _settle(QApplication.instance())


def labeling_screenshot(out: Path, work: Path) -> Path:
    """The labeling widget on the sample: frame img05 with its bottom-view keypoints still to
    do, so the list shows labeled, not visible and unlabeled keypoints and the next one."""
    from qtpy.QtWidgets import QApplication

    project = Path(shutil.copytree(SAMPLE, work / "mirror-mouse"))
    viewer = _new_viewer()
    _, widget = _dock(viewer, "Label keypoints")
    if not widget.load_project(project / "config.yaml"):
        raise SystemExit("could not open the sample project")
    frame = widget.state.images.index("labeled-data/img05.png")
    widget.go_to_frame(frame)
    layer = widget.points_layer
    on_frame = np.rint(layer.data[:, 0]).astype(int) == frame
    names = layer.features["keypoint"].astype(str).to_numpy()
    todo = {"paw4RH_bot", "tailBase_bot", "tailMid_bot", "nose_bot"}
    layer.remove(list(np.flatnonzero(on_frame & np.isin(names, list(todo)))))
    widget.set_current_keypoint("paw4RH_bot")
    widget.save()  # the copy only: shows "saved" rather than "unsaved changes"
    _settle(QApplication.instance())
    _close_toasts(viewer)
    viewer.reset_view()  # fit the frame to the canvas as laid out now
    return _save(viewer.screenshot(canvas_only=False, flash=False), out, viewer)


def project_screenshot(out: Path, work: Path) -> Path:
    """The project widget after creating a project and picking frames of the sample video."""
    from qtpy.QtWidgets import QApplication

    viewer = _new_viewer()
    project_dock, widget = _dock(viewer, "Project")
    app = QApplication.instance()
    _close_toasts(viewer)
    widget.folder_edit.setText(str(work / "new-mouse-project"))
    widget.keypoints_edit.setText("nose_top, paw1LH_top, paw2LF_top, tailBase_top")
    widget.skeleton_edit.setText("nose_top-paw2LF_top, paw1LH_top-tailBase_top")
    if widget.create_project_from_form() is None:
        raise SystemExit("could not create the project")
    widget.add_video(SAMPLE / "videos" / "test_vid.mp4")
    widget.n_frames_spin.setValue(8)
    widget.select_frames()
    while widget.worker is not None:
        app.processEvents()
    project_dock.raise_()  # the hand-over brought the labeling tab to the front
    _settle(app)
    viewer.reset_view()
    return _save(viewer.screenshot(canvas_only=False, flash=False), out, viewer)


def training_screenshot(out: Path, work: Path, steps: int = 40) -> Path:
    """The training dock after a short run on the sample (128 px input, 2 members): progress
    bar, status and the live loss and validation-error curves."""
    import yaml
    from qtpy.QtWidgets import QApplication

    project = Path(shutil.copytree(SAMPLE, work / "train-mouse"))
    cfg = yaml.safe_load((project / "config.yaml").read_text())
    cfg["data"]["image_resize_dims"] = {"height": 128, "width": 128}
    cfg["training"]["check_val_every_n_epoch"] = 2
    (project / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    viewer = _new_viewer()
    _, widget = _dock(viewer, "Train")
    _close_toasts(viewer)
    widget.project_edit.setText(str(project))
    widget.model_combo.setCurrentText("supervised")
    widget.members_spin.setValue(2)
    widget.steps_spin.setValue(steps)
    widget.device_combo.setCurrentText("cpu")
    viewer.open(str(project / "CollectedData.csv"), plugin=PLUGIN)
    if not widget.start():
        raise SystemExit(widget.status.text())
    app = QApplication.instance()
    while widget.running:  # let the worker have the CPU: no busy loop
        app.processEvents()
        time.sleep(0.05)
    _settle(app)
    viewer.reset_view()
    return _save(viewer.screenshot(canvas_only=False, flash=False), out, viewer)


def predict_screenshot(out: Path, demo: Path, work: Path) -> Path:
    """The predict + smooth dock after a real run: the demo's trained members predict the
    sample video in the dock's worker, EKS fuses them, and the result is shown (video,
    keypoints and tails coloured by posterior SD in px, skeleton, legend, trace panel) at
    the frame with the least certain keypoint."""
    from qtpy.QtWidgets import QApplication

    from napari_lightning_pose.labeling.project import Project

    # a copy of the demo's project, so its predictions/ stay the demo's own
    project = Project.open(shutil.copytree(demo / "project", work / "predict-mouse"))
    video = project.video_paths()[0]
    viewer = _new_viewer()
    _, widget = _dock(viewer, "Predict + smooth")
    _close_toasts(viewer)
    widget.project_edit.setText(str(project.root))
    widget.models_edit.setText(str(demo / "models"))
    widget._fill_defaults()  # the video, as when the user picks the project
    widget.device_combo.setCurrentText("cpu")
    if not widget.start():
        raise SystemExit(widget.status.text())
    app = QApplication.instance()
    while widget.running:  # let the worker have the CPU: no busy loop
        app.processEvents()
        time.sleep(0.05)
    _settle(app, 10)
    from napari_lightning_pose.viewer.widgets.traces import TracePanel

    points = viewer.layers[f"{video.stem}.eks"]
    worst = int(points.features["posterior_sd"].idxmax())
    viewer.dims.set_current_step(0, int(points.features["frame"][worst]))
    viewer.layers.selection.active = points
    for panel in viewer.window._qt_window.findChildren(TracePanel):
        panel.set_keypoint(str(points.features["keypoint"][worst]))
    _settle(app, 10)
    viewer.reset_view()
    return _save(viewer.screenshot(canvas_only=False, flash=False), out, viewer)


def _save(image: np.ndarray, out: Path, viewer) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(image)[..., :3]).save(out, optimize=True)
    viewer.close()
    print(f"wrote {out} ({image.shape[1]} x {image.shape[0]})")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="folder for the PNGs")
    parser.add_argument(
        "--demo",
        type=Path,
        default=None,
        help="output folder of `napari-lightning-pose demo`: adds predict.png and copies its "
        "qc.png and traces.png",
    )
    parser.add_argument("--only", choices=["labeling", "project", "training", "predict"])
    args = parser.parse_args(argv)
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        print("No display: run under xvfb-run (see the docstring).", file=sys.stderr)
        return 2
    want = {args.only} if args.only else {"labeling", "project", "training", "predict"}
    with tempfile.TemporaryDirectory() as tmp:
        if "labeling" in want:
            labeling_screenshot(args.out / "labeling.png", Path(tmp))
        if "project" in want:
            project_screenshot(args.out / "project.png", Path(tmp))
        if "training" in want:
            training_screenshot(args.out / "training.png", Path(tmp))
        if "predict" in want and args.demo is not None:
            predict_screenshot(args.out / "predict.png", args.demo, Path(tmp))
    if "predict" in want and args.demo is not None:
        for name in ("qc.png", "traces.png"):
            shutil.copyfile(args.demo / name, args.out / name)
            print(f"copied {args.demo / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
