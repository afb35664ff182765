"""Benchmark lazy video readers: random-access latency, sequential speed and frame exactness.

Compares ``napari_lightning_pose.io.VideoReader`` with plain pims (``pims.open``, which is
``PyAVReaderTimed``, and ``pims.PyAVReaderIndexed``) and OpenCV (``cv2.VideoCapture`` seeking
with ``CAP_PROP_POS_FRAMES``) on the same file, and prints a markdown table.

"exact?" compares every randomly accessed frame with the same library's own sequential decode
of the whole file (so colour-conversion differences between libraries do not count); a
reader that returns a neighbouring frame after a seek shows up as ``no``.

Run from the repository root (OpenCV is the ``bench`` extra: ``pip install -e .[bench]``)::

    python benchmarks/bench_video.py --video path/to/video.mp4 --n-random 100

``--viewer`` adds what a user feels: frame changes (random jumps, one-frame steps forwards
and backwards) timed through a shown napari viewer until the canvas has drawn the new frame,
for our video layer with and without background prefetch and for an in-memory array::

    xvfb-run -a -s "-screen 0 1920x1080x24" python benchmarks/bench_video.py --viewer
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_lightning_pose.io.video import VideoReader

SAMPLE_VIDEO = (
    Path(__file__).resolve().parents[1]
    / "src/napari_lightning_pose/resources/mirror-mouse/videos/test_vid.mp4"
)


@dataclass
class Candidate:
    """One library under test, as three callables over a fresh handle.

    ``open`` returns a handle, ``get(handle, i)`` one RGB frame (height, width, 3) uint8,
    ``frames(handle)`` iterates over all frames in order with the library's fastest path.
    """

    name: str
    open: Callable[[Path], object]
    get: Callable[[object, int], np.ndarray]
    frames: Callable[[object], Iterator[np.ndarray]]


@dataclass
class Result:
    """Measured numbers for one candidate (times in milliseconds)."""

    name: str
    open_ms: float
    p50_ms: float
    p95_ms: float
    seq_fps: float
    n_wrong: int
    n_random: int
    n_frames: int


def _digest(frame: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(frame).tobytes(), digest_size=16).digest()


def _ours() -> Candidate:
    return Candidate(
        "napari-lightning-pose VideoReader",
        VideoReader,
        lambda r, i: r[i],
        lambda r: (frame for _, frame in r.iter_frames()),
    )


def _pims_candidates() -> list[Candidate]:
    try:
        import pims
    except ImportError:
        return []
    return [
        Candidate(
            "pims.open (PyAVReaderTimed)",
            lambda p: pims.open(str(p)),
            lambda v, i: np.asarray(v[i]),
            lambda v: (np.asarray(f) for f in v),
        ),
        Candidate(
            "pims.PyAVReaderIndexed",
            lambda p: pims.PyAVReaderIndexed(str(p)),
            lambda v, i: np.asarray(v[i]),
            lambda v: (np.asarray(f) for f in v),
        ),
    ]


def _opencv_candidate() -> list[Candidate]:
    try:
        import cv2
    except ImportError:
        return []

    def get(cap: object, i: int) -> np.ndarray:
        cap.set(cv2.CAP_PROP_POS_FRAMES, i)
        ok, bgr = cap.read()
        if not ok:
            raise RuntimeError(f"OpenCV could not read frame {i}")
        return bgr[..., ::-1]

    def frames(cap: object) -> Iterator[np.ndarray]:
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield bgr[..., ::-1]

    return [Candidate("OpenCV VideoCapture", lambda p: cv2.VideoCapture(str(p)), get, frames)]


def measure(candidates: list[Candidate], video: Path, picks: np.ndarray) -> list[Result]:
    """Time opening, random access to ``picks`` and one sequential pass of every candidate.

    The candidates take turns frame by frame (round robin), so load from other processes on
    a shared machine slows them all alike instead of whichever happened to run at the time.
    """
    n = len(candidates)
    open_ms, handles = [], []
    for cand in candidates:
        start = time.perf_counter()
        handles.append(cand.open(video))
        open_ms.append((time.perf_counter() - start) * 1e3)

    latencies: list[list[float]] = [[] for _ in range(n)]
    random_digests: list[dict[int, bytes]] = [{} for _ in range(n)]
    for i in map(int, picks):
        for c, (cand, handle) in enumerate(zip(candidates, handles, strict=True)):
            start = time.perf_counter()
            frame = cand.get(handle, i)
            latencies[c].append((time.perf_counter() - start) * 1e3)
            random_digests[c][i] = _digest(frame)

    # Sequential pass on fresh handles: each library's own in-order decode is its reference.
    iterators = [cand.frames(cand.open(video)) for cand in candidates]
    seq_digests: list[list[bytes]] = [[] for _ in range(n)]
    elapsed = [0.0] * n
    active = set(range(n))
    while active:
        for c in sorted(active):
            start = time.perf_counter()
            frame = next(iterators[c], None)
            elapsed[c] += time.perf_counter() - start
            if frame is None:
                active.discard(c)
            else:
                seq_digests[c].append(_digest(frame))  # hashing is not timed

    results = []
    for c, cand in enumerate(candidates):
        seq = seq_digests[c]
        n_wrong = sum(i >= len(seq) or seq[i] != d for i, d in random_digests[c].items())
        results.append(
            Result(
                cand.name,
                open_ms[c],
                float(np.percentile(latencies[c], 50)),
                float(np.percentile(latencies[c], 95)),
                len(seq) / elapsed[c],
                n_wrong,
                len(picks),
                len(seq),
            )
        )
    return results


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def format_table(results: list[Result], video: Path, info: str) -> str:
    """The results as a markdown table with a header naming the file and machine."""
    lines = [
        f"Video: `{video.name}` ({info})",
        f"Machine: {_cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "",
        "| reader | open (ms) | random p50 (ms) | random p95 (ms) | sequential (frames/s) "
        "| frames | exact? |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        exact = "yes" if r.n_wrong == 0 else f"no ({r.n_wrong}/{r.n_random} wrong)"
        lines.append(
            f"| {r.name} | {r.open_ms:.0f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | "
            f"{r.seq_fps:.0f} | {r.n_frames} | {exact} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------ through the viewer
@dataclass
class ViewerResult:
    """Per-step times through a shown napari viewer (ms): wall p50, p90 and max, CPU p50."""

    name: str
    rows: dict[str, tuple[float, float, float, float]]
    waited_decodes: dict[str, int]  # frames decoded while the viewer waited (video layers)


def _viewer_layers(video: Path, n_memory: int) -> list[tuple[str, Callable[[], tuple]]]:
    """(name, factory of (data, kwargs)) for the layers compared through the viewer."""
    from napari_lightning_pose.viewer.layers import video_layer_data

    def ours(prefetch: bool) -> tuple:
        data, kwargs, _ = video_layer_data(video)
        if not prefetch:
            data.close()
            data = VideoReader(video)
        return data, kwargs

    def memory() -> tuple:
        with VideoReader(video) as reader:
            frames = np.stack([f for _, f in reader.iter_frames(0, n_memory)])
        return frames, {"rgb": True, "name": "in memory"}

    return [
        ("video layer, prefetch (default)", lambda: ours(True)),
        ("video layer, no prefetch", lambda: ours(False)),
        (f"in-memory array ({n_memory} frames)", memory),
    ]


def measure_viewer(
    video: Path,
    picks: np.ndarray,
    n_steps: int,
    pause_ms: float,
    size: tuple[int, int],
    forward_from: int,
    backward_from: int,
    async_slicing: bool = False,
) -> list[ViewerResult]:
    """Time frame changes through a shown napari viewer, until the canvas has drawn them.

    Random jumps to ``picks``, then ``n_steps`` one-frame steps forwards from
    ``forward_from`` and backwards from ``backward_from`` (each reached by a jump first), for
    our video layer with and without prefetch and for the same frames as an in-memory
    array. Between two steps the event loop runs for ``pause_ms`` (a user holding an arrow
    key steps about every 30-50 ms), which is when the prefetch thread works. For the video
    layers it also counts the frames the reader decoded while the viewer waited for a step
    (the reader's own decoder; the prefetch thread's are not counted): a number that does
    not depend on the machine's load. CPU is the process time per step (all threads, the prefetch
    thread's too); on a loaded machine it is steadier than the wall time.
    ``async_slicing`` turns on napari's experimental asynchronous slicing for this viewer.
    """
    from viewer_clock import ViewerClock

    clock = ViewerClock(size, async_slicing)
    viewer, idle, step_to = clock.viewer, clock.idle, clock.step_to

    n_memory = int(max(picks.max(), forward_from + n_steps, backward_from)) + 1
    results = []
    for name, make in _viewer_layers(video, n_memory):
        data, kwargs = make()
        layer = viewer.add_image(data, **kwargs)
        idle(500)
        rows: dict[str, list[tuple[float, float]]] = {"random jump": [], "step +1": []}
        rows["step -1"] = []
        for i in map(int, picks):
            rows["random jump"].append(step_to(i))
            idle(300)
        waited: dict[str, int] = {}
        for start, sign, key in ((forward_from, 1, "step +1"), (backward_from, -1, "step -1")):
            step_to(start)
            idle(300)
            before = data.stats.frames_decoded if isinstance(data, VideoReader) else 0
            for k in range(1, n_steps + 1):
                rows[key].append(step_to(start + sign * k))
                idle(pause_ms)
            if isinstance(data, VideoReader):
                waited[key] = data.stats.frames_decoded - before
        viewer.layers.remove(layer)
        if isinstance(data, VideoReader):
            data.close()
        results.append(
            ViewerResult(
                name,
                {
                    key: (
                        float(np.percentile([w for w, _ in v], 50)),
                        float(np.percentile([w for w, _ in v], 90)),
                        float(np.max([w for w, _ in v])),
                        float(np.percentile([c for _, c in v], 50)),
                    )
                    for key, v in rows.items()
                },
                waited,
            )
        )
    clock.close()
    return results


def waited_text(waited: dict[str, int]) -> str:
    """'a / b' frames decoded on the reading thread during the forward / backward steps."""
    if not waited:
        return "-"
    return f"{waited.get('step +1', 0)} / {waited.get('step -1', 0)}"


def format_viewer_table(
    results: list[ViewerResult], size: tuple[int, int], pause: float, async_slicing: bool
) -> str:
    """The viewer results as a markdown table (wall p50 / p90 and CPU per frame change)."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        f"Through a shown napari viewer ({size[0]} x {size[1]} window, {pause:g} ms between "
        f"steps{', async slicing' if async_slicing else ''}), load average {load}, "
        f"{_cpu_model()}, {os.cpu_count()} CPUs:",
        "",
        "| layer | random jump p50 / p90 / max (ms) | step +1 p50 / p90 / max | "
        "step -1 p50 / p90 / max | process CPU p50 jump / step +1 / step -1 (ms) | "
        "frames decoded while the viewer waited, steps +1 / -1 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        j, f, b = (r.rows[k] for k in ("random jump", "step +1", "step -1"))
        lines.append(
            f"| {r.name} | {j[0]:.0f} / {j[1]:.0f} / {j[2]:.0f} | {f[0]:.0f} / {f[1]:.0f} / "
            f"{f[2]:.0f} | {b[0]:.0f} / {b[1]:.0f} / {b[2]:.0f} | {j[3]:.0f} / {f[3]:.0f} / "
            f"{b[3]:.0f} | {waited_text(r.waited_decodes)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=SAMPLE_VIDEO, help="video file to read")
    parser.add_argument("--n-random", type=int, default=100, help="random frames to read")
    parser.add_argument("--seed", type=int, default=0, help="seed for the random frame picks")
    parser.add_argument(
        "--only", nargs="*", default=None, help="substrings of reader names to run (default all)"
    )
    parser.add_argument(
        "--viewer",
        action="store_true",
        help="also time frame changes through a shown napari viewer (needs a display or xvfb-run)",
    )
    parser.add_argument("--n-steps", type=int, default=80, help="viewer: one-frame steps")
    parser.add_argument(
        "--pause-ms", type=float, default=40, help="viewer: event loop time between steps"
    )
    parser.add_argument(
        "--async-slicing", action="store_true", help="viewer: napari's experimental async slicing"
    )
    args = parser.parse_args(argv)

    with VideoReader(args.video) as reader:
        info = reader.info
    rng = np.random.default_rng(args.seed)
    picks = rng.choice(info.n_frames, size=min(args.n_random, info.n_frames), replace=False)
    candidates = [_ours(), *_pims_candidates(), *_opencv_candidate()]
    if args.only:
        candidates = [c for c in candidates if any(s in c.name for s in args.only)]
    print(f"measuring: {', '.join(c.name for c in candidates)}", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pims' deprecation noise
        results = measure(candidates, args.video, picks)
    desc = f"{info.n_frames} frames, {info.width} x {info.height}, {info.fps:g} fps, {info.codec}"
    print()
    print(format_table(results, args.video, desc))
    if args.viewer:
        size = (1400, 900)
        span = min(info.n_frames, 500)  # the in-memory copy holds frames 0..span-1
        jumps = rng.choice(span, size=min(20, span), replace=False)
        viewer_results = measure_viewer(
            args.video,
            jumps,
            args.n_steps,
            args.pause_ms,
            size,
            forward_from=span // 10,
            backward_from=span - 1 - span // 10,
            async_slicing=args.async_slicing,
        )
        print()
        print(format_viewer_table(viewer_results, size, args.pause_ms, args.async_slicing))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
