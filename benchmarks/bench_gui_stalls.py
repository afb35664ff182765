"""How long the napari window freezes: opening each dock, the Project and labeling docks,
a labeling step, a training run, Predict + smooth until its layers show, and dragging the
Steer smoothing slider.

Times, through a shown viewer on a copy of the bundled mirror-mouse project: Project >
Add video (a 1.7 MB clip under a new name, so it is really copied), Label frames (dock the
labeling widget and open the project), opening the project again in the labeling dock, and
one-frame steps in the labeling dock against the same frames as a bare image stack. With
``--qc`` (the default) also, in the same window: opening every dock of the plugin from the
manifest (as the Plugins menu does, first time in the process: its imports count), a short
training run from the Train dock (2 members, a small random-init ResNet-18 at 64 x 64 px),
Predict + smooth of the sample clip until its layers are shown, and a drag of the Steer
smoothing slider (one value every 20 ms, as a mouse drag delivers them); ``--qc-only``
skips the Project and labeling part. For the dock actions it prints the total time until
the result is shown, the longest freeze of the event loop meanwhile, and the GUI thread's
own CPU time in that freeze and the most in any one freeze (on a loaded machine a freeze
also waits for a core or the GIL; the CPU time is what the GUI thread itself did), our
code's time in that freeze and the most in any one (the GUI thread in our package or in a
library it called for its own work, sampled every 5 ms, plus full collections set off
there), the most napari's work for our code took in one freeze (a layer we add, a setter we
call: napari or vispy below our frames; napari drawing from its own event loop is neither),
the full garbage collections meanwhile (each holds the GIL, whichever thread it falls
on), and every freeze over 100 ms with both shares; for
steps, wall p50 / p90 until the canvas drew the frame and the process CPU per step. Run
from the repository root::

    xvfb-run -a -s "-screen 0 1920x1080x24" python benchmarks/bench_gui_stalls.py

With ``PYTHONPATH`` pointing at another checkout's ``src`` it measures that code (the
before/after rows of the README), as long as its docks have the same entry points.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from viewer_clock import ViewerClock

SAMPLE = Path(__file__).resolve().parents[1] / "src/napari_lightning_pose/resources/mirror-mouse"


def row(clock: ViewerClock, total: float, stall: float) -> str:
    """A table row's cells: total ms, longest freeze ms, the GUI thread's CPU ms in it and
    the most in any one freeze, our code's and napari's work for it (``viewer_clock.where``),
    the full garbage collections, where the GUI thread was, and every freeze over 100 ms."""
    cpu = f"{clock.last_cpu:.0f} / {clock.last_max_cpu:.0f}"
    ours = f"{clock.last_ours:.0f} / {clock.last_max_ours:.0f}"
    n_gc, gc_ms = clock.last_full_gcs
    freezes = (
        ", ".join(f"{ms:.0f} ({mine:.0f}, {nap:.0f})" for ms, mine, nap in clock.last_freezes)
        or "-"
    )
    return (
        f"{total:.0f} | {stall:.0f} | {cpu} | {ours} | {clock.last_max_napari:.0f} | "
        f"{n_gc}, {gc_ms:.0f} | {clock.last_where} | {freezes}"
    )


def _busy(widget: object) -> bool:
    """True while a dock still works (docks without workers are never busy afterwards)."""
    return bool(getattr(widget, "busy", False) or getattr(widget, "loading", False))


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="labeling frame steps")
    parser.add_argument("--no-qc", action="store_true", help="skip docks, train, predict, steer")
    parser.add_argument("--train-steps", type=int, default=20, help="steps per member")
    parser.add_argument("--qc-only", action="store_true", help="skip the Project and labeling")
    parser.add_argument(
        "--detail",
        action="store_true",
        help="also list each freeze over 100 ms: its full collections and the places of the "
        "GUI thread and of our other threads (workers holding the GIL freeze the window too)",
    )
    args = parser.parse_args(argv)

    from napari_lightning_pose.viewer.widgets.labeling import LabelingWidget
    from napari_lightning_pose.viewer.widgets.project import ProjectWidget

    work = Path(tempfile.mkdtemp(prefix="gui-stalls-"))
    root = work / "project"
    shutil.copytree(SAMPLE, root)
    clip = work / "another_clip.mp4"
    shutil.copy(SAMPLE / "videos" / "test_vid.mp4", clip)
    clock = ViewerClock()
    viewer = clock.viewer
    rows: list[tuple[str, str]] = []
    if not args.no_qc:
        rows.extend(open_every_dock(clock))
        rows.extend(train_predict_steer(clock, root, args.train_steps))
        viewer.layers.clear()
        for name in list(viewer.window.dock_widgets):
            viewer.window.remove_dock_widget(viewer.window.dock_widgets[name])
        clock.idle(300)
    if args.qc_only:
        return report(clock, work, rows, None, args.detail)
    project = ProjectWidget(viewer)
    viewer.window.add_dock_widget(project, name="Project", area="right")
    clock.idle(500)
    assert project.open_project(root / "config.yaml")

    total, stall = clock.stalls(lambda: project.add_video(clip), lambda: not _busy(project))
    assert any(layer.name == "another_clip" for layer in viewer.layers), "video not shown"
    rows.append(("Project > Add video (1.7 MB clip)", row(clock, total, stall)))
    clock.idle(300)

    found: dict[str, LabelingWidget] = {}

    def label_frames() -> None:
        found["widget"] = project.open_labeling()

    def labeling_shown() -> bool:
        return not _busy(project) and "widget" in found and not _busy(found["widget"])

    # one clock until the labeling dock shows the project (a second call would replace
    # the attribution of this one's freezes)
    total, stall = clock.stalls(label_frames, labeling_shown)
    labeling = found["widget"]
    assert labeling.state is not None, "project not opened"
    rows.append(
        (
            "Project > Label frames (dock + open project)",
            row(clock, total, stall),
        )
    )
    clock.idle(300)

    def reopen() -> None:
        start = getattr(labeling, "load_project_in_background", labeling.load_project)
        start(root / "config.yaml")

    total, stall = clock.stalls(reopen, lambda: not _busy(labeling))
    rows.append(
        (
            "Label keypoints > open the project again",
            row(clock, total, stall),
        )
    )
    clock.idle(500)

    n = labeling.state.n_frames
    steps = np.array([clock.step_to(k % n) for k in range(1, args.steps + 1)])
    stack = labeling.frames_layer.data
    labeling.close_project()
    viewer.layers.clear()
    viewer.add_image(stack, rgb=getattr(stack, "rgb", False), contrast_limits=(0, 255))
    clock.idle(500)
    bare = np.array([clock.step_to(k % n) for k in range(1, args.steps + 1)])
    return report(clock, work, rows, (n, steps, bare), args.detail)


def heap_line() -> str:
    """The window's process at the end: its heap, what one full collection of it costs (the
    GIL held that long, wherever it falls) and whether torch got into it."""
    import gc
    import sys
    import time

    n, frozen = len(gc.get_objects()), gc.get_freeze_count()
    t0 = time.perf_counter()
    gc.collect()
    ms = (time.perf_counter() - t0) * 1e3
    torch = "torch" in sys.modules
    return (
        f"window's process: {n} tracked objects (+ {frozen} frozen), a full collection "
        f"{ms:.0f} ms, torch: {torch}"
    )


def report(
    clock: ViewerClock,
    work: Path,
    rows: list[tuple[str, str]],
    frame_steps: tuple[int, np.ndarray, np.ndarray] | None,
    detail: bool = False,
) -> int:
    """Close the viewer, remove the scratch copy and print the tables (with ``detail``, what
    each freeze over 100 ms was made of)."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    heap = heap_line()
    clock.close()
    shutil.rmtree(work, ignore_errors=True)

    def step_row(r: np.ndarray) -> str:
        wall = f"{np.percentile(r[:, 0], 50):.0f} / {np.percentile(r[:, 0], 90):.0f}"
        return f"{wall} | CPU {np.percentile(r[:, 1], 50):.0f}"

    print(f"load average {load}, {os.cpu_count()} CPUs, window {clock.size}")
    print(heap)
    print()
    print(
        "| action | total (ms) | longest freeze (ms) | GUI-thread CPU in it / most in one "
        "freeze (ms) | our code in it / most in one freeze (ms) | napari's work for our code, "
        "most in one freeze (ms) | full GCs: n, longest (ms) | GUI thread during it | freezes "
        "over 100 ms (ms: ours, napari's for us) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    if detail:  # one clock per row, in order
        for (name, _), freezes in zip(rows, clock.freeze_log, strict=True):
            for line in freezes:
                print(f"- {name}: {line}")
    if frame_steps is None:
        return 0
    n, steps, bare = frame_steps
    print()
    print("| frame step | wall p50 / p90 (ms) | process CPU p50 (ms) |")
    print("|---|---:|---:|")
    print(f"| labeling dock ({n} frames, points + skeleton) | {step_row(steps)} |")
    print(f"| the same frames as a bare image layer | {step_row(bare)} |")
    return 0


PLUGIN = "napari-lightning-pose"
#: The manifest's docks, in the order a user meets them.
DOCKS = (
    "Project",
    "Label keypoints",
    "Train",
    "Predict + smooth",
    "Traces",
    "Uncertainty legend",
    "Outlier queue",
    "Steer smoothing",
)


def open_every_dock(clock: ViewerClock) -> list[tuple[str, str]]:
    """Open each dock from the manifest, as the Plugins menu does; a row per dock."""
    rows = []
    for name in DOCKS:

        def add(name: str = name) -> None:
            clock.viewer.window.add_plugin_dock_widget(PLUGIN, name)

        total, stall = clock.stalls(add, lambda: True)
        rows.append(
            (
                f"open the {name} dock (first time)",
                row(clock, total, stall),
            )
        )
        clock.idle(200)
    return rows


def _dock(clock: ViewerClock, cls: type) -> object:
    return next(w for w in clock.viewer.window._qt_window.findChildren(cls))


def train_predict_steer(clock: ViewerClock, root: Path, steps: int) -> list[tuple[str, str]]:
    """Train 2 tiny members from the Train dock, predict + smooth the clip, drag Steer."""
    import yaml

    from napari_lightning_pose.viewer.widgets.predict import PredictWidget
    from napari_lightning_pose.viewer.widgets.steer import SteerWidget
    from napari_lightning_pose.viewer.widgets.training import TrainingWidget

    config = root / "config.yaml"
    cfg = yaml.safe_load(config.read_text())
    cfg["data"]["image_resize_dims"] = {"height": 64, "width": 64}
    cfg["model"].update(backbone="resnet18", backbone_weights=None, model_name="bench")
    cfg["training"].update(num_workers=0, imgaug="none", num_threads=1, freeze_batchnorm=False)
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    rows = []
    train = _dock(clock, TrainingWidget)
    train.project_edit.setText(str(config))
    train.model_combo.setCurrentText("supervised")
    train.steps_spin.setValue(steps)
    train.members_spin.setValue(2)
    train.device_combo.setCurrentText("cpu")
    total, stall = clock.stalls(lambda: train.start(), lambda: not train.running)
    assert "Trained 2" in train.status.text(), train.status.text()
    rows.append(
        (
            f"training run (2 members x {steps} steps, 64 px)",
            row(clock, total, stall),
        )
    )
    clock.idle(300)

    predict = _dock(clock, PredictWidget)
    predict.project_edit.setText(str(config))
    predict._fill_defaults()
    predict.device_combo.setCurrentText("cpu")
    steer = _dock(clock, SteerWidget)

    def predicted() -> bool:
        return not predict.busy and steer.track is not None and not steer.busy

    total, stall = clock.stalls(lambda: predict.start(), predicted)
    assert predict.result is not None and predict.result.kind == "done", predict.status.text()
    rows.append(
        (
            "Predict + smooth until the layers show",
            row(clock, total, stall),
        )
    )
    clock.idle(300)

    def drag() -> None:
        for tick in range(steer.slider.value() - 30, steer.slider.value() + 1):
            steer.slider.setValue(max(tick, 0))
            clock.idle(20)

    total, stall = clock.stalls(drag, lambda: not steer.busy)
    frames = steer.steer.ens.n_frames
    rows.append(
        (
            f"Steer: drag the slider (30 values, {frames} frames)",
            row(clock, total, stall),
        )
    )
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
