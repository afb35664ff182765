"""How long the napari window freezes in the Project and labeling docks, and a labeling step.

Times, through a shown viewer on a copy of the bundled mirror-mouse project: Project >
Add video (a 1.7 MB clip under a new name, so it is really copied), Label frames (dock the
labeling widget and open the project), opening the project again in the labeling dock, and
one-frame steps in the labeling dock against the same frames as a bare image stack. For the
dock actions it prints the total time until the result is shown and the longest freeze of
the event loop meanwhile; for steps, wall p50 / p90 until the canvas drew the frame and the
process CPU per step. Run from the repository root::

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


def _busy(widget: object) -> bool:
    """True while a dock still works (docks without workers are never busy afterwards)."""
    return bool(getattr(widget, "busy", False) or getattr(widget, "loading", False))


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="labeling frame steps")
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
    project = ProjectWidget(viewer)
    viewer.window.add_dock_widget(project, name="Project", area="right")
    clock.idle(500)
    assert project.open_project(root / "config.yaml")
    rows: list[tuple[str, str]] = []

    total, stall = clock.stalls(lambda: project.add_video(clip), lambda: not _busy(project))
    assert any(layer.name == "another_clip" for layer in viewer.layers), "video not shown"
    rows.append(("Project > Add video (1.7 MB clip)", f"{total:.0f} | {stall:.0f}"))
    clock.idle(300)

    found: dict[str, LabelingWidget] = {}

    def label_frames() -> None:
        found["widget"] = project.open_labeling()

    total, stall = clock.stalls(label_frames, lambda: not _busy(project))
    labeling = found["widget"]
    clock.stalls(lambda: None, lambda: not _busy(labeling))
    assert labeling.state is not None, "project not opened"
    rows.append(("Project > Label frames (dock + open project)", f"{total:.0f} | {stall:.0f}"))
    clock.idle(300)

    def reopen() -> None:
        start = getattr(labeling, "load_project_in_background", labeling.load_project)
        start(root / "config.yaml")

    total, stall = clock.stalls(reopen, lambda: not _busy(labeling))
    rows.append(("Label keypoints > open the project again", f"{total:.0f} | {stall:.0f}"))
    clock.idle(500)

    n = labeling.state.n_frames
    steps = np.array([clock.step_to(k % n) for k in range(1, args.steps + 1)])
    stack = labeling.frames_layer.data
    labeling.close_project()
    viewer.layers.clear()
    viewer.add_image(stack, rgb=getattr(stack, "rgb", False), contrast_limits=(0, 255))
    clock.idle(500)
    bare = np.array([clock.step_to(k % n) for k in range(1, args.steps + 1)])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    clock.close()
    shutil.rmtree(work, ignore_errors=True)

    def step_row(r: np.ndarray) -> str:
        wall = f"{np.percentile(r[:, 0], 50):.0f} / {np.percentile(r[:, 0], 90):.0f}"
        return f"{wall} | CPU {np.percentile(r[:, 1], 50):.0f}"

    print(f"load average {load}, {os.cpu_count()} CPUs, window {clock.size}")
    print()
    print("| action | total (ms) | longest freeze (ms) |")
    print("|---|---:|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print()
    print("| frame step | wall p50 / p90 (ms) | process CPU p50 (ms) |")
    print("|---|---:|---:|")
    print(f"| labeling dock ({n} frames, points + skeleton) | {step_row(steps)} |")
    print(f"| the same frames as a bare image layer | {step_row(bare)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
