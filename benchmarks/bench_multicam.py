"""Multi-camera EKS against the reference ``ensemble-kalman-smoother`` 4.6.2 ``fit_eks_multicam``.

Both sides run end to end, CSV in to CSV out, each in a fresh process with one thread: ours as
``napari-lightning-pose smooth --cameras ... --out-dir DIR`` (plus ``--calibration``), the
reference as ``fit_eks_multicam(input_source=DIR, camera_names=...)`` (or
``calibration=...``) in its own environment (``--ref-python``; its jax is not our dependency).

Two sessions:

- **linear** (2-D, no calibration): the five-member mirror-mouse ensemble
  (``../shared/data/eks-example``, 2000 frames) split into two cameras by the ``_top`` /
  ``_bot`` keypoint suffix, tiled by reflection to longer lengths. Agreement: the largest
  difference in smoothed x, y between ours and the reference at a fixed smoothing value, and
  the smoothing values each chooses with ``auto``.
- **calibrated** (3-D): a synthetic ring of three cameras with lens distortion
  (``calibration.toml`` written in Anipose's format), 3-D random walks of four keypoints
  projected into each camera, five members with Gaussian pixel noise. Agreement: the RMSE of
  the smoothed 3-D points against the known truth, ours, the reference, and plain
  triangulation of the ensemble medians.

"CPU" is user + system time of the process: the fair number on a shared machine. Run from the
repository root (``nice`` it on a shared machine)::

    python benchmarks/bench_multicam.py --sizes 2000 --seeds 0 1 2     # agreement
    python benchmarks/bench_multicam.py --sizes 100000                 # speed
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
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_eks import fmt_time, load_example, tile

REF_SCRIPT = r"""
import json, sys
from eks.multicam_smoother import fit_eks_multicam
inp, out, s, kind = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
s = None if s == "auto" else float(s)
if kind == "linear":
    res = fit_eks_multicam(inp, out, camera_names=sys.argv[5:], smooth_param=s)
else:
    res = fit_eks_multicam(inp, out, calibration=kind, smooth_param=s)
print(json.dumps({"s": [float(v) for v in res[1]]}))
"""
CAMERAS_2D = ["top", "bot"]
CAMERAS_3D = ["left", "right", "back"]
N_KEYPOINTS_3D = 4
NOISE_PX = 2.0


def run_timed(cmd: list[str], timeout: float) -> tuple[float, float, str] | None:
    """Wall time, CPU time (user + system) and stdout of a command in a fresh process.

    One thread (numba, OpenMP, XLA); None when it ran past ``timeout``.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, check=True, capture_output=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"{cmd[:3]} failed:\n{err.stderr.decode()[-3000:]}") from err
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout.decode()


def fmt_run(run: tuple | None, timeout: float) -> str:
    """``wall / CPU`` of a :func:`run_timed` result."""
    if run is None:
        return fmt_time(None, timeout)
    return f"{fmt_time(run[0])} / {fmt_time(run[1])}"


def ours_s(stdout: str) -> str:
    """The smoothing values our command printed (``  name: s = value``), as a range."""
    values = [float(line.split("=")[1]) for line in stdout.splitlines() if ": s = " in line]
    return f"{min(values):.3g}-{max(values):.3g}"


def ref_s(stdout: str) -> str:
    values = json.loads(stdout.strip().splitlines()[-1])["s"]
    return f"{min(values):.3g}-{max(values):.3g}"


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, header=[0, 1, 2], index_col=0)


def xy_of(frame: pd.DataFrame, coords: str = "xy") -> np.ndarray:
    """(T, K, len(coords)) of a pose table."""
    return np.stack([frame.xs(c, axis=1, level=2).to_numpy() for c in coords], axis=-1)


def write_camera_members(folder: Path, per_camera: dict[str, tuple]) -> list[Path]:
    """``model<m>_<camera>.csv`` per member and camera from (xy, likelihood, names)."""
    from napari_lightning_pose.io.pose_csv import make_pose_frame, write_pose_csv

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for cam, (xy, lik, names) in per_camera.items():
        for m in range(xy.shape[0]):
            values = np.concatenate([xy[m], lik[m][..., None]], axis=-1)
            frame = make_pose_frame(values, names, coords=["x", "y", "likelihood"])
            paths.append(write_pose_csv(frame, folder / f"model{m}_{cam}.csv"))
    return paths


def linear_session(folder: Path, n_frames: int) -> list[Path]:
    """The mirror-mouse ensemble as two cameras, tiled to ``n_frames``."""
    xy, lik, names = load_example()
    xy, lik = tile(xy, n_frames), tile(lik, n_frames)
    per_camera = {}
    for cam in CAMERAS_2D:
        idx = [k for k, n in enumerate(names) if n.endswith(f"_{cam}")]
        base = [names[k].removesuffix(f"_{cam}") for k in idx]
        per_camera[cam] = (xy[:, :, idx], lik[:, :, idx], base)
    return write_camera_members(folder, per_camera)


def calibrated_session(folder: Path, n_frames: int, seed: int = 0) -> tuple[Path, np.ndarray]:
    """Synthetic three-camera session: members written, returns calibration and 3-D truth."""
    from napari_lightning_pose.ensemble.projection import project
    from napari_lightning_pose.ensemble.synthetic_rig import random_walk_3d, ring_rig
    from napari_lightning_pose.io.calibration import save_calibration

    cams = ring_rig(CAMERAS_3D)
    truth = random_walk_3d(n_frames, N_KEYPOINTS_3D, step_sd=0.5, seed=seed)
    rng = np.random.default_rng(seed + 100)
    names = [f"kp{k}" for k in range(N_KEYPOINTS_3D)]
    per_camera = {}
    for cam in cams:
        px = project(cam, truth)
        members = px[None] + rng.normal(0.0, NOISE_PX, (5, *px.shape))
        per_camera[cam.name] = (members, np.full(members.shape[:-1], 0.9), names)
    write_camera_members(folder / "members", per_camera)
    return save_calibration(cams, folder / "calibration.toml"), truth


