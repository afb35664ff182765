"""Benchmark our Ensemble Kalman Smoother against the reference ``ensemble-kalman-smoother``.

The five-member example ensemble (8 keypoints, 2000 frames, ``../shared/data/eks-example``;
the 1000-frame cut in ``tests/fixtures/eks`` when that is absent) is tiled to each size by
reflection (forward, backward, forward ...) so trajectories stay continuous. For each size we
time, on the same in-memory arrays (CSV reading and writing excluded on both sides):

- ours: :func:`napari_lightning_pose.ensemble.smooth_ensemble` at a fixed smoothing
  parameter and with ``"auto"`` (median of ``--repeat`` runs), and its peak memory
  (``tracemalloc``: numpy's allocations);
- the reference: ``ensemble_kalman_smoother_singlecam`` (or ``..._multicam`` with
  ``--multiview``) in its own Python (``--ref-python``; its pinned jax is not our
  dependency), first call in a fresh process (includes jax compilation, which every run of
  the reference pays) and, when that took under a minute, a second warm call. Runs longer
  than ``--ref-timeout`` seconds are stopped and reported as ``> N s``.

"max |dx|" is the largest difference in smoothed x/y between ours and the reference at the
fixed parameter. Run from the repository root::

    python benchmarks/bench_eks.py --sizes 1000 10000 100000
    python benchmarks/bench_eks.py --sizes 1000 10000 --multiview

Both sides get ``--threads`` CPU threads (default 1).

``--cli`` times the commands end to end instead, CSV in to CSV out, each in a fresh process:
``napari-lightning-pose smooth m*.csv --out eks.csv`` (which also writes ``eks.poses.csv``)
against the reference's ``eks singlecam --input-dir ...`` (``--ref-eks``), on
``--members`` member CSVs of ``--keypoints`` keypoints (the example's first ones, tiled),
and the pose-CSV writer alone (pandas ``to_csv`` against ``write_pose_csv``)::

    python benchmarks/bench_eks.py --cli --sizes 100000 --keypoints 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO.parent / "shared" / "data" / "eks-example"
FIXTURE = REPO / "tests" / "fixtures" / "eks" / "members"
VIEWS = [[0, 1, 2, 3], [4, 5, 6, 7]]

# Runs inside the reference's Python: times its smoother core on arrays from an .npz file.
REFERENCE_SCRIPT = r"""
import json, sys, time
import numpy as np
data = np.load(sys.argv[1])
mode, s, out = sys.argv[2], sys.argv[3], sys.argv[4]
s = None if s == "auto" else float(s)
xy, lik, names = data["xy"], data["lik"], [str(n) for n in data["names"]]
from eks.marker_array import MarkerArray
arr = np.concatenate([xy, lik[..., None]], axis=-1)  # (M, T, K, 3)
if mode == "multiview":
    from eks.multicam_smoother import ensemble_kalman_smoother_multicam
    top, bot = [0, 1, 2, 3], [4, 5, 6, 7]
    arr = np.stack([arr[:, :, top], arr[:, :, bot]], axis=1)  # (M, 2 views, T, 4, 3)
    ma = MarkerArray(arr, data_fields=["x", "y", "likelihood"])
    base = [n.rsplit("_", 1)[0] for n in names[:4]]
    def run():
        dfs, s_fin, _ = ensemble_kalman_smoother_multicam(
            ma, base, camera_names=["top", "bot"], smooth_param=s, quantile_keep_pca=50.0)
        xs = [np.stack([df.xs(c, axis=1, level=2).to_numpy() for c in "xy"], -1) for df in dfs]
        return np.concatenate(xs, axis=1), s_fin
else:
    from eks.singlecam_smoother import ensemble_kalman_smoother_singlecam
    ma = MarkerArray(arr[:, None], data_fields=["x", "y", "likelihood"])
    def run():
        df, s_fin = ensemble_kalman_smoother_singlecam(ma, names, smooth_param=s)
        return np.stack([df.xs(c, axis=1, level=2).to_numpy() for c in "xy"], -1), s_fin
t = time.perf_counter(); coords, s_fin = run(); first = time.perf_counter() - t
warm = None
if first < 60:
    t = time.perf_counter(); run(); warm = time.perf_counter() - t
np.save(out, coords)
print(json.dumps({"first": first, "warm": warm, "s": [float(v) for v in np.ravel(s_fin)]}))
"""


def load_example() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Members' xy (M, T, K, 2), likelihood (M, T, K) and keypoint names of the example."""
    from napari_lightning_pose.ensemble import load_members

    if EXAMPLE.is_dir():
        paths = sorted(EXAMPLE.glob("*.csv"))
    else:
        paths = sorted(FIXTURE.glob("*.csv.gz"))
    ens = load_members(paths)
    return ens.xy, ens.likelihood, ens.keypoints


def tile(a: np.ndarray, n_frames: int, axis: int = 1) -> np.ndarray:
    """Repeat ``a`` along ``axis`` forward, backward, forward ... to ``n_frames``."""
    pieces, total, forward = [], 0, True
    length = a.shape[axis]
    while total < n_frames:
        piece = a if forward else np.flip(a, axis=axis)
        take = min(length, n_frames - total)
        pieces.append(np.take(piece, np.arange(take), axis=axis))
        total += take
        forward = not forward
    return np.concatenate(pieces, axis=axis)


