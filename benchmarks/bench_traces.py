"""How long moving the trace panel's cursor takes (the cost of scrubbing the time slider).

    xvfb-run -a python benchmarks/bench_traces.py [--frames 10000] [--members 5]

A synthetic smoothed CSV (and members) of ``--frames`` frames is plotted in a shown
``TracePanel``; then the cursor is moved frame by frame (``set_frame``) with the repaint
forced each time (``processEvents``), and separately moved by the viewer's time slider.
Prints the median and 95th percentile per update, wall and process CPU time (on a shared
machine the CPU time is the fair number); the target is under 16 ms (60 Hz). The slider row
includes napari's own re-slicing and canvas redraw.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _tracks(n: int, n_members: int, folder: Path):
    from napari_lightning_pose.ensemble.smooth import EKS_COORDS
    from napari_lightning_pose.io.pose_csv import make_pose_frame, write_pose_csv
    from napari_lightning_pose.viewer.prediction_layers import read_pose_track

    rng = np.random.default_rng(0)
    names = ["nose", "paw", "tail"]
    t = np.arange(n)
    values = np.zeros((n, 3, len(EKS_COORDS)))
    values[..., 0] = 200 + 50 * np.sin(t / 40)[:, None]
    values[..., 1] = 150 + 30 * np.cos(t / 30)[:, None]
    values[..., 2] = 0.9
    values[..., 5:9] = rng.uniform(0.5, 4, (n, 3, 4))
    smoothed = write_pose_csv(make_pose_frame(values, names, EKS_COORDS), folder / "s.csv")
    members = []
    for m in range(n_members):
        pred = values[..., :3] + np.r_[rng.normal(0, 2, 2), 0]
        members.append(
            write_pose_csv(
                make_pose_frame(pred, names, ("x", "y", "likelihood")), folder / f"m{m}.csv"
            )
        )
    return read_pose_track(smoothed), [read_pose_track(p) for p in members]


def _stats(times: list[float]) -> str:
    ms = np.asarray(times) * 1000
    return f"median {np.median(ms):.2f} ms, p95 {np.percentile(ms, 95):.2f} ms, max {ms.max():.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--moves", type=int, default=300)
    args = parser.parse_args(argv)
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_lightning_pose.viewer.widgets.traces import TracePanel

    with tempfile.TemporaryDirectory() as tmp:
        track, members = _tracks(args.frames, args.members, Path(tmp))
    viewer = napari.Viewer(show=True)
    viewer.add_image(np.zeros((args.frames, 8, 8), dtype=np.uint8))
    panel = TracePanel(viewer, window=200)
    viewer.window.add_dock_widget(panel, area="bottom")
    panel.set_tracks(track, members)
    app = QApplication.instance()
    for _ in range(10):
        app.processEvents()
    rows = []
    for label, move in (
        ("TracePanel.set_frame + repaint", panel.set_frame),
        ("time slider -> cursor + repaint", lambda f: viewer.dims.set_current_step(0, f)),
    ):
        times, cpu = [], []
        for i in range(args.moves):
            start, start_cpu = time.perf_counter(), time.process_time()
            move(1000 + i * 3)  # scrubbing forward; the view recentres every ~50 moves
            app.processEvents()
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        rows.append((label, _stats(times), _stats(cpu)))
    viewer.close()
    print(f"{args.frames} frames, {args.members} members, window 200 frames")
    print("| update | wall time per update | process CPU time per update |\n|---|---|---|")
    for label, wall, cpu in rows:
        print(f"| {label} | {wall} | {cpu} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