def run_ours(members: Path, out: Path, s: str, calibration: Path | None, timeout: float):
    cams = CAMERAS_2D if calibration is None else CAMERAS_3D
    cmd = [sys.executable, "-m", "napari_lightning_pose.cli", "smooth", "--cameras", *cams]
    cmd += ["--out-dir", str(out), "--smoothing", s, "--no-poses"]
    if calibration is not None:
        cmd += ["--calibration", str(calibration)]
    return run_timed([*cmd, *map(str, sorted(members.glob("*.csv")))], timeout)


def run_reference(
    python: str, members: Path, out: Path, s: str, calibration: Path | None, timeout: float
):
    kind = "linear" if calibration is None else str(calibration)
    cmd = [python, "-c", REF_SCRIPT, str(members), str(out), s, kind, *CAMERAS_2D]
    return run_timed(cmd, timeout)


def compare_linear(ours: Path, ref: Path) -> float:
    """Largest |x, y| difference (px) between our and the reference's per-camera tables."""
    worst = 0.0
    for cam in CAMERAS_2D:
        a = xy_of(read(ours / f"{cam}.eks.csv"))
        b = xy_of(read(ref / f"multicam_{cam}_results.csv"))
        worst = max(worst, float(np.abs(a - b).max()))
    return worst


def rmse_3d(table: Path, truth: np.ndarray) -> float:
    return float(np.sqrt(((xy_of(read(table), "xyz") - truth) ** 2).mean()))


def triangulated_rmse(out: Path, calibration: Path, truth: np.ndarray) -> float:
    """RMSE of triangulating the cameras' ensemble medians (what smoothing should beat)."""
    from napari_lightning_pose.ensemble.projection import triangulate
    from napari_lightning_pose.io.calibration import load_calibration

    cams = load_calibration(calibration, CAMERAS_3D)
    med = np.stack(
        [xy_of(read(out / f"{c}.eks.csv"), ["x_ens_median", "y_ens_median"]) for c in CAMERAS_3D]
    )
    return float(np.sqrt(((triangulate(cams, med) - truth) ** 2).mean()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 100000])
    p.add_argument("--modes", nargs="+", default=["fixed", "auto"], choices=["fixed", "auto"])
    p.add_argument(
        "--sessions", nargs="+", default=["linear", "calibrated"], choices=["linear", "calibrated"]
    )
    p.add_argument("--s-linear", default="10", help="fixed smoothing value, linear session")
    p.add_argument("--s-3d", default="1", help="fixed smoothing value, calibrated session")
    p.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="synthetic sessions (calibrated)"
    )
    p.add_argument("--ref-python", default="/tmp/eksref/bin/python")
    p.add_argument("--ref-timeout", type=float, default=900.0)
    args = p.parse_args()

    load = os.getloadavg()
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at start"
    )
    print(
        "| session | frames | s | ours: wall / CPU | reference: wall / CPU | speed-up (CPU) "
        "| agreement |"
    )
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        runs = [("linear", n, None) for n in args.sizes if "linear" in args.sessions]
        if "calibrated" in args.sessions:
            runs += [("calibrated", n, seed) for n in args.sizes for seed in args.seeds]
        for session, n, seed in runs:
            base = tmp / f"{session}{n}_{seed}"
            if session == "linear":
                linear_session(base / "members", n)
                calibration, truth = None, None
            else:
                calibration, truth = calibrated_session(base, n, seed)
            for mode in args.modes:
                fixed = args.s_linear if session == "linear" else args.s_3d
                s = "auto" if mode == "auto" else fixed
                ours, ref = base / f"ours_{mode}", base / f"ref_{mode}"
                t_ours = run_ours(base / "members", ours, s, calibration, args.ref_timeout)
                t_ref = run_reference(
                    args.ref_python, base / "members", ref, s, calibration, args.ref_timeout
                )
                speed = "-"
                if t_ref is not None and t_ours is not None:
                    speed = f"{t_ref[1] / t_ours[1]:.0f}x"
                if t_ref is None:
                    agreement = "reference timed out"
                elif session == "linear":
                    agreement = f"max abs(dx) {compare_linear(ours, ref):.2g} px"
                else:
                    agreement = (
                        f"seed {seed}: 3-D RMSE ours {rmse_3d(ours / '3d.eks.csv', truth):.4f}, "
                        f"reference {rmse_3d(ref / 'multicam_3d_results.csv', truth):.4f}, "
                        "triangulated medians "
                        f"{triangulated_rmse(ours, calibration, truth):.4f}"
                    )
                if mode == "auto" and t_ref is not None and t_ours is not None:
                    agreement += f"; s ours {ours_s(t_ours[2])}, reference {ref_s(t_ref[2])}"
                print(
                    f"| {session} | {n} | {s} | {fmt_run(t_ours, args.ref_timeout)} | "
                    f"{fmt_run(t_ref, args.ref_timeout)} | {speed} | {agreement} |",
                    flush=True,
                )
    load = os.getloadavg()
    print(f"# load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end")


if __name__ == "__main__":
    main()
