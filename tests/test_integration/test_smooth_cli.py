"""`napari-lightning-pose smooth`: prediction CSVs in, reference-compatible smoothed CSV out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_lightning_pose.cli import main
from napari_lightning_pose.io.config import default_config, save_config

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "eks"
MEMBERS = sorted((FIXTURE / "members").glob("*.csv.gz"))
NAMES = [f"paw{p}_{v}" for v in ("top", "bot") for p in ("1LH", "2LF", "3RF", "4RH")]


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, header=[0, 1, 2], index_col=0)


def xy(frame: pd.DataFrame) -> np.ndarray:
    return frame.loc[:, frame.columns.get_level_values("coords").isin(["x", "y"])].to_numpy()


def test_smooth_fixed_matches_the_reference(tmp_path, capsys):
    out = tmp_path / "smoothed.csv"
    rc = main(["smooth", *map(str, MEMBERS), "--out", str(out), "--smoothing", "10"])
    assert rc == 0
    ref = read(FIXTURE / "reference_singleview_s10.csv.gz")
    ours = read(out)
    assert ours.columns.equals(ref.columns)
    assert np.abs(xy(ours) - xy(ref)).max() < 2e-5  # as the README claims, through the CSVs
    printed = capsys.readouterr().out
    assert "paw1LH_top: s = 10" in printed and "most uncertain frames" in printed


def test_smooth_writes_a_movement_loadable_poses_file_by_default(tmp_path):
    out = tmp_path / "smoothed.csv"
    assert main(["smooth", *map(str, MEMBERS), "--out", str(out), "--smoothing", "10"]) == 0
    poses = tmp_path / "smoothed.poses.csv"
    table = read(poses)
    assert set(table.columns.get_level_values("coords")) == {"x", "y", "likelihood"}
    assert list(table.index) == list(read(out).index)
    movement_io = pytest.importorskip("movement.io")
    ds = movement_io.load_dataset(poses, source_software="LightningPose")
    assert list(ds.keypoints.values) == NAMES
    for c in ("x", "y"):
        np.testing.assert_allclose(
            ds.position.sel(space=c).values[..., 0], read(out).xs(c, axis=1, level=2).to_numpy()
        )


def test_no_poses_writes_only_the_smoothed_table(tmp_path):
    out = tmp_path / "smoothed.csv"
    args = ["smooth", *map(str, MEMBERS[:2]), "--out", str(out), "--smoothing", "10"]
    assert main([*args, "--no-poses"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smoothed.csv"]
    with pytest.raises(SystemExit):  # one or the other
        main([*args, "--no-poses", "--poses-out", str(tmp_path / "p.csv")])


def test_smooth_multiview_from_config(tmp_path):
    cfg = default_config()
    cfg["data"]["keypoint_names"] = NAMES
    cfg["data"]["mirrored_column_matches"] = [[0, 1, 2, 3], [4, 5, 6, 7]]
    config = save_config(cfg, tmp_path / "config.yaml")
    out, poses = tmp_path / "mv.csv", tmp_path / "poses.csv"
    args = ["smooth", *map(str, MEMBERS), "--out", str(out), "--smoothing", "10"]
    rc = main([*args, "--multiview", "--config", str(config), "--poses-out", str(poses)])
    assert rc == 0
    ref = read(FIXTURE / "reference_multiview_s10.csv.gz")
    assert np.abs(xy(read(out)) - xy(ref)).max() < 5e-4  # as the README claims
    # the same with explicit --views (names), and the poses-only file loads in movement
    out2 = tmp_path / "mv2.csv"
    views = [",".join(NAMES[:4]), ",".join(NAMES[4:])]
    assert (
        main(
            [
                "smooth",
                *map(str, MEMBERS),
                "--out",
                str(out2),
                "--smoothing",
                "10",
                "--views",
                *views,
            ]
        )
        == 0
    )
    pd.testing.assert_frame_equal(read(out2), read(out))
    assert not (tmp_path / "mv.poses.csv").exists()  # --poses-out put it elsewhere
    movement_io = pytest.importorskip("movement.io")
    ds = movement_io.load_dataset(poses, source_software="LightningPose")
    np.testing.assert_allclose(
        ds.position.sel(space="x").values[..., 0], read(out).xs("x", axis=1, level=2).to_numpy()
    )


def test_members_of_different_videos_fail_cleanly(tmp_path, capsys):
    short = tmp_path / "short.csv"
    read(MEMBERS[1]).iloc[:500].to_csv(short)
    out = tmp_path / "never.csv"
    rc = main(["smooth", str(MEMBERS[0]), str(short), "--out", str(out)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "short.csv" in err and "500 frames" in err
    assert not out.exists()


def test_multiview_needs_views(tmp_path, capsys):
    rc = main(["smooth", *map(str, MEMBERS[:2]), "--out", str(tmp_path / "o.csv"), "--multiview"])
    assert rc == 2
    assert "--config" in capsys.readouterr().err
    cfg = tmp_path / "config.yaml"
    save_config(default_config(), cfg)
    rc = main(
        [
            "smooth",
            str(MEMBERS[0]),
            "--out",
            str(tmp_path / "o.csv"),
            "--multiview",
            "--config",
            str(cfg),
        ]
    )
    assert rc == 2
    assert "mirrored_column_matches" in capsys.readouterr().err


def test_bad_smoothing_value_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["smooth", str(MEMBERS[0]), "--out", str(tmp_path / "o.csv"), "--smoothing", "-3"])
    assert exc.value.code == 2


def test_a_single_member_is_smoothed_by_its_confidence(tmp_path):
    """One file is allowed (documented): observation variance 1 / likelihood."""
    out = tmp_path / "one.csv"
    assert main(["smooth", str(MEMBERS[0]), "--out", str(out), "--smoothing", "10"]) == 0
    result = read(out)
    lik = result.xs("likelihood", axis=1, level=2).to_numpy()
    ens_var = result.xs("x_ens_var", axis=1, level=2).to_numpy()
    np.testing.assert_allclose(ens_var, 1.0 / lik)
    assert np.isfinite(xy(result)).all()


def test_smooth_loads_no_deep_learning_or_gui_packages(tmp_path):
    """`smooth` starts fast on a cluster node: no torch, napari, Qt, sklearn or OpenCV."""
    heavy = ["torch", "torchvision", "napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6"]
    heavy += ["sklearn", "cv2", "matplotlib", "skimage", "av", "imageio", "jax"]
    code = (
        "import json, sys\n"
        "from napari_lightning_pose.cli import main\n"
        "rc = main(json.loads(sys.argv[1]))\n"
        "print(json.dumps([rc, sorted({m.split('.')[0] for m in sys.modules})]))\n"
    )
    args = [
        "smooth",
        *map(str, MEMBERS[:2]),
        "--out",
        str(tmp_path / "s.csv"),
        "--smoothing",
        "10",
    ]
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    rc, loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rc == 0 and (tmp_path / "s.csv").exists()
    assert not set(heavy) & set(loaded), sorted(set(heavy) & set(loaded))
