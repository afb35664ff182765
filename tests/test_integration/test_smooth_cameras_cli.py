"""`smooth --cameras`: one ensemble per camera in, one smoothed table per camera out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_lightning_pose.cli import main
from napari_lightning_pose.ensemble import EKS_COORDS
from napari_lightning_pose.ensemble.projection import project, triangulate
from napari_lightning_pose.ensemble.synthetic_rig import random_walk_3d, ring_rig
from napari_lightning_pose.io.calibration import save_calibration
from napari_lightning_pose.io.pose_csv import make_pose_frame

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "eks"
MEMBERS = sorted((FIXTURE / "members").glob("*.csv.gz"))
PAWS = ["paw1LH", "paw2LF", "paw3RF", "paw4RH"]


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, header=[0, 1, 2], index_col=0)


def split_members(folder: Path) -> list[Path]:
    """The mirror-mouse fixture as two cameras: m<i>_top.csv and m<i>_bot.csv, paws renamed."""
    folder.mkdir(exist_ok=True)
    paths = []
    for i, member in enumerate(MEMBERS):
        df = read(member)
        for cam in ("top", "bot"):
            part = df.loc[:, df.columns.get_level_values(1).str.endswith(f"_{cam}")]
            part.columns = part.columns.set_levels(
                [n.removesuffix(f"_{cam}") for n in part.columns.levels[1]], level=1
            )
            paths.append(folder / f"m{i}_{cam}.csv")
            part.to_csv(paths[-1])
    return paths


@pytest.fixture(scope="module")
def camera_members(tmp_path_factory) -> list[Path]:
    return split_members(tmp_path_factory.mktemp("cams"))


def test_two_cameras_match_the_reference_linear_multicam(camera_members, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["smooth", *map(str, camera_members), "--cameras", "top", "bot"]
    assert main([*args, "--out-dir", str(out), "--smoothing", "10"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "bot.eks.csv",
        "bot.eks.poses.csv",
        "top.eks.csv",
        "top.eks.poses.csv",
    ]
    # the reference's multicam smoother on the same two views (its mirrored entry point)
    ref = read(FIXTURE / "reference_multiview_s10.csv.gz")
    for cam in ("top", "bot"):
        ours = read(out / f"{cam}.eks.csv")
        assert list(dict.fromkeys(ours.columns.get_level_values(1))) == PAWS
        assert tuple(dict.fromkeys(ours.columns.get_level_values(2))) == EKS_COORDS
        for paw in PAWS:
            for c in ("x", "y"):
                diff = ours[ours.columns[0][0], paw, c] - ref[ref.columns[0][0], f"{paw}_{cam}", c]
                assert np.abs(diff.to_numpy()).max() < 0.05  # the agreement goal
        assert (ours.xs("x_posterior_var", axis=1, level=2).to_numpy() > 0).all()
    printed = capsys.readouterr().out
    assert "2 cameras (top: 5, bot: 5; linear)" in printed and "paw1LH: s = 10" in printed


def test_keypoint_order_may_differ_between_cameras(camera_members, tmp_path):
    shuffled = tmp_path / "in"
    shuffled.mkdir()
    paths = []
    for p in camera_members:
        df = read(p)
        if "_bot" in p.name:
            df = df[[c for paw in PAWS[::-1] for c in df.columns if c[1] == paw]]
        paths.append(shuffled / p.name)
        df.to_csv(paths[-1])
    a, b = tmp_path / "a", tmp_path / "b"
    base = ["smooth", "--cameras", "top", "bot", "--smoothing", "10", "--no-poses"]
    assert main([*base, *map(str, camera_members), "--out-dir", str(a)]) == 0
    assert main([*base, *map(str, paths), "--out-dir", str(b)]) == 0
    pd.testing.assert_frame_equal(read(a / "bot.eks.csv"), read(b / "bot.eks.csv"))


def _fails(args: list[str], out: Path, capsys) -> str:
    assert main(args) == 2
    assert not out.exists()  # nothing written
    return capsys.readouterr().err


def test_bad_camera_input_fails_cleanly_and_writes_nothing(camera_members, tmp_path, capsys):
    out = tmp_path / "out"

    def cli(cams: list[str], members: list) -> list[str]:  # as the issue writes the command
        return ["smooth", "--cameras", *cams, "--out-dir", str(out), *map(str, members)]

    top = [str(p) for p in camera_members if "_top" in p.name]
    # a camera with no members
    err = _fails(cli(["top", "side"], top), out, capsys)
    assert "side" in err and "no member CSV" in err
    # a member whose name names no camera
    stray = tmp_path / "model0.csv"
    stray.write_bytes(camera_members[0].read_bytes())
    err = _fails(cli(["top", "bot"], [*camera_members, stray]), out, capsys)
    assert "model0.csv" in err and "names no camera" in err
    # a member whose name names several cameras
    both = tmp_path / "top_bot.csv"
    both.write_bytes(camera_members[0].read_bytes())
    err = _fails(cli(["top", "bot"], [*camera_members, both]), out, capsys)
    assert "top_bot.csv" in err and "several cameras" in err
    # different frame counts
    short = []
    for p in camera_members:
        if "_bot" in p.name:
            q = tmp_path / f"short_{p.name}"
            read(p).iloc[:600].to_csv(q)
            p = q
        short.append(str(p))
    err = _fails(cli(["top", "bot"], short), out, capsys)
    assert "short_m0_bot.csv" in err and "600 frames" in err and "1000" in err
    # different keypoints
    other = []
    for p in camera_members:
        if "_bot" in p.name:
            df = read(p)
            df.columns = df.columns.set_levels(
                [n.replace("paw4RH", "tail") for n in df.columns.levels[1]], level=1
            )
            q = tmp_path / f"other_{p.name}"
            df.to_csv(q)
            p = q
        other.append(str(p))
    err = _fails(cli(["top", "bot"], other), out, capsys)
    assert "other_m0_bot.csv" in err and "paw4RH" in err and "tail" in err
    # one camera only, and options that belong to one video
    assert "at least two cameras" in _fails(cli(["top"], top), out, capsys)
    err = _fails([*cli(["top", "bot"], camera_members), "--multiview"], out, capsys)
    assert "--multiview" in err


def test_out_or_out_dir_is_required(camera_members, tmp_path, capsys):
    assert main(["smooth", str(camera_members[0])]) == 2
    assert "--out" in capsys.readouterr().err
    args = ["smooth", *map(str, camera_members), "--cameras", "top", "bot"]
    assert main(args) == 2
    assert "--out-dir" in capsys.readouterr().err


def _calibrated_session(folder: Path, n_frames: int = 400):
    """Synthetic 3-camera session: member CSVs, calibration.toml and the 3-D truth."""
    folder.mkdir(exist_ok=True)
    cams = ring_rig(["left", "right", "back"])
    truth = random_walk_3d(n_frames, 2, step_sd=0.3)
    rng = np.random.default_rng(5)
    members = []
    for cam in cams:
        px = project(cam, truth)
        for m in range(3):
            values = np.concatenate(
                [px + rng.normal(0, 1.5, px.shape), np.full((*px.shape[:2], 1), 0.9)], axis=-1
            )
            members.append(folder / f"seed{m}_{cam.name}.csv")
            make_pose_frame(values, ["nose", "tail"], ("x", "y", "likelihood")).to_csv(members[-1])
    return members, save_calibration(cams, folder / "calibration.toml"), truth, cams


def test_calibrated_cameras_write_3d_within_the_noise(tmp_path, capsys):
    members, calibration, truth, cams = _calibrated_session(tmp_path / "in")
    out = tmp_path / "out"
    args = ["smooth", "--cameras", "back", "left", "right", "--calibration", str(calibration)]
    assert main([*args, "--out-dir", str(out), *map(str, members)]) == 0
    assert "3-D, calibrated" in capsys.readouterr().out
    table = read(out / "3d.eks.csv")
    assert list(dict.fromkeys(table.columns.get_level_values(1))) == ["nose", "tail"]
    assert tuple(dict.fromkeys(table.columns.get_level_values(2))) == (
        "x",
        "y",
        "z",
        "x_posterior_var",
        "y_posterior_var",
        "z_posterior_var",
    )
    xyz = np.stack([table.xs(c, axis=1, level=2).to_numpy() for c in "xyz"], axis=-1)
    var = np.stack([table.xs(f"{c}_posterior_var", axis=1, level=2).to_numpy() for c in "xyz"], -1)
    # closer to the truth than triangulating the cameras' ensemble medians
    medians = np.stack(
        [
            np.stack(
                [
                    read(out / f"{c.name}.eks.csv").xs(f"{a}_ens_median", axis=1, level=2)
                    for a in "xy"
                ],
                axis=-1,
            )
            for c in cams
        ]
    )
    rmse = np.sqrt(((xyz - truth) ** 2).mean())
    assert rmse < 0.8 * np.sqrt(((triangulate(cams, medians) - truth) ** 2).mean())
    # and within the noise it reports (3 members estimate the noise roughly: a loose bound)
    assert 0.5 < ((xyz - truth) / np.sqrt(var)).std() < 2.5
    for cam in cams:
        frame = read(out / f"{cam.name}.eks.csv")
        assert tuple(dict.fromkeys(frame.columns.get_level_values(2))) == EKS_COORDS
    assert (out / "left.eks.poses.csv").exists()


def test_calibration_must_match_the_cameras(tmp_path, capsys):
    members, calibration, _, _ = _calibrated_session(tmp_path / "in", n_frames=50)
    out = tmp_path / "out"
    args = ["smooth", "--cameras", "left", "right", "side", "--calibration", str(calibration)]
    side = tmp_path / "in" / "seed0_side.csv"
    side.write_bytes(members[0].read_bytes())
    assert main([*args, "--out-dir", str(out), *map(str, members[:6]), str(side)]) == 2
    err = capsys.readouterr().err
    assert "calibration.toml" in err and "'back'" in err and "'side'" in err
    assert not out.exists()
    one = tmp_path / "one.toml"
    text = calibration.read_text()
    one.write_text(text[: text.index("[cam_1]")])
    args = ["smooth", "--cameras", "left", "right", "--calibration", str(one)]
    assert main([*args, "--out-dir", str(out), *map(str, members[:6])]) == 2
    assert "at least two" in capsys.readouterr().err
    assert not out.exists()
    assert main(["smooth", str(members[0]), "--out", str(out), "--calibration", str(one)]) == 2
    assert "--cameras" in capsys.readouterr().err