def time_ours(ens, smoothing, views, repeat: int) -> tuple[float, float, object]:
    """Median wall time (s) of ``repeat`` runs, peak traced memory (MB) and the last result."""
    from napari_lightning_pose.ensemble import smooth_ensemble

    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = smooth_ensemble(ens, smoothing=smoothing, views=views)
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    smooth_ensemble(ens, smoothing=smoothing, views=views)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return float(np.median(times)), peak / 2**20, result


def time_reference(
    python: str, npz: Path, mode: str, s: str, timeout: float, threads: int
) -> dict | None:
    """Run the reference in its own interpreter; None when it timed out."""
    out = npz.with_name(f"ref_{mode}_{s}_{npz.stem}.npy")
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
        f"intra_op_parallelism_threads={threads}"
    )
    env["OMP_NUM_THREADS"] = str(threads)
    cmd = [python, "-c", REFERENCE_SCRIPT, str(npz), mode, s, str(out)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, check=True
        )
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"reference failed:\n{err.stderr[-2000:]}") from err
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    info["coords"] = np.load(out)
    return info


def fmt_time(seconds: float | None, timeout: float | None = None) -> str:
    if seconds is None:
        return f"> {timeout:.0f} s" if timeout else "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def write_members(xy, lik, names, folder: Path) -> list[Path]:
    """One prediction CSV per member (x, y, likelihood), as our writer writes them."""
    from napari_lightning_pose.io.pose_csv import make_pose_frame, write_pose_csv

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for m in range(xy.shape[0]):
        values = np.concatenate([xy[m], lik[m][..., None]], axis=-1)
        df = make_pose_frame(values, names, coords=["x", "y", "likelihood"])
        paths.append(write_pose_csv(df, folder / f"member{m}.csv"))
    return paths


def run_timed(cmd: list[str], threads: int, timeout: float) -> tuple[float, float] | None:
    """Wall and CPU time (user + system) of a command in a fresh process.

    None when it ran past ``timeout``. The CPU time is the fair number on a shared machine;
    the wall time is what that machine gave.
    """
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads))
    env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"{cmd[0]} failed:\n{err.stderr.decode()[-2000:]}") from err
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def fmt_run(run: tuple[float, float] | None, timeout: float) -> str:
    """``wall / CPU`` of a :func:`run_timed` result."""
    if run is None:
        return fmt_time(None, timeout)
    return f"{fmt_time(run[0])} / {fmt_time(run[1])}"


