"""``outliers`` on files: prints and writes the planted frames first."""

from __future__ import annotations

import pandas as pd

from napari_lightning_pose.cli import main
from napari_lightning_pose.ensemble import smooth_ensemble, write_smoothed_csv
from napari_lightning_pose.io.pose_csv import write_pose_csv


def test_outliers_cli_prints_and_writes(tmp_path, capsys, planted):
    members = [write_pose_csv(m, tmp_path / f"m{i}.csv") for i, m in enumerate(planted.members)]
    smoothed = write_smoothed_csv(smooth_ensemble(members, smoothing=1.0), tmp_path / "s.csv")
    out = tmp_path / "ranked.csv"
    argv = ["outliers", str(smoothed), "--members", *map(str, members), "--top", "4"]
    assert main([*argv, "--min-gap", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "posterior_sd" in printed and "temporal_norm" in printed
    table = pd.read_csv(out)
    assert list(table.columns[:3]) == ["frame", "keypoint", "combined"]
    assert set(table["frame"]) == set(planted.jumps + planted.disagree)


def test_outliers_cli_one_member_says_so(tmp_path, capsys, planted):
    member = write_pose_csv(planted.members[0], tmp_path / "m0.csv")
    smoothed = write_smoothed_csv(smooth_ensemble([member], smoothing=1.0), tmp_path / "s.csv")
    assert main(["outliers", str(smoothed), "--members", str(member), "--top", "2"]) == 0
    printed = capsys.readouterr().out
    assert "one member: no ensemble SD" in printed
    assert "ensemble_sd" not in printed.split("\n", 2)[-1]


def test_outliers_cli_bad_file(tmp_path, capsys):
    assert main(["outliers", str(tmp_path / "missing.csv")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_outliers_cli_is_diverse_by_default_and_writes_the_parts(tmp_path, planted):
    import numpy as np

    from napari_lightning_pose.qc.defaults import DEFAULT_MIN_GAP

    members = [write_pose_csv(m, tmp_path / f"m{i}.csv") for i, m in enumerate(planted.members)]
    smoothed = write_smoothed_csv(smooth_ensemble(members, smoothing=1.0), tmp_path / "s.csv")
    out = tmp_path / "ranked.csv"
    argv = ["outliers", str(smoothed), "--members", *map(str, members), "--top", "12"]
    assert main([*argv, "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert np.diff(np.sort(table["frame"].to_numpy())).min() >= DEFAULT_MIN_GAP
    assert table["keypoint"].value_counts().max() <= 6  # 4 keypoints: twice the fair share
    assert {"ensemble_sd_part", "temporal_norm_part"} <= set(table.columns)
    assert main([*argv, "--min-gap", "0", "--max-share", "1", "--out", str(out)]) == 0
    assert np.diff(np.sort(pd.read_csv(out)["frame"].to_numpy())).min() < DEFAULT_MIN_GAP
