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
beside it), and ``docs/multicam_train.png`` / ``docs/multicam_predict.png`` (the shared
mirror-mouse example split into two cameras, trained with pca_multiview across them from the
Train dock, then a session predicted + smoothed from its dock and shown in the grid; about 4
CPU-minutes). Works on a copy of the sample in
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


def _wait_for(widget, app) -> None:
    """Let a dock's worker finish (and its result's layers go in) without a busy loop."""
    while widget.busy if hasattr(widget, "busy") else widget.running:
        app.processEvents()
        time.sleep(0.05)
    _settle(app, 10)


def multicam_screenshots(
    out: Path, work: Path, steps: int = 60, frames: int = 300, size: int = 128
) -> list[Path]:
    """The shared mirror-mouse example split into two cameras (``split_mirrored_project``:
    90 labeled frames per view, the video's first ``frames`` frames) through the window's
    loop: the Train dock after training 2 members with pca_multiview across the cameras, the
    labeled frames open in Label views' grid (``multicam_train.png``), then the grid after
    Predict + smooth of the session, with the traces and the outlier queue
    (``multicam_predict.png``)."""
    import yaml
    from qtpy.QtWidgets import QApplication

    from napari_lightning_pose.interop.mirror_split import split_mirrored_project
    from napari_lightning_pose.viewer.widgets.outliers import OutlierQueueWidget

    source = Path(shutil.copytree(REPO.parent / "shared" / "data" / "mirror-mouse-example",
                                  work / "mirror-mouse"))  # fmt: skip
    shutil.copyfile(SAMPLE / "config.yaml", source / "config.yaml")
    split = split_mirrored_project(source, work / "mirror-mouse-split", max_video_frames=frames)
    config = split.config
    cfg = yaml.safe_load(config.read_text())
    cfg["data"]["image_resize_dims"] = {"height": size, "width": size}
    cfg["training"]["check_val_every_n_epoch"] = 2
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    viewer = _new_viewer()
    app = QApplication.instance()
    _, views = _dock(viewer, "Label views")  # the labeled frames of both cameras in the grid
    if not views.load_project(config):
        raise SystemExit(views.status.text())
    _wait_for(views, app)
    viewer.dims.set_current_step(0, 7)
    _, train = _dock(viewer, "Train", tabify=True)
    _close_toasts(viewer)
    train.project_edit.setText(str(config))
    train.model_combo.setCurrentText("semi-supervised")
    for name, check in train.loss_checks.items():
        check.setChecked(name in ("pca_multiview", "temporal"))
    train.members_spin.setValue(2)
    train.steps_spin.setValue(steps)
    train.device_combo.setCurrentText("cpu")
    started = time.perf_counter()
    if not train.start():
        raise SystemExit(train.status.text())
    _wait_for(train, app)
    print(f"trained in {time.perf_counter() - started:.0f} s: {train.status.text()}")
    viewer.reset_view()  # the grid's boxes fit the canvas the docks left
    _settle(app, 10)
    shots = [_shoot(viewer, out / "multicam_train.png")]
    viewer.close()
    viewer = _new_viewer()
    queue = OutlierQueueWidget(viewer)
    viewer.window.add_dock_widget(queue, name="Outlier queue", area="right")
    _, predict = _dock(viewer, "Predict + smooth", tabify=True)
    _close_toasts(viewer)
    predict.project_edit.setText(str(config))
    predict._fill_defaults()  # the sessions, as when the user picks the project
    predict.device_combo.setCurrentText("cpu")
    started = time.perf_counter()
    if not predict.start():
        raise SystemExit(predict.status.text())
    _wait_for(predict, app)
    while queue.busy or queue.scores is None:
        app.processEvents()
        time.sleep(0.05)
    print(
        f"predicted + smoothed in {time.perf_counter() - started:.0f} s: {predict.status.text()}"
    )
    queue.go_to(0)  # the worst frame, in both cameras
    for layer in viewer.layers:
        if layer.name in split.views:
            viewer.layers.selection.active = layer
    _settle(app, 10)
    viewer.reset_view()
    shots.append(_save(viewer.screenshot(canvas_only=False, flash=False),
                       out / "multicam_predict.png", viewer))  # fmt: skip
    return shots


def _shoot(viewer, out: Path) -> Path:
    """Save the window to ``out`` (the viewer stays open)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    image = viewer.screenshot(canvas_only=False, flash=False)
    Image.fromarray(np.asarray(image)[..., :3]).save(out, optimize=True)
    print(f"wrote {out} ({image.shape[1]} x {image.shape[0]})")
    return out


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
    parser.add_argument(
        "--only", choices=["labeling", "project", "training", "predict", "multicam"]
    )
    args = parser.parse_args(argv)
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        print("No display: run under xvfb-run (see the docstring).", file=sys.stderr)
        return 2
    want = {args.only} if args.only else {"labeling", "project", "training", "predict", "multicam"}
    with tempfile.TemporaryDirectory() as tmp:
        if "labeling" in want:
            labeling_screenshot(args.out / "labeling.png", Path(tmp))
        if "project" in want:
            project_screenshot(args.out / "project.png", Path(tmp))
        if "training" in want:
            training_screenshot(args.out / "training.png", Path(tmp))
        if "predict" in want and args.demo is not None:
            predict_screenshot(args.out / "predict.png", args.demo, Path(tmp))
        if "multicam" in want:
            multicam_screenshots(args.out, Path(tmp))
    if "predict" in want and args.demo is not None:
        for name in ("qc.png", "traces.png"):
            shutil.copyfile(args.demo / name, args.out / name)
            print(f"copied {args.demo / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