def main_cli(args: argparse.Namespace) -> None:
    """End-to-end table: the smooth command, CSV in to CSV out, ours against the reference."""
    from napari_lightning_pose.io.pose_csv import read_pose_csv, write_pose_csv

    xy, lik, names = load_example()
    xy, lik, names = (
        xy[: args.members, :, : args.keypoints],
        lik[: args.members, :, : args.keypoints],
        names[: args.keypoints],
    )
    have_ref = not args.no_reference and Path(args.ref_eks).exists()
    print(
        f"# smooth end to end ({args.members} members x {len(names)} keypoints, CSV in -> "
        f"CSV out; {platform.processor() or platform.machine()}, {args.threads} thread(s))\n"
    )
    header = (
        "| frames | smoothing | ours (wall / CPU) | reference (wall / CPU) | "
        "speed-up (wall / CPU) | writer: pandas / ours |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            folder = Path(tmp) / f"n{n}"
            members = write_members(tile(xy, n), tile(lik, n), names, folder / "in")
            out = folder / "ours"
            out.mkdir()
            frame = read_pose_csv(members[0], ("x", "y", "likelihood"))
            t = time.perf_counter()
            frame.to_csv(out / "pandas.csv")
            t_pandas = time.perf_counter() - t
            t = time.perf_counter()
            write_pose_csv(frame, out / "fast.csv")
            t_fast = time.perf_counter() - t
            writer = f"{fmt_time(t_pandas)} / {fmt_time(t_fast)} ({t_pandas / t_fast:.0f}x)"
            for mode in args.modes:
                s = "auto" if mode == "auto" else f"{args.smoothing:g}"
                ours_cmd = [sys.executable, "-m", "napari_lightning_pose.cli", "smooth"]
                ours_cmd += [*map(str, members), "--out", str(out / f"eks_{mode}.csv")]
                ours_cmd += ["--smoothing", s]
                t_ours = run_timed(ours_cmd, args.threads, args.ref_timeout)
                t_ref = None
                if have_ref:
                    ref_cmd = [args.ref_eks, "singlecam", "--input-dir", str(folder / "in")]
                    ref_cmd += ["--save-dir", str(folder / f"ref_{mode}")]
                    if mode == "fixed":
                        ref_cmd += ["--s", s]
                    t_ref = run_timed(ref_cmd, args.threads, args.ref_timeout)
                ref_cell = fmt_run(t_ref, args.ref_timeout) if have_ref else "-"
                if not have_ref or t_ours is None:
                    speed = "-"
                elif t_ref is None:
                    speed = f"> {args.ref_timeout / t_ours[0]:.0f}x"
                else:
                    speed = f"{t_ref[0] / t_ours[0]:.0f}x / {t_ref[1] / t_ours[1]:.0f}x"
                row = [f"{n:,}", s, fmt_run(t_ours, args.ref_timeout), ref_cell, speed, writer]
                print("| " + " | ".join(row) + " |", flush=True)
    print(
        "\nwall and CPU (user + system) time of each command in a fresh process (imports, "
        "CSV reading, smoothing, writing); load average at the end "
        f"{os.getloadavg()[0]:.1f}; writer = one member CSV written by pandas' to_csv and "
        "by write_pose_csv."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--smoothing", type=float, default=10.0, help="the fixed parameter")
    parser.add_argument("--multiview", action="store_true", help="top/bottom views jointly")
    parser.add_argument("--repeat", type=int, default=5, help="runs of ours (median is kept)")
    parser.add_argument("--ref-python", default="/tmp/eksref/bin/python")
    parser.add_argument("--ref-timeout", type=float, default=600.0)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=["fixed", "auto"],
        default=["fixed", "auto"],
        help="which smoothing modes to time (auto is slow for the reference)",
    )
    parser.add_argument("--cli", action="store_true", help="time the commands end to end")
    parser.add_argument("--ref-eks", default="/tmp/eksref/bin/eks", help="reference command")
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--keypoints", type=int, default=4)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if args.cli:
        main_cli(args)
        return

    from napari_lightning_pose.ensemble import EnsembleMembers

    xy, lik, names = load_example()
    views = VIEWS if args.multiview else None
    mode = "multiview" if args.multiview else "singleview"
    have_ref = not args.no_reference and Path(args.ref_python).exists()
    print(
        f"# EKS benchmark ({mode}, {xy.shape[0]} members x {xy.shape[2]} keypoints, "
        f"s = {args.smoothing:g}; {platform.processor() or platform.machine()}, "
        f"{args.threads} thread(s))\n"
    )
    if not have_ref:
        print(f"(reference not run: {args.ref_python} not found or --no-reference)\n")
    header = (
        "| frames | ours fixed | ours auto | auto/fixed | peak MB (fixed / auto) | "
        "ref fixed (first / warm) | ref auto (first / warm) | speed-up fixed / auto | "
        "max abs dx |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            ens = EnsembleMembers(
                xy=tile(xy, n),
                likelihood=tile(lik, n),
                keypoints=names,
                index=pd.RangeIndex(n),
                sources=[f"member {i}" for i in range(xy.shape[0])],
            )
            t_fix = t_auto = mem_fix = mem_auto = res_fix = None
            if "fixed" in args.modes:
                t_fix, mem_fix, res_fix = time_ours(ens, args.smoothing, views, args.repeat)
            if "auto" in args.modes:
                t_auto, mem_auto, _ = time_ours(ens, "auto", views, args.repeat)
            row = [
                f"{n:,}",
                fmt_time(t_fix),
                fmt_time(t_auto),
                f"{t_auto / t_fix:.1f}x" if t_fix and t_auto else "-",
                " / ".join("-" if m is None else f"{m:.0f}" for m in (mem_fix, mem_auto)),
            ]
            if have_ref:
                npz = Path(tmp) / f"tiled_{n}.npz"
                np.savez(npz, xy=ens.xy, lik=ens.likelihood, names=np.array(names))
                ref_fix = ref_auto = None
                if "fixed" in args.modes:
                    ref_fix = time_reference(
                        args.ref_python,
                        npz,
                        mode,
                        str(args.smoothing),
                        args.ref_timeout,
                        args.threads,
                    )
                if "auto" in args.modes:
                    ref_auto = time_reference(
                        args.ref_python, npz, mode, "auto", args.ref_timeout, args.threads
                    )
                cells, speed = [], []
                for ref, ours in ((ref_fix, t_fix), (ref_auto, t_auto)):
                    if ours is None:
                        cells.append("-")
                        speed.append("-")
                    elif ref is None:
                        cells.append(fmt_time(None, args.ref_timeout))
                        speed.append(f"> {args.ref_timeout / ours:.0f}x")
                    else:
                        cells.append(f"{fmt_time(ref['first'])} / {fmt_time(ref['warm'])}")
                        best_ref = ref["warm"] if ref["warm"] is not None else ref["first"]
                        speed.append(f"{best_ref / ours:.0f}x")
                dx = "-"
                if ref_fix is not None:
                    ours_xy = np.stack(
                        [res_fix.frame.xs(c, axis=1, level=2).to_numpy() for c in "xy"], -1
                    )
                    dx = f"{np.abs(ours_xy - ref_fix['coords']).max():.1e} px"
                row += [*cells, " / ".join(speed), dx]
            else:
                row += ["-", "-", "-", "-"]
            print("| " + " | ".join(row) + " |", flush=True)
    print(
        "\nspeed-up = reference warm time (first-call time when no warm run) / ours; "
        "peak MB = numpy allocations traced during one run of ours."
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
